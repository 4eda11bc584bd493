"""Datasets: 2D toy densities, image loaders, the built-in image set."""
