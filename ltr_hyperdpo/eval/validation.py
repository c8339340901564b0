"""Validation metrics during training (torch NDCG, the same conventions as the reported ranx NDCG).

The validation split is gathered into full-list batches once (:class:`ValidationSet`) and reused every epoch, or,
above :data:`RESIDENT_LIMIT_BYTES`, streamed from its memory-mapped source at each validation; a weight grid is
scored in forwards of at most :data:`MAX_DOCS_PER_FORWARD` documents under up to :func:`weights_per_forward` weights
(``w [lists, m, K]``: a conditioned policy computes its weight-independent trunk once per list and forward).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from ..data.batching import SlateLoader, Slates
from ..data.dataset import RankingDataset
from ..utils.memory import release_freed_memory, release_mapped_pages
from .metrics import BLANK_POLICIES, ndcg_torch
from .pareto import hypervolume

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
ConditionedScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

#: documents (padded, weights x lists x width) scored in one forward: activations stay ~10-20 MB whatever the
#: batch; measured on 117k test documents x 70 weights, 4096 is as fast as 16384 and 65536 and peaks ~300 MB lower
MAX_DOCS_PER_FORWARD = 1 << 12
#: activation values (documents x weights x per-weight width) of one forward under several weights: 8 MB of float32
MAX_WEIGHT_ACTIVATIONS = 1 << 21


def weights_per_forward(n_docs: int, n_weights: int, per_weight_width: int = 128) -> int:
    """How many weights to score ``n_docs`` padded documents under in one forward, so that the per-weight
    activations (``per_weight_width`` values per document and weight) stay bounded: a model conditioned only in its
    last layers scores every weight of a grid at once, over one trunk forward."""
    return max(1, min(n_weights, MAX_WEIGHT_ACTIVATIONS // max(n_docs * max(per_weight_width, 1), 1)))


#: a validation split up to this size (features, padded) is gathered once and kept; a larger one is streamed from
#: its (memory-mapped) source at every validation, so training memory does not grow with the validation split
RESIDENT_LIMIT_BYTES = 64 << 20


class ValidationSet:
    """A dataset's full lists as batches: gathered once (and moved to ``device`` once) when they fit in
    ``resident_limit`` bytes, else gathered again at each pass (bounded memory, same batches, same values)."""

    def __init__(self, ds: RankingDataset, batch_size: int = 64, device: torch.device | str = "cpu",
                 resident_limit: int | None = None):
        self.n_objectives = ds.n_objectives
        self.device = torch.device(device)
        self._loader = SlateLoader(ds, batch_size=batch_size, bucket=True, shuffle=False)
        limit = RESIDENT_LIMIT_BYTES if resident_limit is None else resident_limit
        self.resident = padded_bytes(ds, self._loader) <= limit
        self._kept: list[Slates] | None = list(self._gather()) if self.resident else None

    def _gather(self) -> Iterator[Slates]:
        for b in self._loader:
            yield b if self.device.type == "cpu" else b.to(self.device)
            if not self.resident:  # the batch and its activations are freed: keep the process from growing
                release_freed_memory()
                release_mapped_pages(min_interval_s=1.0)

    @property
    def batches(self) -> Iterable[Slates]:
        """The batches, in the same order at every pass."""
        return self._kept if self._kept is not None else self._gather()


def padded_bytes(ds: RankingDataset, loader: SlateLoader) -> int:
    """Bytes of the padded float32 feature batches ``loader`` yields for ``ds``."""
    sizes = ds.list_sizes
    return int(sum(len(q) * int(sizes[q].max()) for q in loader.batches() if len(q))) * ds.n_features * 4


def as_validation_set(data: RankingDataset | ValidationSet) -> ValidationSet:
    return data if isinstance(data, ValidationSet) else ValidationSet(data)


def _parts(b: Slates) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(features, labels, mask)`` of consecutive lists of ``b``, at most :data:`MAX_DOCS_PER_FORWARD` padded
    documents each (one list at least): a batch of long lists is scored in parts, so memory stays bounded."""
    per = max(1, MAX_DOCS_PER_FORWARD // max(b.mask.shape[1], 1))
    for i in range(0, b.mask.shape[0], per):
        yield b.features[i:i + per], b.labels[i:i + per], b.mask[i:i + per]


def _accumulate(sums: np.ndarray, cnt: np.ndarray, v: torch.Tensor, blank: torch.Tensor, policy: str) -> None:
    """Add per-list NDCG ``v`` / blank flags ``[..., lists]`` to per-row sums and counts (last axis reduced)."""
    v, blank = v.cpu(), blank.cpu()
    keep = ~blank
    if policy == "skip":
        sums += (v * keep).sum(-1).numpy()
        cnt += keep.sum(-1).numpy()
    else:
        sums += (v * keep).sum(-1).numpy() + (blank.sum(-1).numpy() if policy == "one" else 0.0)
        cnt += blank.shape[-1]


def val_ndcg(model_fn: ScoreFn, data: RankingDataset | ValidationSet, k: int, batch_size: int = 64,
             blank_policy: str = "skip") -> np.ndarray:
    """Mean torch NDCG@k per objective ``[objectives]`` of ``model_fn(features, mask)``; queries with no relevant
    document are skipped, or count as 0 / 1 (``blank_policy``), as in the reported evaluation."""
    if blank_policy not in BLANK_POLICIES:
        raise ValueError(f"blank_policy must be one of {BLANK_POLICIES}, got {blank_policy!r}")
    vs = data if isinstance(data, ValidationSet) else ValidationSet(data, batch_size)
    sums = np.zeros(vs.n_objectives)
    cnt = np.zeros(vs.n_objectives)
    with torch.no_grad():
        for b in vs.batches:
            for feats, labels, mask in _parts(b):
                s = model_fn(feats, mask)
                for j in range(vs.n_objectives):
                    v, blank = ndcg_torch(s, labels[..., j], mask, k)
                    _accumulate(sums[j:j + 1], cnt[j:j + 1], v.double()[None], blank[None], blank_policy)
    return sums / np.maximum(cnt, 1)


def val_ndcg_grid(conditioned_fn: ConditionedScoreFn, grid: torch.Tensor, data: RankingDataset | ValidationSet,
                  k: int, blank_policy: str = "skip", per_weight_width: int = 128) -> np.ndarray:
    """Mean torch NDCG@k ``[weights, objectives]`` of ``conditioned_fn(features, mask, w [lists, m, K]) -> scores
    [lists, m, list]`` at every weight of ``grid`` ``[weights, K]`` (``per_weight_width``: the model's, see
    :func:`weights_per_forward`)."""
    if blank_policy not in BLANK_POLICIES:
        raise ValueError(f"blank_policy must be one of {BLANK_POLICIES}, got {blank_policy!r}")
    vs = as_validation_set(data)
    n_w = grid.shape[0]
    sums = np.zeros((n_w, vs.n_objectives))
    cnt = np.zeros((n_w, vs.n_objectives))
    with torch.no_grad():
        for b in vs.batches:
            for feats, labels, lmask in _parts(b):
                n_b, width = lmask.shape
                step = weights_per_forward(n_b * width, n_w, per_weight_width)
                for s0 in range(0, n_w, step):
                    w = grid[s0:s0 + step].to(feats.device)
                    m = w.shape[0]
                    mask = lmask.repeat(m, 1)
                    s = conditioned_fn(feats, lmask, w[None].expand(n_b, -1, -1)).transpose(0, 1).reshape(m * n_b, -1)
                    for j in range(vs.n_objectives):
                        v, blank = ndcg_torch(s, labels[..., j].repeat(m, 1), mask, k)
                        _accumulate(sums[s0:s0 + m, j], cnt[s0:s0 + m, j], v.double().view(m, n_b),
                                    blank.view(m, n_b), blank_policy)
    return sums / np.maximum(cnt, 1)


def val_hypervolume(conditioned_fn: ConditionedScoreFn, grid: torch.Tensor, data: RankingDataset | ValidationSet,
                    k: int, ref_point: np.ndarray | float | list | None = None, blank_policy: str = "skip",
                    per_weight_width: int = 128) -> float:
    """Hypervolume of the validation NDCG@k points of ``conditioned_fn(features, mask, w[batch, m, K])`` over a
    grid."""
    return hypervolume(val_ndcg_grid(conditioned_fn, grid, data, k, blank_policy, per_weight_width), ref_point)
