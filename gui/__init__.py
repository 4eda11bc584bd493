import engine  # noqa: F401 - first: it sets up OpenBLAS's environment before NumPy loads it
