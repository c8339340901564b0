"""What every scorer shares: the architecture config (user-facing ``ModelConfig``, data-sized ``ScorerConfig``) and
the ``Scorer`` module interface ``forward(x [batch, list, features], mask, weights, beta) -> [batch, list]``."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from .. import defaults
from ..config import FieldError, Validated, opt
from .conditioning import condition_vector

KINDS = ("mlp", "transformer")
CONDITIONINGS = ("auto", "film", "lowrank", "concat", "prompts", "none")
#: activations by name (torch.nn class names such as ``ReLU`` or ``LeakyReLU`` are accepted too, as allRank writes
#: them)
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU, "identity": nn.Identity, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU, "elu": nn.ELU, "selu": nn.SELU, "softplus": nn.Softplus, "silu": nn.SiLU}
_ACTIVATION_ALIASES = {cls.__name__.lower(): name for name, cls in ACTIVATIONS.items()}


def activation_name(name: str | None) -> str:
    """The canonical name of an activation (``None`` is the identity); ValueError for an unknown one."""
    if name is None:
        return "identity"
    key = name.lower()
    if key in ACTIVATIONS:
        return key
    if key in _ACTIVATION_ALIASES:
        return _ACTIVATION_ALIASES[key]
    raise ValueError(f"unknown activation {name!r}; one of {', '.join(ACTIVATIONS)}")


def make_activation(name: str | None) -> nn.Module:
    """The activation module for a name (see :data:`ACTIVATIONS`)."""
    return ACTIVATIONS[activation_name(name)]()


#: conditionings of the MLP; the transformer is conditioned by hyper prompts (``prompts``) or not at all
MLP_CONDITIONINGS = ("film", "lowrank", "concat", "none")
TRANSFORMER_CONDITIONINGS = ("prompts", "none")


@dataclass(kw_only=True)
class ModelConfig(Validated):
    """The scorer architecture a user chooses (the ``model`` section): the user's intent, which may hold ``auto``
    values (``None`` or ``"auto"``). It is never mutated; :func:`ltr_hyperdpo.training.resolve` turns it, with the
    data's sizes, into the :class:`ScorerConfig` a run trains (recorded in ``plan.json``), by the rules of
    :mod:`ltr_hyperdpo.training.auto`."""

    kind: Literal["mlp", "transformer"] = "mlp"
    hidden: list[int] = opt(factory=lambda: list(defaults.HIDDEN), items_ge=1)
    dropout: float = opt(defaults.DROPOUT, ge=0.0, lt=1.0)
    # auto: see training.auto.conditioning. ``film`` on a transformer is an older spelling of ``prompts``
    conditioning: Literal["auto", "film", "lowrank", "concat", "prompts", "none"] = "auto"
    rank: int | None = opt(None, ge=1, doc="rank of the low-rank weight deltas (lowrank only); auto: 16")
    # lowrank MLP: each objective's output head is a tower with this many hidden units, s_k(x) = v_kᵀ relu(U_k h(x)),
    # instead of a linear map of the last hidden layer (0); the score stays affine in w. Transformer with hyper
    # prompts: such towers are added to its shared output head. auto: training.auto
    head_hidden: int | None = opt(None, ge=0)
    d_model: int = opt(64, ge=1)
    n_layers: int = opt(2, ge=1)
    n_heads: int = opt(4, ge=1)
    d_ff: int | None = opt(None, ge=1, doc="the transformer's feed-forward width; auto: 2 x d_model")
    activation: str = "relu"  # between the MLP's hidden layers
    input_norm: bool = False  # LayerNorm on the input features
    output_activation: str | None = None  # on the final score (e.g. tanh, as some allRank configs use)
    n_prompts: int = opt(4, ge=0)
    cond_hidden: int = opt(64, ge=1)
    temperature_conditioned: bool = False
    freeze_backbone: bool = False  # stage 2 trains the conditioning network only (FiLM / hyper prompts)
    # MLP: only the last N linear layers (the output layer counts as one) are conditioned; the layers before them are
    # a trunk computed once per list and shared by every weight it is scored under. 0: every layer. auto:
    # training.auto.conditioned_layers
    conditioned_layers: int | None = opt(None, ge=0)

    def low_rank_mlp(self) -> bool:
        """Whether this is the MLP with low-rank conditioning (``auto`` counted as what it resolves to)."""
        return self.kind == "mlp" and self.conditioning in ("lowrank", "auto")

    def prompted_transformer(self) -> bool:
        """Whether this is the transformer with hyper prompts (``auto`` and the older ``film`` counted)."""
        return self.kind == "transformer" and self.conditioning in ("prompts", "auto", "film")

    def check(self) -> None:
        for key in ("activation", "output_activation"):
            value = getattr(self, key)
            if value is not None:
                try:
                    activation_name(value)
                except ValueError as e:
                    raise FieldError(key, str(e)) from None
        if self.kind == "mlp" and not self.hidden:
            raise FieldError("hidden", "an MLP needs at least one hidden layer")
        if self.kind == "mlp" and self.conditioning == "prompts":
            raise FieldError("conditioning", "prompts (hyper prompts) condition the transformer; the MLP takes "
                                             "lowrank, film, concat or none")
        if self.kind == "transformer" and self.conditioning in ("lowrank", "concat"):
            raise FieldError("conditioning", f"{self.conditioning} conditions the MLP; the transformer uses hyper "
                                             f"prompts (prompts) or none")
        if self.rank is not None and not self.low_rank_mlp():
            raise FieldError("rank", "applies to the MLP with lowrank conditioning only (it would be ignored)")
        if self.d_ff is not None and self.kind != "transformer":
            raise FieldError("d_ff", "applies to the transformer only (it would be ignored)")
        film_like = self.conditioning in ("film", "lowrank", "auto")
        if self.freeze_backbone and (not film_like if self.kind == "mlp" else self.n_prompts < 1):
            raise FieldError("freeze_backbone", "needs a separate conditioning network to train: FiLM or lowrank "
                                                "for the MLP, n_prompts >= 1 for the transformer")
        if self.conditioned_layers:
            if self.kind != "mlp" or not film_like:
                raise FieldError("conditioned_layers", "applies to the MLP with lowrank or film conditioning")
            if self.conditioned_layers > len(self.hidden) + 1:
                raise FieldError("conditioned_layers", f"{self.conditioned_layers} is more than the MLP's "
                                                       f"{len(self.hidden) + 1} linear layers")
            if self.conditioning == "film" and self.conditioned_layers < 2:
                raise FieldError("conditioned_layers", "FiLM conditions hidden layers, not the output layer: "
                                                       "use 2 or more")
        if self.head_hidden and not (self.low_rank_mlp() or self.prompted_transformer()):
            raise FieldError("head_hidden", "per-objective output towers belong to the MLP with lowrank conditioning "
                                            "or the transformer with hyper prompts")
        if self.kind == "transformer" and self.d_model % self.n_heads:
            raise FieldError("d_model", f"{self.d_model} must be divisible by n_heads {self.n_heads}")


@dataclass(frozen=True, kw_only=True)
class ScorerConfig(Validated):
    """A scorer's complete architecture, every value resolved (no ``auto``): what a scorer file and a run's
    ``plan.json`` record, and what the scorer modules are built from.

    ``conditioned_layers`` 0 means every layer, ``head_hidden`` 0 linear heads. ``prompt_values`` (transformer):
    hyper prompts carry their own zero-initialised value vectors and start with open gates, so the prompts learn from
    the first step while a conditioned copy still starts as its reference (see :mod:`ltr_hyperdpo.models.transformer`
    for the reason and the measurement). :meth:`from_saved` reads the files written before these fields existed (the
    one legacy shim)."""

    kind: Literal["mlp", "transformer"] = "mlp"
    n_features: int = opt(0, ge=0)
    n_objectives: int = opt(1, ge=1)
    hidden: list[int] = opt(factory=lambda: list(defaults.HIDDEN), items_ge=1)
    dropout: float = opt(defaults.DROPOUT, ge=0.0, lt=1.0)
    conditioning: Literal["film", "lowrank", "concat", "prompts", "none"] = "lowrank"
    rank: int = opt(16, ge=0)
    head_hidden: int = opt(0, ge=0)
    conditioned_layers: int = opt(0, ge=0)
    d_model: int = opt(64, ge=1)
    n_layers: int = opt(2, ge=1)
    n_heads: int = opt(4, ge=1)
    d_ff: int = opt(128, ge=1)
    activation: str = "relu"
    input_norm: bool = False
    output_activation: str | None = None
    n_prompts: int = opt(4, ge=0)
    cond_hidden: int = opt(64, ge=1)
    prompt_values: bool = True
    temperature_conditioned: bool = False
    freeze_backbone: bool = False

    def check(self) -> None:
        allowed = MLP_CONDITIONINGS if self.kind == "mlp" else TRANSFORMER_CONDITIONINGS
        if self.conditioning not in allowed:
            raise FieldError("conditioning", f"a {self.kind} scorer takes one of {', '.join(allowed)}, got "
                                             f"{self.conditioning!r}")

    @classmethod
    def from_saved(cls, d: dict) -> ScorerConfig:
        """A scorer config from a file, older layouts included: ``ff_mult`` (now ``d_ff``), ``None`` for
        ``conditioned_layers`` / ``head_hidden`` (every layer, linear heads), ``film`` / ``auto`` on a transformer
        (hyper prompts), no ``prompt_values`` (hyper prompts whose values the layers project)."""
        v = dict(d)
        ff_mult = v.pop("ff_mult", None)
        if v.get("d_ff") is None:
            v["d_ff"] = (ff_mult or 2) * int(v.get("d_model", 64))
        for key, old_default in (("conditioned_layers", 0), ("head_hidden", 0), ("rank", 16)):
            if v.get(key) is None:
                v[key] = old_default
        kind = v.get("kind", "mlp")
        if "prompt_values" not in v:  # an older transformer's prompts: values projected by the layers
            v["prompt_values"] = kind != "transformer"
        if kind == "transformer" and v.get("conditioning") in ("film", "auto", "concat"):
            v["conditioning"] = "prompts"
        elif kind == "mlp" and v.get("conditioning") == "auto":
            v["conditioning"] = "lowrank"
        return cls(**v)

    def output_conditioned(self) -> bool:
        """Whether only the low-rank MLP's output layer is conditioned: scores affine in w,
        ``s_0(x) + Σ_k w_k s_k(x)``."""
        return self.kind == "mlp" and self.conditioning == "lowrank" and self.conditioned_layers == 1

    @property
    def cond_dim(self) -> int:
        return self.n_objectives + int(self.temperature_conditioned)

    def to_dict(self) -> dict:
        return asdict(self)


class Scorer(nn.Module):
    """Common interface: ``forward(x, mask, weights=None, beta=None) -> scores [batch, list]``.

    ``weights`` is ``[objectives]``, ``[batch, objectives]``, or ``[batch, m, objectives]`` to score every list under
    m weights at once (scores ``[batch, m, list]``; ``beta`` then a float or ``[batch, m]``): the part of the forward
    that does not depend on the weight is computed once per list.
    """

    config: ScorerConfig

    _conditioned: bool = False

    @property
    def conditioned(self) -> bool:
        """Whether the scorer takes (w, β) as input."""
        return self._conditioned

    @property
    def per_weight_width(self) -> int:
        """Activations per document and weight when scoring under several weights (sizes the weight chunks of the
        evaluation); 0 when the scores do not depend on the weight."""
        return 0 if not self.conditioned else max(self.config.d_model * 4, 256)

    def _cond(self, x: torch.Tensor, weights, beta) -> torch.Tensor | None:
        if not self.conditioned:
            return None
        if weights is None:
            raise ValueError("this scorer is weight-conditioned: pass weights [batch, objectives]")
        if weights.ndim == 1:
            weights = weights[None, :].expand(x.shape[0], -1)
        k = self.config.n_objectives
        if weights.ndim == 3 and weights.shape[0] == x.shape[0] and weights.shape[2] == k:
            weights = weights.reshape(-1, k)
            if torch.is_tensor(beta) and beta.ndim > 0:
                beta = beta.reshape(-1)
        elif weights.shape != (x.shape[0], k):
            raise ValueError(f"weights must be [batch, {k}] or [batch, m, {k}], got {tuple(weights.shape)}")
        return condition_vector(weights.to(x.dtype), beta, self.config.temperature_conditioned)

    def _each_weight(self, x: torch.Tensor, mask: torch.Tensor | None, weights: torch.Tensor,
                     beta: torch.Tensor | float | None) -> torch.Tensor:
        """Scores ``[batch, m, list]`` for weights ``[batch, m, K]`` by repeating each list m times (a scorer with
        nothing to share across weights)."""
        b, m = weights.shape[:2]
        rep = None if mask is None else mask.repeat_interleave(m, 0)
        if torch.is_tensor(beta) and beta.ndim > 0:
            beta = beta.reshape(-1)
        s = self(x.repeat_interleave(m, 0), rep, weights.reshape(b * m, -1), beta)
        return s.view(b, m, -1)

    def _check(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.config.n_features:
            raise ValueError(f"x must be [batch, list, {self.config.n_features}], got {tuple(x.shape)}")
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return mask.bool()
