"""Experiments made of many runs: learning curves over data size, hyperparameter search,
the fixed benchmark suite. Each run goes through :func:`.trial.train_and_evaluate`."""
