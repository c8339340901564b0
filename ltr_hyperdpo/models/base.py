"""What every scorer shares: the architecture config (user-facing ``ModelConfig``, data-sized ``ScorerConfig``) and
the ``Scorer`` module interface ``forward(x [batch, list, features], mask, weights, beta) -> [batch, list]``."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import nn

from ..config import FieldError, Validated, opt
from .conditioning import condition_vector

KINDS = ("mlp", "transformer")
CONDITIONINGS = ("auto", "film", "lowrank", "concat", "none")
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


@dataclass
class ModelConfig(Validated):
    """The scorer architecture a user chooses (the ``model`` section); sizes come from the data."""

    kind: Literal["mlp", "transformer"] = "mlp"
    hidden: list[int] = opt(factory=lambda: [256, 128], items_ge=1)
    dropout: float = opt(0.1, ge=0.0, lt=1.0)
    # auto: lowrank for the MLP (the best fronts in benchmarks/reproduce.py), hyper prompts (film) for the transformer
    conditioning: Literal["auto", "film", "lowrank", "concat", "none"] = "auto"
    rank: int = opt(16, ge=1)  # of the low-rank weight deltas (conditioning: lowrank)
    # lowrank MLP: each objective's output head is a tower with this many hidden units, s_k(x) = v_kᵀ relu(U_k h(x)),
    # instead of a linear map of the last hidden layer (0); the score stays affine in w. None (auto): 32 when only the
    # output layer is conditioned (a linear head on a shared trunk is the bottleneck at the vertices), else 0
    head_hidden: int | None = opt(None, ge=0)
    d_model: int = opt(64, ge=1)
    n_layers: int = opt(2, ge=1)
    n_heads: int = opt(4, ge=1)
    ff_mult: int = opt(2, ge=1)
    d_ff: int | None = opt(None, ge=1)  # the transformer's feed-forward width (default ff_mult x d_model)
    activation: str = "relu"  # between the MLP's hidden layers
    input_norm: bool = False  # LayerNorm on the input features
    output_activation: str | None = None  # on the final score (e.g. tanh, as some allRank configs use)
    n_prompts: int = opt(4, ge=0)
    cond_hidden: int = opt(64, ge=1)
    temperature_conditioned: bool = False
    freeze_backbone: bool = False  # stage 2 trains the conditioning network only (FiLM / hyper prompts)
    # MLP: only the last N linear layers (the output layer counts as one) are conditioned; the layers before them are
    # a trunk computed once per list and shared by every weight it is scored under. 0: every layer. None (auto): 1 for
    # the low-rank MLP (scores affine in w, as the optimal DPO policy of a linearly scalarised reward is), every
    # layer otherwise (FiLM, a temperature-conditioned model: β rescales, it does not add)
    conditioned_layers: int | None = opt(None, ge=0)

    def _low_rank_mlp(self) -> bool:
        """Whether this is the MLP with low-rank conditioning (``auto`` counted as what it resolves to)."""
        return self.kind == "mlp" and self.conditioning in ("lowrank", "auto")

    def resolved_conditioned_layers(self) -> int:
        """``conditioned_layers`` with auto (None) resolved: 1 for the low-rank MLP that is not
        temperature-conditioned, else 0 (every layer)."""
        if self.conditioned_layers is not None:
            return self.conditioned_layers
        return 1 if self._low_rank_mlp() and not self.temperature_conditioned else 0

    def output_conditioned(self) -> bool:
        """Whether only the low-rank MLP's output layer is conditioned: scores affine in w,
        ``s_0(x) + Σ_k w_k s_k(x)``."""
        return self._low_rank_mlp() and self.resolved_conditioned_layers() == 1

    def resolved_head_hidden(self) -> int:
        """``head_hidden`` with auto (None) resolved: 32 for the low-rank MLP conditioned in its output layer only,
        else 0 (a linear head per objective)."""
        if self.head_hidden is not None:
            return self.head_hidden
        return 32 if self.output_conditioned() else 0

    def resolved_fields(self) -> dict:
        """The auto fields a scorer file records resolved (so it states what it is)."""
        return {"conditioned_layers": self.resolved_conditioned_layers(), "head_hidden": self.resolved_head_hidden()}

    def check(self) -> None:
        if self.conditioning == "auto":
            self.conditioning = "lowrank" if self.kind == "mlp" else "film"
        for key in ("activation", "output_activation"):
            value = getattr(self, key)
            if value is not None:
                try:
                    setattr(self, key, activation_name(value))
                except ValueError as e:
                    raise FieldError(key, str(e)) from None
        if self.kind == "mlp" and not self.hidden:
            raise FieldError("hidden", "an MLP needs at least one hidden layer")
        if self.kind == "transformer" and self.conditioning == "lowrank":
            raise FieldError("conditioning", "lowrank conditions the MLP; the transformer uses hyper prompts (film)")
        if self.freeze_backbone and (self.conditioning not in ("film", "lowrank") if self.kind == "mlp"
                                     else self.n_prompts < 1):
            raise FieldError("freeze_backbone", "needs a separate conditioning network to train: FiLM or lowrank "
                                                "for the MLP, n_prompts >= 1 for the transformer")
        if self.conditioned_layers:
            if self.kind != "mlp" or self.conditioning not in ("film", "lowrank"):
                raise FieldError("conditioned_layers", "applies to the MLP with lowrank or film conditioning")
            if self.conditioned_layers > len(self.hidden) + 1:
                raise FieldError("conditioned_layers", f"{self.conditioned_layers} is more than the MLP's "
                                                       f"{len(self.hidden) + 1} linear layers")
            if self.conditioning == "film" and self.conditioned_layers < 2:
                raise FieldError("conditioned_layers", "FiLM conditions hidden layers, not the output layer: "
                                                       "use 2 or more")
        if self.head_hidden and (self.kind != "mlp" or self.conditioning != "lowrank"):
            raise FieldError("head_hidden", "per-objective output towers belong to the MLP with lowrank conditioning")
        if self.kind == "transformer" and self.d_model % self.n_heads:
            raise FieldError("d_model", f"{self.d_model} must be divisible by n_heads {self.n_heads}")


@dataclass
class ScorerConfig(ModelConfig):
    """A :class:`ModelConfig` with the sizes taken from the data (saved with every scorer).

    ``conditioned_layers`` None here means every layer and ``head_hidden`` None linear heads (scorer files written
    before the fields existed)."""

    n_features: int = opt(0, ge=0)
    n_objectives: int = opt(1, ge=1)

    @classmethod
    def for_data(cls, model: ModelConfig, n_features: int, n_objectives: int) -> ScorerConfig:
        """The scorer configuration of ``model`` for data of this width and number of objectives (auto values
        resolved: a scorer file states what it is)."""
        return cls(**{**asdict(model), "n_features": n_features, "n_objectives": n_objectives,
                      **model.resolved_fields()})

    def resolved_conditioned_layers(self) -> int:
        """A scorer's own value (None: a file written before the field existed, every layer conditioned)."""
        return self.conditioned_layers or 0

    def resolved_head_hidden(self) -> int:
        """A scorer's own value (None: a file written before the field existed, linear heads)."""
        return self.head_hidden or 0

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
