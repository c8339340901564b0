"""NDCG per objective: ranx (reporting) and torch (validation during training), with one set of conventions.

Conventions: gain ``2^y − 1``, discount ``1/log2(i + 1)`` (ranx ``ndcg_burges``); grades must be >= 0 and
relevant means grade >= 1 (ranx's ``rel_lvl=1``; our objective grades are integers 0..4). Ties in scores are broken
deterministically by position in the list (earlier first) before ranx sees the run. Queries with no relevant
document have undefined NDCG; ``blank_policy`` says what to do: ``skip`` (default, excluded from the mean),
``zero`` or ``one``; the count is always returned.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from numba import njit

BLANK_POLICIES = ("skip", "zero", "one")


def _check_policy(p: str) -> None:
    if p not in BLANK_POLICIES:
        raise ValueError(f"blank_policy must be one of {BLANK_POLICIES}, got {p!r}")


def deterministic_order(scores: np.ndarray) -> np.ndarray:
    """Indices sorting scores descending, ties by ascending position (stable)."""
    return np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")


@njit(cache=True)
def _cutoffs(n: int, ks: np.ndarray) -> np.ndarray:
    """The cut-offs of a list of ``n`` items: ``k`` capped at ``n``, ``0`` meaning the whole list."""
    out = np.empty(ks.shape[0], dtype=np.int64)
    for c in range(ks.shape[0]):
        out[c] = n if (ks[c] == 0 or ks[c] > n) else ks[c]
    return out


@njit(cache=True)
def _ndcg_grid(scores: np.ndarray, labels: np.ndarray, lengths: np.ndarray, ks: np.ndarray, out: np.ndarray) -> None:
    """``out [objectives, cut-offs, rows]`` (zeros on entry); row ``r`` of ``scores`` ranks base list ``r % B`` of
    ``labels`` ``[objectives, B, list]``. Each row is sorted once for every objective and cut-off, and each base
    list's ideal DCG is computed once for all the rows that repeat it."""
    n_obj, n_base = labels.shape[0], labels.shape[1]
    n_k = ks.shape[0]
    cut = np.empty((n_base, n_k), dtype=np.int64)
    kmax = np.zeros(n_base, dtype=np.int64)  # the deepest cut-off of each base list
    idcg = np.zeros((n_obj, n_k, n_base))
    for b in range(n_base):
        n = lengths[b]
        cut[b] = _cutoffs(n, ks)
        if n_k:
            kmax[b] = cut[b].max()
        for j in range(n_obj):
            ideal = np.sort(labels[j, b, :n])[::-1]
            acc = 0.0
            for i in range(kmax[b]):
                g = ideal[i]
                if g >= 1.0:  # ranx rel_lvl=1: lower grades are not relevant
                    acc += (2.0 ** g - 1.0) / np.log2(i + 2.0)
                for c in range(n_k):
                    if i + 1 == cut[b, c]:
                        idcg[j, c, b] = acc
    for r in range(scores.shape[0]):
        b = r % n_base
        order = np.argsort(-scores[r, :lengths[b]], kind="mergesort")  # stable: ties keep their position
        for j in range(n_obj):
            acc = 0.0
            for i in range(kmax[b]):
                g = labels[j, b, order[i]]
                if g >= 1.0:
                    acc += (2.0 ** g - 1.0) / np.log2(i + 2.0)
                for c in range(n_k):
                    if i + 1 == cut[b, c] and idcg[j, c, b] > 0.0:
                        out[j, c, r] = acc / idcg[j, c, b]


def ndcg_rows(scores: np.ndarray, labels: np.ndarray, lengths: np.ndarray, k: int = 10) -> np.ndarray:
    """NDCG@k per row ``[queries]`` of padded ``scores``/``labels`` ``[queries, list]`` (``lengths`` real items),
    with ranx ``ndcg_burges`` conventions: gain ``2^y − 1`` for grades >= 1, ties by position, 0 when no item is
    relevant (use :func:`aggregate` for the blank-query policy)."""
    return ndcg_grid(scores, np.asarray(labels)[..., None], lengths, (k,))[0, 0]


def ndcg_grid(scores: np.ndarray, labels: np.ndarray, lengths: np.ndarray, ks: tuple[int, ...]) -> np.ndarray:
    """NDCG ``[objectives, cut-offs, rows]`` of padded ``scores`` ``[rows, list]`` against ``labels``
    ``[lists, list, objectives]`` with ``lengths`` ``[lists]``, where ``rows`` is any multiple of ``lists`` and row
    ``r`` ranks list ``r % lists`` (weight-major stacking of several weights' scores). Same conventions as
    :func:`ndcg_rows`; ``k = 0`` means the whole list."""
    y = np.ascontiguousarray(np.moveaxis(np.asarray(labels, dtype=np.float64), -1, 0))
    if scores.shape[0] % max(y.shape[1], 1):
        raise ValueError(f"{scores.shape[0]} score rows are not a multiple of {y.shape[1]} lists")
    out = np.zeros((y.shape[0], len(ks), scores.shape[0]), dtype=np.float64)
    if scores.shape[0]:
        _ndcg_grid(np.ascontiguousarray(scores, dtype=np.float64), y, np.asarray(lengths, dtype=np.int64),
                   np.asarray(ks, dtype=np.int64), out)
    return out


def ranx_ndcg_grid(scores: np.ndarray, labels: np.ndarray, lengths: np.ndarray, ks: tuple[int, ...]) -> np.ndarray:
    """:func:`ndcg_grid`'s contract computed by ranx's public API: per objective one ``Qrels`` of the lists' grades,
    per block of rows (one weight's scores of every list) one ``Run`` (ties broken by position first, encoded as
    strictly decreasing run scores), then ``ranx.evaluate(..., "ndcg_burges@k", return_mean=False)``. The reported
    figures (``front.json``, reports) come from here; :func:`ndcg_grid` is the fast kernel for validation and
    searches, tested equal to this."""
    from ranx import Qrels, Run, evaluate

    y = np.asarray(labels, dtype=np.float64)
    n_lists, rows = y.shape[0], scores.shape[0]
    out = np.zeros((y.shape[2], len(ks), rows), dtype=np.float64)
    if rows == 0:
        return out
    if rows % n_lists:
        raise ValueError(f"{rows} score rows are not a multiple of {n_lists} lists")
    if np.any(y != np.round(y)) or (y < 0).any():
        raise ValueError("ranx's qrels need non-negative integer grades")
    lens = [int(n) for n in lengths]
    qids = [f"q{i:09d}" for i in range(n_lists)]  # zero-padded: ranx returns queries in sorted id order
    docs = [[f"d{j}" for j in range(n)] for n in lens]
    qrels = []
    for o in range(y.shape[2]):
        q = Qrels()
        q.add_multi(qids, docs, [y[i, :n, o].astype(np.int64).tolist() for i, n in enumerate(lens)])
        qrels.append(q)
    names = [f"ndcg_burges@{k}" if k else "ndcg_burges" for k in ks]
    # ranx's evaluate with one metric and return_mean=False looks its result up by the bare metric name and fails
    # (ranx 0.3.x): ask for a second, ignored cut-off so its dictionary path is taken
    asked = names + ([f"ndcg_burges@{2 if ks[0] == 1 else 1}"] if len(names) == 1 else [])
    ranks = [list(range(n, 0, -1)) for n in lens]
    for b in range(rows // n_lists):
        run = Run()
        block = scores[b * n_lists:(b + 1) * n_lists]
        run.add_multi(qids, [[docs[i][j] for j in deterministic_order(block[i, :n])] for i, n in enumerate(lens)],
                      ranks)
        for o, q in enumerate(qrels):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # numba's uint64->int64 prange index notice inside ranx
                res = evaluate(q, run, asked, return_mean=False, save_results_in_run=False)
            for c, name in enumerate(names):
                out[o, c, b * n_lists:(b + 1) * n_lists] = res[name]
    return out


def pad_lists(lists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """A list of 1-D arrays as a zero-padded ``[lists, max_len]`` float64 matrix and their lengths."""
    lengths = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
    out = np.zeros((len(lists), int(lengths.max()) if len(lists) else 0), dtype=np.float64)
    for i, v in enumerate(lists):
        out[i, :lengths[i]] = v
    return out, lengths


def ranx_ndcg_per_query(scores: list[np.ndarray], labels: list[np.ndarray], k: int = 10) -> np.ndarray:
    """ranx ``ndcg_burges@k`` per query, through its numba path on typed lists (the reference implementation the
    padded kernel is tested against)."""
    from numba.typed import List
    from ranx.metrics import ndcg_burges

    qrels, runs = List(), List()
    for s, y in zip(scores, labels, strict=True):
        y = np.asarray(y, dtype=np.float64)
        if y.size and y.min() < 0:
            raise ValueError("NDCG needs non-negative grades")
        ids = np.arange(y.size, dtype=np.float64)
        ideal = np.argsort(-y, kind="stable")
        qrels.append(np.stack([ids[ideal], y[ideal]], axis=1))
        order = deterministic_order(s)
        # strictly decreasing run scores encode our tie-break, whatever ranx does with equal scores
        runs.append(np.stack([ids[order], np.arange(y.size, 0, -1, dtype=np.float64)], axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numba's uint64->int64 prange index notice inside ranx
        return np.asarray(ndcg_burges(qrels, runs, k=k))


@dataclass
class NDCGResult:
    """Mean NDCG over counted queries, the per-query values, and how many queries were blank."""

    mean: float
    per_query: np.ndarray
    n_queries: int
    n_blank: int
    blank_policy: str


def aggregate(per_query: np.ndarray, blank: np.ndarray, blank_policy: str = "skip") -> NDCGResult:
    """Apply the blank-query policy and average."""
    _check_policy(blank_policy)
    v = per_query.astype(np.float64).copy()
    if blank_policy == "zero":
        v[blank] = 0.0
        use = np.ones_like(blank)
    elif blank_policy == "one":
        v[blank] = 1.0
        use = np.ones_like(blank)
    else:
        use = ~blank
    mean = float(v[use].mean()) if use.any() else float("nan")
    return NDCGResult(mean, v, int(v.size), int(blank.sum()), blank_policy)


def ndcg_ranx(scores: list[np.ndarray], labels: list[np.ndarray], k: int = 10,
              blank_policy: str = "skip") -> NDCGResult:
    """Reported NDCG@k (ranx ``ndcg_burges`` conventions) with the blank-query policy."""
    for y in labels:
        if len(y) and np.min(y) < 0:
            raise ValueError("NDCG needs non-negative grades")
    s, lengths = pad_lists(scores)
    y, _ = pad_lists(labels)
    pq = ndcg_rows(s, y, lengths, k)
    blank = np.array([not np.any(np.asarray(v) >= 1) for v in labels], dtype=bool)
    return aggregate(pq, blank, blank_policy)


def ndcg_torch(scores: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor | None = None,
               k: int = 10) -> tuple[torch.Tensor, torch.Tensor]:
    """Torch NDCG@k per list ``[batch]`` and a blank flag ``[batch]``, same conventions as the ranx path.

    ``scores``/``labels``/``mask`` are ``[batch, list]``; padded items never count.
    """
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    neg = torch.finfo(torch.float64).min
    s = torch.where(mask, scores.to(torch.float64), torch.full_like(scores, neg, dtype=torch.float64))
    y = torch.where(mask, labels.to(torch.float64), torch.zeros_like(labels, dtype=torch.float64))
    y = torch.where(y >= 1, y, torch.zeros_like(y))  # relevant = grade >= 1 (ranx rel_lvl=1)
    order = torch.sort(s, dim=-1, descending=True, stable=True).indices
    gains = torch.pow(2.0, y.gather(-1, order)) - 1
    ideal = torch.pow(2.0, torch.sort(y, dim=-1, descending=True).values) - 1
    n = scores.shape[-1]
    disc = 1.0 / torch.log2(torch.arange(2, n + 2, dtype=torch.float64, device=scores.device))
    disc = torch.where(torch.arange(n, device=scores.device) < k, disc, torch.zeros_like(disc))
    dcg = (gains * disc).sum(-1)
    idcg = (ideal * disc).sum(-1)
    blank = idcg <= 0
    return torch.where(blank, torch.zeros_like(dcg), dcg / torch.where(blank, torch.ones_like(idcg), idcg)), blank
