"""Single-objective listwise/pairwise LTR losses, one per file, each ``(scores, labels, mask=None, **options) ->
[batch]`` (per-list values; the caller reduces). Any of them trains the reference (stage-1) model.

:func:`get_loss` returns a callable with the uniform stage signature ``(scores, labels, mask, generator) -> [batch]``
(the generator reaches only the losses that break label ties at random).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol

import torch

from .aliases import ALLRANK_NAMES, resolve_loss
from .approxndcg import approx_ndcg_loss
from .lambdaloss import lambda_loss
from .listmle import listmle_loss
from .listnet import listnet_loss
from .neuralndcg import neural_ndcg_loss
from .ranknet import ranknet_loss


class RankingLoss(Protocol):
    """A single-objective loss: scores and labels ``[batch, list]``, mask True = real item; returns ``[batch]``."""

    def __call__(self, scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None,
                 **options: Any) -> torch.Tensor: ...


LOSSES: dict[str, Callable[..., torch.Tensor]] = {
    "listnet": listnet_loss,
    "listmle": listmle_loss,
    "pl": listmle_loss,
    "ranknet": ranknet_loss,
    "lambdaloss": lambda_loss,  # scheme as an option: ndcg2pp, lambdarank, ndcg2, none
    "lambdaloss_ndcg2pp": partial(lambda_loss, scheme="ndcg2pp"),
    "lambdaloss_lambdarank": partial(lambda_loss, scheme="lambdarank"),
    "approxndcg": approx_ndcg_loss,
    "neuralndcg": neural_ndcg_loss,
}

StageLoss = Callable[..., torch.Tensor]


def loss_options(name: str) -> list[str]:
    """The keyword options the loss registered under ``name`` accepts."""
    fn = LOSSES[name]
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("generator", "tie_noise")]


def is_stochastic(name: str) -> bool:
    """Whether the loss breaks label ties at random (it then takes a generator or tie-break noise)."""
    return "generator" in inspect.signature(LOSSES[name]).parameters


def get_loss(name: str, **args: Any) -> StageLoss:
    """The loss registered under ``name`` with ``args`` bound, as ``(scores, labels, mask, generator, tie_noise=None)
    -> [batch]``."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; available: {', '.join(LOSSES)}")
    allowed = loss_options(name)
    bad = sorted(set(args) - set(allowed))
    if bad:
        raise ValueError(f"loss {name!r} has no option(s) {bad}; it takes {allowed}")
    fn = LOSSES[name]
    takes_generator = is_stochastic(name)

    def stage_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor,
                   generator: torch.Generator | None = None, tie_noise: torch.Tensor | None = None) -> torch.Tensor:
        if takes_generator:
            return fn(scores, labels, mask, generator=generator, tie_noise=tie_noise, **args)
        return fn(scores, labels, mask, **args)

    return stage_loss


__all__ = ["LOSSES", "ALLRANK_NAMES", "resolve_loss", "RankingLoss", "get_loss", "loss_options", "is_stochastic",
           "listnet_loss", "listmle_loss", "ranknet_loss", "lambda_loss", "approx_ndcg_loss", "neural_ndcg_loss"]
