"""How well the implicit reward ``β(log π − log π_ref)`` ranks held-out responses, per objective, over a grid of w.

Per objective: pairwise accuracy (pairs with different scores; a reward tie counts 1/2) — the front's metric — and
NDCG@10 of the reward order against within-list grades (the objective's scores cut into 5 equal-count grades,
0..4, inside each list). The reference model's implicit reward is identically 0 (accuracy 1/2): its point is marked.
The reference's own log-likelihood ranking is reported too, for information.
"""
from __future__ import annotations

import numpy as np
import torch

from ..core.grids import weight_grid
from ..eval.controllability import controllability
from ..eval.front import FrontResult
from ..eval.metrics import ndcg_ranx
from ..eval.pareto import hypervolume, nondominated, reference_point
from .data import PreferenceLists
from .model import HyperPromptLM
from .refcache import RefLogprobCache
from .tokenize import Encoder


def pairwise_accuracy(reward: np.ndarray, score: np.ndarray) -> tuple[float, int]:
    """(accuracy, number of pairs) over pairs with different scores."""
    ds = score[:, None] - score[None, :]
    dr = reward[:, None] - reward[None, :]
    pairs = ds > 0
    n = int(pairs.sum())
    if n == 0:
        return float("nan"), 0
    correct = (dr[pairs] > 0).sum() + 0.5 * (dr[pairs] == 0).sum()
    return float(correct / n), n


def within_list_grades(score: np.ndarray, n_grades: int = 5) -> np.ndarray:
    """Equal-count grades 0..n_grades-1 of a list's scores (ties share the lower grade)."""
    ranks = np.argsort(np.argsort(score, kind="stable"), kind="stable")
    g = np.floor(ranks * n_grades / len(score))
    # tied scores get the same (minimum) grade
    for v in np.unique(score):
        idx = score == v
        g[idx] = g[idx].min()
    return g


def logprobs(model: HyperPromptLM, enc: Encoder, pairs: list[tuple[str, str]], dev, weights=None, beta=None,
             batch_size: int = 16) -> np.ndarray:
    """Sequence log-probabilities ``[len(pairs)]`` of (prompt, response) pairs under the policy at ``weights``
    (the reference model when ``None``), in batches of similar length (:meth:`Encoder.length_batches`), returned
    in the order of ``pairs``."""
    out = np.zeros(len(pairs), dtype=np.float32)
    with torch.no_grad():
        for idx in enc.length_batches(pairs, batch_size):
            ids, att, resp = enc.batch([pairs[i] for i in idx])
            w = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)[None].expand(len(ids), -1)
            out[idx] = model.sequence_logprobs(ids.to(dev), att.to(dev), resp.to(dev),
                                               None if w is None else w.to(dev), beta).float().cpu().numpy()
    return out


def select(held: PreferenceLists, max_lists: int | None, list_size: int | None, seed: int = 0):
    """A deterministic evaluation subset: the first ``max_lists`` lists, ``list_size`` responses each (shuffled)."""
    rng = np.random.default_rng([seed, 99])
    lists = list(range(min(len(held), max_lists or len(held))))
    # random order inside a list: positions (which break reward ties) carry no information about the scores
    picks = [rng.choice(len(held.responses[i]), size=min(list_size or 10 ** 9, len(held.responses[i])),
                        replace=False) for i in lists]
    return lists, picks


def evaluate_llm_front(model: HyperPromptLM, enc: Encoder, held: PreferenceLists, dev, *, grid: int = 5,
                       beta: float = 0.1, max_lists: int | None = 100, list_size: int | None = 8,
                       ref_point=None, seed: int = 0, eval_beta: float | None = None,
                       ref_cache: RefLogprobCache | None = None) -> FrontResult:
    """The implicit-reward front over a grid of weights on held-out lists.

    Per objective and weight: pairwise accuracy of the implicit reward β(log π − log π_ref) (the front's metric) and
    NDCG@10 against within-list grades (see the module doc); the reference's reward is 0 (accuracy 1/2).

    Parameters
    ----------
    model : HyperPromptLM
        The trained model (from `load_llm_run`).
    enc : Encoder
        Its encoder.
    held : PreferenceLists
        Held-out lists.
    dev : torch.device
        Where the model is.
    grid : int, default 5
        Points per simplex edge of the weight grid.
    beta : float, default 0.1
        The training β.
    max_lists : int, optional
        Evaluate the first ``max_lists`` lists (default 100; ``None``: all).
    list_size : int, optional
        Responses per list, drawn seeded (default 8; ``None``: all).
    ref_point : float or list, optional
        The hypervolume reference point (default 0).
    seed : int, default 0
        Seed of the response draw.
    eval_beta : float, optional
        Evaluate at this β (temperature-conditioned models).
    ref_cache : RefLogprobCache, optional
        Cached reference log-probabilities (the run's).

    Returns
    -------
    FrontResult
        ``pairwise_accuracy`` and ``ndcg@10`` per weight and objective, the front and its hypervolume.

    Raises
    ------
    ValueError
        ``ref_point`` has the wrong length or a non-finite value.
    """
    K = len(held.objectives)
    W = weight_grid(K, grid)
    lists, picks = select(held, max_lists, list_size, seed)
    pairs = [(held.prompts[i], held.responses[i][j]) for i, p in zip(lists, picks, strict=True) for j in p]
    bounds = np.cumsum([0] + [len(p) for p in picks])
    ref_lp = ref_cache.get(model, enc, pairs, dev).numpy() if ref_cache is not None else logprobs(model, enc, pairs,
                                                                                                   dev)
    cond_beta = (eval_beta or beta) if model.temperature_conditioned else None
    pol = [logprobs(model, enc, pairs, dev, w, cond_beta) for w in W]
    b = eval_beta or beta

    def metrics(scores_flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
        acc, nd, blanks = np.zeros(K), np.zeros(K), []
        for k, o in enumerate(held.objectives):
            a_num, a_den, r_list, g_list = 0.0, 0, [], []
            for li, (i, p) in enumerate(zip(lists, picks, strict=True)):
                r = scores_flat[bounds[li]:bounds[li + 1]]
                s = held.scores[o][i][p]
                a, n = pairwise_accuracy(r, s)
                if n:
                    a_num += a * n
                    a_den += n
                r_list.append(r)
                g_list.append(within_list_grades(s))
            acc[k] = a_num / max(a_den, 1)
            res = ndcg_ranx(r_list, g_list, k=10, blank_policy="skip")
            nd[k] = res.mean
            blanks.append(res.n_blank)
        return acc, nd, blanks

    rows = [metrics(b * (p - ref_lp)) for p in pol]
    acc = np.stack([r[0] for r in rows])
    nd = np.stack([r[1] for r in rows])
    ref_acc, ref_nd, blanks = metrics(np.zeros_like(ref_lp))
    ll_acc, ll_nd, _ = metrics(ref_lp)
    rp = reference_point(ref_point, K)
    return FrontResult(objective_names=held.objectives, weights=W, metrics={"pairwise_accuracy": acc, "ndcg@10": nd},
                       reference_metrics={"pairwise_accuracy": ref_acc, "ndcg@10": ref_nd},
                       front_metric="pairwise_accuracy", ref_point=rp, hypervolume=hypervolume(acc, rp),
                       reference_hypervolume=hypervolume(ref_acc[None], rp), nondominated=nondominated(acc),
                       blank_queries=blanks, blank_policy="skip", beta=b,
                       extra={"reference_loglik": {"pairwise_accuracy": ll_acc.tolist(), "ndcg@10": ll_nd.tolist()},
                              "n_lists": len(lists), "n_responses": int(bounds[-1]),
                              **({"controllability": controllability(W, acc, list(held.objectives))}
                                 if K > 1 and len(W) > 1 else {})})
