"""Energy networks and their presets."""

from .energy_net import EnergyNet
from .presets import PRESETS

__all__ = ["EnergyNet", "PRESETS"]
