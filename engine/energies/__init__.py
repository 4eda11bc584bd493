"""Energies: the protocol, analytic 2D energies, and their composition."""

from .base import Energy

__all__ = ["Energy"]
