"""EBM Studio engine: all numerics, no Qt.

Import what you need from the submodules (``engine.backend``,
``engine.models``, ``engine.training``); this package itself imports nothing
heavy so that ``import engine`` stays cheap and Qt-free.
"""

__version__ = "0.1.0"
