"""Scorers ``[batch, list, features] -> [batch, list]``, optionally conditioned on (w, β).

* :class:`MLPScorer`: per-document MLP; conditioning by FiLM (per-layer scale and shift from (w, β)) or by
  concatenating (w, β) to the input — the paper's "weight-conditioned" model. The conditioning parts start as a
  no-op, so a conditioned copy of a trained reference scores exactly like it before fine-tuning.
* :class:`TransformerScorer`: context-aware ranker (self-attention over the list, no positional encoding, so scores
  are permutation-equivariant) with **Hyper Prompt Tuning**: an MLP maps (w, β) to P prompt embeddings prepended to
  the documents; prompts attend and are attended to but get no score. The backbone is unchanged, so a pretrained
  ranker can be conditioned.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, cast

import torch
from torch import nn

from ..config import FieldError, Validated, opt
from .conditioning import ConditionNet, condition_vector

KINDS = ("mlp", "transformer")
CONDITIONINGS = ("film", "concat", "none")


@dataclass
class ModelConfig(Validated):
    """The scorer architecture a user chooses (the ``model`` section); sizes come from the data."""

    kind: Literal["mlp", "transformer"] = "mlp"
    hidden: list[int] = opt(factory=lambda: [256, 128], items_ge=1)
    dropout: float = opt(0.1, ge=0.0, lt=1.0)
    conditioning: Literal["film", "concat", "none"] = "film"
    d_model: int = opt(64, ge=1)
    n_layers: int = opt(2, ge=1)
    n_heads: int = opt(4, ge=1)
    ff_mult: int = opt(2, ge=1)
    n_prompts: int = opt(4, ge=0)
    cond_hidden: int = opt(64, ge=1)
    temperature_conditioned: bool = False

    def check(self) -> None:
        if self.kind == "mlp" and not self.hidden:
            raise FieldError("hidden", "an MLP needs at least one hidden layer")
        if self.kind == "transformer" and self.d_model % self.n_heads:
            raise FieldError("d_model", f"{self.d_model} must be divisible by n_heads {self.n_heads}")


@dataclass
class ScorerConfig(ModelConfig):
    """A :class:`ModelConfig` with the sizes taken from the data (saved with every scorer)."""

    n_features: int = opt(0, ge=0)
    n_objectives: int = opt(1, ge=1)

    @classmethod
    def for_data(cls, model: ModelConfig, n_features: int, n_objectives: int) -> ScorerConfig:
        """The scorer configuration of ``model`` for data of this width and number of objectives."""
        return cls(**{**asdict(model), "n_features": n_features, "n_objectives": n_objectives})

    @property
    def cond_dim(self) -> int:
        return self.n_objectives + int(self.temperature_conditioned)

    def to_dict(self) -> dict:
        return asdict(self)


class Scorer(nn.Module):
    """Common interface: ``forward(x, mask, weights=None, beta=None) -> scores [batch, list]``."""

    config: ScorerConfig

    _conditioned: bool = False

    @property
    def conditioned(self) -> bool:
        """Whether the scorer takes (w, β) as input."""
        return self._conditioned

    def _cond(self, x: torch.Tensor, weights, beta) -> torch.Tensor | None:
        if not self.conditioned:
            return None
        if weights is None:
            raise ValueError("this scorer is weight-conditioned: pass weights [batch, objectives]")
        if weights.ndim == 1:
            weights = weights[None, :].expand(x.shape[0], -1)
        if weights.shape != (x.shape[0], self.config.n_objectives):
            raise ValueError(f"weights must be [batch, {self.config.n_objectives}], got {tuple(weights.shape)}")
        return condition_vector(weights.to(x.dtype), beta, self.config.temperature_conditioned)

    def _check(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.config.n_features:
            raise ValueError(f"x must be [batch, list, {self.config.n_features}], got {tuple(x.shape)}")
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        return mask.bool()


class MLPScorer(Scorer):
    """Per-document MLP with FiLM / concat conditioning on (w, β)."""

    def __init__(self, config: ScorerConfig, conditioned: bool = True):
        super().__init__()
        self.config = config
        self._conditioned = conditioned and config.conditioning != "none"
        extra = config.cond_dim if (self._conditioned and config.conditioning == "concat") else 0
        dims = [config.n_features] + list(config.hidden)
        self.layers = nn.ModuleList(nn.Linear(a + (extra if i == 0 else 0), b)
                                    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)))
        self.out = nn.Linear(dims[-1], 1)
        self.drop = nn.Dropout(config.dropout)
        if self._conditioned and config.conditioning == "film":
            self.film = ConditionNet(config.cond_dim, config.cond_hidden, 2 * sum(config.hidden))
        if extra:
            with torch.no_grad():
                cast(nn.Linear, self.layers[0]).weight[:, config.n_features:].zero_()

    def forward(self, x, mask=None, weights=None, beta=None):
        mask = self._check(x, mask)
        c = self._cond(x, weights, beta)
        h = x
        if c is not None and self.config.conditioning == "concat":
            h = torch.cat([h, c[:, None, :].expand(-1, x.shape[1], -1)], dim=-1)
        film = self.film(c) if (c is not None and self.config.conditioning == "film") else None
        off = 0
        for layer in self.layers:
            h = layer(h)
            if film is not None:
                n = h.shape[-1]
                gamma = film[:, off:off + n]
                shift = film[:, sum(self.config.hidden) + off:sum(self.config.hidden) + off + n]
                h = h * (1 + gamma[:, None, :]) + shift[:, None, :]
                off += n
            h = self.drop(torch.relu(h))
        s = self.out(h).squeeze(-1)
        return torch.where(mask, s, torch.zeros_like(s))


class TransformerScorer(Scorer):
    """Self-attention over the documents of a list, with hyper prompts from (w, β)."""

    def __init__(self, config: ScorerConfig, conditioned: bool = True):
        super().__init__()
        self.config = config
        self._conditioned = conditioned and config.n_prompts > 0 and config.conditioning != "none"
        d = config.d_model
        self.inp = nn.Sequential(nn.Linear(config.n_features, d), nn.LayerNorm(d))
        layer = nn.TransformerEncoderLayer(d, config.n_heads, config.ff_mult * d, config.dropout,
                                           batch_first=True, norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, config.n_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d)
        self.head = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Linear(d, 1))
        if self._conditioned:
            # not zero-initialised: zero prompts would still change attention; small random prompts are learnt
            self.prompt_net = ConditionNet(config.cond_dim, config.cond_hidden, config.n_prompts * d, zero_init=False)
            with torch.no_grad():
                self.prompt_net.last_layer().weight.mul_(0.1)

    def forward(self, x, mask=None, weights=None, beta=None):
        mask = self._check(x, mask)
        c = self._cond(x, weights, beta)
        h = self.inp(x)
        pad = ~mask
        # a list with no real item would make attention rows all -inf: let it attend to itself (scores are masked)
        empty = pad.all(dim=1, keepdim=True)
        pad = pad & ~empty
        p = 0
        if c is not None:
            p = self.config.n_prompts
            prompts = self.prompt_net(c).view(x.shape[0], p, self.config.d_model)
            h = torch.cat([prompts, h], dim=1)
            pad = torch.cat([torch.zeros(x.shape[0], p, dtype=torch.bool, device=x.device), pad], dim=1)
        h = self.norm(self.encoder(h, src_key_padding_mask=pad))
        s = self.head(h[:, p:]).squeeze(-1)
        return torch.where(mask, s, torch.zeros_like(s))


def build_scorer(config: ScorerConfig, conditioned: bool = True) -> Scorer:
    """A scorer of ``config.kind``; ``conditioned=False`` builds the plain (reference) variant."""
    cls = MLPScorer if config.kind == "mlp" else TransformerScorer
    return cls(config, conditioned=conditioned)


CONDITIONING_FIELDS = ("conditioning", "n_prompts", "cond_hidden", "temperature_conditioned")


def conditioned_copy(reference: Scorer, model: ModelConfig | None = None,
                     n_objectives: int | None = None) -> Scorer:
    """A weight-conditioned scorer whose backbone starts from the reference's parameters.

    The backbone (kind, sizes) is the reference's; the conditioning fields (``conditioning``, ``n_prompts``,
    ``cond_hidden``, ``temperature_conditioned``) come from ``model`` and the number of objectives from
    ``n_objectives`` when given.
    """
    values = reference.config.to_dict()
    if model is not None:
        values.update({f: getattr(model, f) for f in CONDITIONING_FIELDS})
    if n_objectives is not None:
        values["n_objectives"] = n_objectives
    cfg = ScorerConfig(**values)
    policy = build_scorer(cfg, conditioned=True)
    state = policy.state_dict()
    for k, v in reference.state_dict().items():
        if k not in state:
            raise RuntimeError(f"reference parameter {k} is not in the conditioned model")
        if state[k].shape == v.shape:
            state[k] = v.clone()
        elif k == "layers.0.weight":  # concat conditioning: extra input columns stay zero
            state[k] = torch.zeros_like(state[k])
            state[k][:, : v.shape[1]] = v
        else:
            raise RuntimeError(f"shape mismatch for {k}: {tuple(v.shape)} vs {tuple(state[k].shape)}")
    policy.load_state_dict(state)
    return policy
