"""A study's search space and what its trials maximise.

**The space.** A base config may hold a ``search_space:`` section: Optuna distributions by dotted config key,

.. code-block:: yaml

    search_space:
      hyperdpo.lr: {float: [3.0e-4, 1.0e-2], log: true}
      method.params.alpha: {float: [0.2, 2.0], log: true}
      hyperdpo.epochs: {int: [5, 20]}
      model.hidden: {categorical: [[64, 32], [128, 64]]}

Only those keys are searched (each trial's parameter is named by its key); every other value of the base config is
kept. Without a ``search_space``, the default space is searched -- learning rate, α (one-model methods), β (or the β
range of a temperature-conditioned model), the model size, the prompt length (transformer) -- less every key the base
config sets itself: a value the user wrote is kept, not searched over (give a ``search_space`` to search it).

**The objectives.** By default a trial's value is the best validation hypervolume of its run (maximised, with
median pruning). With targets (``--target relevance@1,0,0 --target pagerank@0,1,0``), a trial's values are the
validation NDCG@k of each target's objective at the target's weight, after training: a multi-objective study, whose
Pareto trials ``tune`` prints.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import optuna

from ..errors import ConfigError
from ..training import RunConfig, method_parameters, upgrade

#: the config keys the default space searches (each left alone when the base config sets it)
DEFAULT_SPACE_KEYS = ("hyperdpo.lr", "method.params.alpha", "hyperdpo.beta", "hyperdpo.beta_range", "model.hidden",
                      "model.d_model", "model.n_layers", "model.n_prompts")
KINDS = ("float", "int", "categorical")


def _has(d: dict, key: str) -> bool:
    node: Any = d
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _set(d: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = d
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"search_space.{key}: {part} is not a section of the config")
    node[parts[-1]] = value


@dataclass(frozen=True)
class Dimension:
    """One searched config key: a float or int range (``log``, ``step``) or a list of choices."""

    key: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None

    def sample(self, trial: optuna.Trial) -> Any:
        if self.kind == "float":
            return trial.suggest_float(self.key, self.low, self.high, log=self.log, step=self.step)  # type: ignore[arg-type]
        if self.kind == "int":
            return trial.suggest_int(self.key, int(self.low), int(self.high), log=self.log,  # type: ignore[arg-type]
                                     step=int(self.step or 1))
        # Optuna's choices are scalars: a list-valued choice (model.hidden) is searched by its index
        choices = list(self.choices or ())
        if all(isinstance(c, (int, float, str, bool)) or c is None for c in choices):
            return trial.suggest_categorical(self.key, choices)
        return copy.deepcopy(choices[trial.suggest_categorical(self.key + "#", list(range(len(choices))))])

    def example(self) -> Any:
        return (self.choices or (None,))[0] if self.kind == "categorical" else (
            int(self.low) if self.kind == "int" else self.low)  # type: ignore[arg-type]


class SearchSpace:
    """The ``search_space`` section, parsed and checked (each key against the run config, naming it)."""

    def __init__(self, dims: list[Dimension]):
        self.dims = dims

    @classmethod
    def parse(cls, section: Any, base: dict) -> SearchSpace:
        if not isinstance(section, dict) or not section:
            raise ConfigError("search_space: expected a mapping of dotted config keys to distributions")
        dims = []
        for key, spec in section.items():
            where = f"search_space.{key}"
            if not isinstance(spec, dict):
                raise ConfigError(f"{where}: expected {{float: [low, high]}}, {{int: [low, high]}} or "
                                  f"{{categorical: [choices]}}, got {spec!r}")
            kinds = [k for k in KINDS if k in spec]
            extra = set(spec) - set(KINDS) - {"log", "step"}
            if len(kinds) != 1 or extra:
                raise ConfigError(f"{where}: give exactly one of float, int, categorical (and optionally log, "
                                  f"step), got {sorted(spec)}")
            kind = kinds[0]
            if kind == "categorical":
                choices = spec[kind]
                if not isinstance(choices, list) or not choices:
                    raise ConfigError(f"{where}: categorical needs a non-empty list of choices")
                dims.append(Dimension(str(key), kind, choices=tuple(choices)))
                continue
            rng = spec[kind]
            if (not isinstance(rng, list) or len(rng) != 2 or not all(isinstance(v, (int, float)) for v in rng)
                    or not rng[0] < rng[1]):
                raise ConfigError(f"{where}: {kind} needs [low, high] with low < high, got {rng!r}")
            log = bool(spec.get("log", False))
            if log and rng[0] <= 0:
                raise ConfigError(f"{where}: a log range needs low > 0, got {rng[0]}")
            dims.append(Dimension(str(key), kind, float(rng[0]), float(rng[1]), log, spec.get("step")))
        space = cls(dims)
        probe = upgrade(copy.deepcopy(base))
        for d in dims:  # every key must be a config key that takes such a value: checked once, before any trial
            trial = copy.deepcopy(probe)
            _set(trial, d.key, d.example())
            try:
                RunConfig.from_dict(trial)
            except ConfigError as e:
                raise ConfigError(f"search_space.{d.key}: {e}") from None
        return space

    def suggest(self, trial: optuna.Trial, base: dict) -> dict:
        c = upgrade(base)
        for d in self.dims:
            _set(c, d.key, d.sample(trial))
        return c


def suggest(trial: optuna.Trial, base: dict, space: SearchSpace | None = None) -> dict:
    """A config dict for this trial: ``base`` with the searched values set (the given space, or the default space
    less the keys ``base`` sets; see the module docstring)."""
    if space is not None:
        return space.suggest(trial, base)
    c = upgrade(base)
    given = {k for k in DEFAULT_SPACE_KEYS if _has(c, k)}
    h = c.setdefault("hyperdpo", {})
    m = c.setdefault("model", {})
    if "hyperdpo.lr" not in given:
        h["lr"] = trial.suggest_float("lr", 3e-4, 1e-2, log=True)
    if "alpha" in method_parameters(c["method"]["name"]) and "method.params.alpha" not in given:
        c["method"]["params"]["alpha"] = trial.suggest_float("alpha", 0.2, 2.0, log=True)
    if m.get("temperature_conditioned"):
        if "hyperdpo.beta_range" not in given:
            lo = trial.suggest_float("beta_lo", 0.05, 1.0, log=True)
            hi = lo * trial.suggest_float("beta_span", 2.0, 20.0, log=True)
            h["beta_range"] = [lo, hi]
            h["beta"] = math.sqrt(lo * hi)  # validated and stored inside the trained range (its geometric mean)
    elif "hyperdpo.beta" not in given:
        h["beta"] = trial.suggest_float("beta", 0.1, 5.0, log=True)
    if m.get("kind", "mlp") == "transformer":
        if "model.d_model" not in given:
            m["d_model"] = trial.suggest_categorical("d_model", [32, 64, 128])
        if "model.n_layers" not in given:
            m["n_layers"] = trial.suggest_int("n_layers", 1, 3)
        if "model.n_prompts" not in given:
            m["n_prompts"] = trial.suggest_int("n_prompts", 1, 8)
    elif "model.hidden" not in given:
        width = trial.suggest_categorical("width", [64, 128, 256])
        m["hidden"] = [width, width // 2]
    return c


@dataclass(frozen=True)
class TargetSpec:
    """A study objective: the validation NDCG@k of ``objective`` at weight ``w``."""

    objective: str
    w: tuple[float, ...]

    @property
    def label(self) -> str:
        return f"{self.objective}@{','.join(f'{v:g}' for v in self.w)}"


def parse_targets(specs: list[str] | None) -> list[TargetSpec]:
    """``OBJECTIVE@W1,W2,...`` strings (``--target``)."""
    out = []
    for s in specs or []:
        name, sep, ws = s.partition("@")
        try:
            w = tuple(float(v) for v in ws.split(","))
        except ValueError:
            w = ()
        if not sep or not name or not w or any(v < 0 or not math.isfinite(v) for v in w) or sum(w) <= 0:
            raise ConfigError(f"--target {s!r}: expected OBJECTIVE@W1,W2,... (weights >= 0, not all 0), e.g. "
                              f"relevance@1,0,0")
        out.append(TargetSpec(name, w))
    return out
