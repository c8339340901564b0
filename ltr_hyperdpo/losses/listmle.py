"""ListMLE (Xia et al. 2008) = the Plackett–Luce NLL of the label ranking (random tie-breaking)."""
from __future__ import annotations

import torch

from ..core.plackett_luce import plackett_luce_nll
from ._common import check_shapes


def listmle_loss(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None, *,
                 generator: torch.Generator | None = None, tie_noise: torch.Tensor | None = None) -> torch.Tensor:
    """Per-list PL NLL ``[batch]`` of the ranking induced by ``labels`` ``[batch, list]`` (ties broken at random by
    ``generator``, or by ``tie_noise`` ``[batch, list]``)."""
    check_shapes(scores, labels)
    return plackett_luce_nll(scores, labels, mask, generator=generator, tie_noise=tie_noise)
