"""What every energy offers the samplers, the trainer and the GUI.

An energy maps a batch x: (N, *input_shape) to E(x): (N,) and gives the
input gradient dE/dx for Langevin/MALA/HMC. Neural energies (EnergyNet, JEM)
and analytic 2D energies all satisfy this protocol; samplers depend on
nothing else.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Energy(Protocol):
    input_shape: tuple[int, ...]  # per sample: (2,) for 2D, (C, H, W) for images

    def energy(self, x: Any) -> Any:
        """E(x): (N,)."""
        ...

    def energy_and_grad(self, x: Any) -> tuple[Any, Any]:
        """(E(x): (N,), dE/dx: x.shape); no parameter gradients."""
        ...
