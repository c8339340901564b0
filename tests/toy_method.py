"""A toy stage-2 method, as a user would add one: a single fixed-w PL-DPO model at the simplex centre."""
import numpy as np

from ltr_hyperdpo.methods.base import FitContext
from ltr_hyperdpo.methods.members import MultiRun


class CentreOnly(MultiRun):
    """One plain model trained at w = (1/K, ..., 1/K); every query weight gets it."""

    name = "centre_only"
    label = "centre only (toy)"

    def training_weights(self, ctx: FitContext) -> np.ndarray:
        return np.full((1, ctx.n_objectives), 1.0 / ctx.n_objectives)
