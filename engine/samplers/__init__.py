"""MCMC samplers that draw negatives from the model."""
