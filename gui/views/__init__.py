"""The views: widgets that draw a Session (napari style: each takes it in __init__, follows its
signals, keeps no experiment state of its own, and redraws at most ~25 times a second)."""

from .chain_view import ChainView
from .curves_view import CurvesView, ema_debiased
from .data_preview import DataPreview
from .figure_export import export_png, export_svg
from .landscape_view import LandscapeView
from .log_view import LogView
from .samples_view import SamplesView
from .throttle import Throttle

__all__ = ["ChainView", "CurvesView", "DataPreview", "LandscapeView", "LogView", "SamplesView", "Throttle",
           "ema_debiased", "export_png", "export_svg"]
