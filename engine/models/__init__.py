"""Energy networks, the JEM classifier-as-energy, and their presets."""

from .energy_net import EnergyNet
from .jem import JEM, ClassConditional, JEMLoss
from .presets import PRESETS

__all__ = ["EnergyNet", "JEM", "ClassConditional", "JEMLoss", "PRESETS"]
