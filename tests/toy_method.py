"""A toy stage-2 method with a parameter, as a user would add one: one file and one registry line."""
from dataclasses import dataclass

import numpy as np

from ltr_hyperdpo.config import Validated, opt
from ltr_hyperdpo.methods.members import MultiRun


@dataclass(frozen=True, kw_only=True)
class CentreParams(Validated):
    """The toy method's own parameter, validated like every config value."""

    main_share: float | None = opt(None, gt=0.0, lt=1.0, doc="the main objective's weight (default: 1/K)")


class CentreOnly(MultiRun):
    """One plain model trained at w = (s, (1 - s)/(K - 1), ...) with s = ``main_share`` (the simplex centre by
    default); every query weight gets it."""

    name = "centre_only"
    label = "centre only (toy)"
    Params = CentreParams

    def training_weights(self, n_objectives: int, params: CentreParams) -> np.ndarray:
        if params.main_share is None or n_objectives == 1:
            return np.full((1, n_objectives), 1.0 / n_objectives)
        rest = (1.0 - params.main_share) / (n_objectives - 1)
        return np.array([[params.main_share] + [rest] * (n_objectives - 1)])
