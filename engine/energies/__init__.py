"""Energies: the protocol, analytic 2D energies, and their composition."""

from .analytic import (ANALYTIC_ENERGIES, AnalyticEnergy, Banana, DoubleWell, GaussianMixture, Ring,
                       energy_from_spec)
from .base import Energy
from .composite import WeightedSum

__all__ = ["Energy", "AnalyticEnergy", "ANALYTIC_ENERGIES", "GaussianMixture", "DoubleWell", "Ring", "Banana",
           "energy_from_spec", "WeightedSum"]
