"""MCMC samplers that draw negatives from the model.

Every sampler has ``run(energy, x0, rng, n_steps=None, record=None,
fixed_mask=None, fixed_values=None) -> SampleResult``:

* :class:`LangevinSampler`: (unadjusted) Langevin dynamics, textbook or practical form;
* :class:`MALASampler`: Metropolis-adjusted Langevin, exact MH test;
* :class:`HMCSampler`: Hamiltonian Monte Carlo (leapfrog + MH on the Hamiltonian);

and :class:`ReplayBuffer` keeps persistent chains between training iterations.
"""

from .base import Record, SampleResult
from .buffer import ReplayBuffer
from .hmc import HMCSampler, hamiltonian, leapfrog
from .langevin import LangevinSampler, langevin_update_
from .mala import MALASampler, mala_log_accept, mala_step

__all__ = [
    "HMCSampler", "LangevinSampler", "MALASampler", "Record", "ReplayBuffer", "SampleResult",
    "hamiltonian", "langevin_update_", "leapfrog", "mala_log_accept", "mala_step",
]
