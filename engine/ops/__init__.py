"""Stateless forward/backward pairs. Layers (``engine.layers``) own the parameters."""
