"""Single-objective listwise/pairwise LTR losses, ``(scores, labels, mask) -> [batch]`` (allRank has none we can
install on Python 3.11, so these are our own). Any of them can train the reference (stage-1) model."""
from __future__ import annotations

from functools import partial

from .approxndcg import approx_ndcg_loss
from .lambdaloss import lambdaloss
from .listmle import listmle_loss
from .listnet import listnet_loss
from .neuralndcg import neural_ndcg_loss
from .ranknet import ranknet_loss

LOSSES = {
    "listnet": listnet_loss,
    "listmle": listmle_loss,
    "pl": listmle_loss,
    "ranknet": ranknet_loss,
    "lambdaloss_ndcg2pp": partial(lambdaloss, scheme="ndcg2pp"),
    "lambdaloss_lambdarank": partial(lambdaloss, scheme="lambdarank"),
    "approxndcg": approx_ndcg_loss,
    "neuralndcg": neural_ndcg_loss,
}


def get_loss(name: str):
    """The loss function registered under ``name``."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; available: {', '.join(LOSSES)}")
    return LOSSES[name]


__all__ = ["LOSSES", "get_loss", "listnet_loss", "listmle_loss", "ranknet_loss", "lambdaloss", "approx_ndcg_loss",
           "neural_ndcg_loss"]
