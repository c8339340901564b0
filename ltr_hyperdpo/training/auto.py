"""Every ``auto`` rule, in one table: each a small pure function of :class:`Facts` whose docstring states the rule
and the reason.

:func:`~ltr_hyperdpo.training.plan.resolve` applies a rule to a setting the user left ``auto`` (``None``, or
``"auto"``) and records the result in ``plan.json`` (and which keys were resolved this way). A rule never reads a
file, the clock or a benchmark: the same config and data summary always give the same plan.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.grids import DEFAULT_MEMBERS, DEFAULT_MEMBERS_K2, DEFAULT_TEST_POINTS, DEFAULT_TEST_POINTS_K2


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What the rules may read: the data's number of objectives and the architecture resolved so far."""

    n_objectives: int
    kind: str
    conditioning: str = ""
    temperature_conditioned: bool = False
    conditioned_layers: int = 0
    d_model: int = 64

    @property
    def output_conditioned(self) -> bool:
        """Scores affine in w: the low-rank MLP conditioned in its output layer only."""
        return self.kind == "mlp" and self.conditioning == "lowrank" and self.conditioned_layers == 1


def conditioning(f: Facts) -> str:
    """``lowrank`` for the MLP, ``prompts`` (Hyper Prompt Tuning) for the transformer.

    Why: low-rank weight deltas condition an MLP with few parameters and can make its scores affine in w (see
    ``conditioned_layers``); a transformer is conditioned through its attention, which prompts reach in every
    layer."""
    return "lowrank" if f.kind == "mlp" else "prompts"


def conditioned_layers(f: Facts) -> int:
    """1 (the output layer only) for the low-rank MLP that is not temperature-conditioned; else 0 (every layer).

    Why: the optimal DPO policy of a linearly scalarised reward is ``s_ref + Σ_k w_k r_k / β``, affine in w; a
    low-rank delta on the output layer alone gives exactly that form, ``s_0(x) + Σ_k w_k s_k(x)``, and the trunk is
    computed once per list whatever the number of weights. FiLM and β-conditioning rescale hidden features, which
    needs every layer."""
    return 1 if f.kind == "mlp" and f.conditioning == "lowrank" and not f.temperature_conditioned else 0


def head_hidden(f: Facts) -> int:
    """32 hidden units per objective's output tower when scores are affine in w, and for the transformer with hyper
    prompts; else 0 (linear heads).

    Why: with a shared trunk, a linear head per objective can only re-weight the trunk's last features, which the
    reference shaped for the main objective; a small tower gives each objective its own nonlinearity at a cost of
    one narrow layer per objective. The transformer's prompts reach its score only through attention and one shared
    head, so its towers add that per-objective output on top (chosen by ``benchmarks/develop.py --scorer
    transformer`` on development data)."""
    return 32 if f.output_conditioned or (f.kind == "transformer" and f.conditioning == "prompts") else 0


def rank(f: Facts) -> int:
    """Rank 16 of the low-rank weight deltas (0 where there are none).

    Why: a weight delta per objective of rank 16 spans far more directions than the 2-5 objectives need, at a
    cost below one hidden layer's."""
    return 16 if f.conditioning == "lowrank" else 0


def d_ff(f: Facts) -> int:
    """The transformer's feed-forward width: 2 x ``d_model``.

    Why: lists of ranking features are short and low-dimensional; the usual 4x of language models doubles the cost
    without a gain in the scorer's capacity where it matters (attention across documents)."""
    return 2 * f.d_model


def weights_per_list(f: Facts) -> int:
    """Trade-offs each list is trained under per step: 16 when scores are affine in w, else 2.

    Why: with the trunk shared, an extra weight costs one small head per document, so 16 weights per list see many
    trade-offs for little more than one forward, and the more objectives, the more of the simplex a step needs to
    see; a fully conditioned model repeats its whole forward per weight. The value is the development procedure's
    choice (``benchmarks/develop.py``: validation data of the development sets only)."""
    return 16 if f.output_conditioned else 2


def vertex_prob(f: Facts) -> float:
    """Probability that a training weight is a vertex e_k instead of a Dirichlet draw: 0.85 when scores are affine
    in w, 0.95 for the transformer with hyper prompts, else 0.2.

    Why: with ``s(x, w) = s_0(x) + Σ_k w_k s_k(x)`` each objective's head is pinned down at its vertex, where it
    gets an expert's training signal; the remaining Dirichlet draws teach the shared trunk the mixtures. The prompted
    transformer's output towers enter the same way, ``Σ_k w_k g_k(h)`` (see ``head_hidden``), and its prompts are a
    smooth function of w, so it too learns each objective at its corner and interpolates between corners; an
    interior draw trains every tower at once on a blurred target. A fully conditioned model without towers has no
    such split and learns mostly from the interior. The transformer's value is the development procedure's choice
    (``benchmarks/develop.py --scorer transformer``: validation data of the development sets only)."""
    if f.output_conditioned:
        return 0.85
    return 0.95 if f.kind == "transformer" and f.conditioning == "prompts" else 0.2


def select(f: Facts) -> str:
    """The validation figure whose best epoch a one-shot run keeps: ``scalarised`` (the mean over the validation
    weights of ``w · NDCG(w)``) when scores are affine in w and for the transformer with hyper prompts, else
    ``hypervolume``.

    Why: each trade-off is judged by the figure it asks for, as each DPO-LS member keeps its epoch by ``w · NDCG``
    at its own w; the hypervolume (reference point 0) also rewards a corner's values on the objectives it does not
    ask for, which swing from epoch to epoch and chose epochs whose corners blur two correlated objectives. Both
    values are the development procedure's choice for the two default scorers (``benchmarks/develop.py
    --split-validation``, ``--scorer mlp`` and ``--scorer transformer``: checkpoints kept on half of the validation
    queries, scored on the other half); the fully conditioned models were not compared, so they keep the
    hypervolume they were developed with."""
    return "scalarised" if f.output_conditioned or (f.kind == "transformer" and f.conditioning == "prompts") \
        else "hypervolume"


def members(f: Facts) -> int:
    """Members of a multi-run method: 11 on the K = 2 segment; for K >= 3 the largest simplex lattice of at most 15
    weights (15 for K = 3, 10 for K = 4, 15 for K = 5).

    Why: about as many trainings as a one-shot run's epochs budget allows, with the vertices always included."""
    return DEFAULT_MEMBERS_K2 if f.n_objectives <= 2 else DEFAULT_MEMBERS


def test_grid_points(f: Facts) -> int:
    """The test grid: 11 weights on the K = 2 segment; for K >= 3 the smallest simplex lattice with at least 50.

    Why: dense enough that a front's hypervolume is stable to the third decimal, small enough to evaluate in
    seconds."""
    return DEFAULT_TEST_POINTS_K2 if f.n_objectives <= 2 else DEFAULT_TEST_POINTS


def grid_method(f: Facts) -> str:
    """``lattice``: the simplex lattice (K = 2: evenly spaced points on the segment).

    Why: a lattice contains every vertex and is the same for every run, so fronts compare point by point; the
    quasi-random alternative (``random``) is there for K large enough that a lattice grows too fast."""
    return "lattice"


def val_grid(f: Facts) -> int:
    """Validation weights on the K = 2 segment: 5 (the vertices, the midpoint, the quarter points).

    Why: early stopping needs interior trade-offs as well as the vertices, and each point costs one validation
    pass. For K >= 3 the validation grid is fixed (vertices, centroid, pairwise midpoints) and this setting does not
    apply."""
    return 5


#: config key -> rule. ``method.params.NAME`` applies to every method whose ``Params`` has a field NAME.
AUTO_RULES: dict[str, Callable[[Facts], Any]] = {
    "model.conditioning": conditioning,
    "model.conditioned_layers": conditioned_layers,
    "model.head_hidden": head_hidden,
    "model.rank": rank,
    "model.d_ff": d_ff,
    "method.params.weights_per_list": weights_per_list,
    "method.params.vertex_prob": vertex_prob,
    "method.params.select": select,
    "method.params.members": members,
    "eval.grid": test_grid_points,
    "eval.grid_method": grid_method,
    "eval.val_grid": val_grid,
}

__all__ = ["AUTO_RULES", "Facts"]
