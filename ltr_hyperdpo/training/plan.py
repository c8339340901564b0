"""What a run trains, resolved: ``resolve(config, data_summary) -> RunPlan``, written as ``RUN/plan.json``.

A :class:`~ltr_hyperdpo.training.config.RunConfig` is the user's intent and may say ``auto``; the plan has every
value: the split files, the scorer's whole architecture, the reference and stage-2 settings, the method with its
parameters and each parameter group's learning rate, the validation and test weights and the members' weights. Each
``auto`` value comes from one rule of :mod:`.auto` (``plan.auto`` lists the keys). ``resolve`` is pure (no files,
no clock); :func:`locate_splits` is the one step that looks at the file system. ``--resume`` compares plans.
"""
from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import diff_keys, read_structured_file
from ..core.grids import validation_grid, weight_grid
from ..data.textio import split_files
from ..errors import ConfigError, RunDirError
from ..methods.registry import get_method
from ..models.base import ScorerConfig, activation_name
from ..utils.checkpoint import load as load_checkpoint
from ..utils.io import atomic_write_json
from .auto import AUTO_RULES, Facts
from .config import LEGACY_METHOD_KEYS, RunConfig

#: the file of a run directory that holds its plan
PLAN_NAME = "plan.json"
#: the layout of plan.json (raised when a field changes meaning)
PLAN_FORMAT = 1
#: plan sections under the name of the config section they come from
CONFIG_NAMES = {"scorer": "model", "stage2": "hyperdpo"}


@dataclass(frozen=True, kw_only=True)
class DataSummary:
    """What ``resolve`` needs to know of the data: the split files to read and the training split's sizes."""

    train: str
    vali: str | None
    test: str | None
    n_features: int
    n_objectives: int
    objective_names: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class DataPlan:
    """The splits read and how lists are batched."""

    train: str
    vali: str | None
    test: str | None
    objectives: Any
    objective_names: list[str]
    n_features: int
    n_objectives: int
    normalize: bool
    vali_fraction: float | None  # the share held out of the training split; None when data.vali is given
    batch_size: int
    slate_length: int


@dataclass(frozen=True, kw_only=True)
class ReferencePlan:
    """Stage 1 (loss under our name, allRank's aliases resolved)."""

    loss: str
    loss_args: dict
    epochs: int
    lr: float
    weight_decay: float
    patience: int
    grad_clip: float
    lr_scheduler: Any
    checkpoint: str | None


@dataclass(frozen=True, kw_only=True)
class Stage2Plan:
    """The stage-2 settings every method shares."""

    epochs: int
    lr: float
    weight_decay: float
    beta: float
    beta_range: list[float]
    top_k: int | None
    tie_break: str
    patience: int
    grad_clip: float
    lr_scheduler: Any


@dataclass(frozen=True, kw_only=True)
class MethodPlan:
    """The method, its resolved parameters, each optimizer group's learning rate, and its members' weights (a
    multi-run method; ``None`` for one model)."""

    name: str
    params: dict
    learning_rates: dict[str, float]
    member_weights: list[list[float]] | None


@dataclass(frozen=True, kw_only=True)
class EvalPlan:
    """The weights a run validates and is tested at, and how NDCG and hypervolume are computed."""

    ks: list[int]
    blank_policy: str
    ref_point: Any
    val_weights: list[list[float]]
    grid_method: str
    grid_points: int
    test_weights: list[list[float]]


@dataclass(frozen=True, kw_only=True)
class RunPlan:
    """Everything a run trains with, resolved (``plan.json``)."""

    format: int = PLAN_FORMAT
    data: DataPlan
    scorer: ScorerConfig
    reference: ReferencePlan
    stage2: Stage2Plan
    method: MethodPlan
    eval: EvalPlan
    seed: int
    precision: str
    auto: list[str] = field(default_factory=list)  # keys resolved by a rule of training.auto
    legacy: bool = False  # rebuilt from an older run directory's config.json (no plan.json was written)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> RunPlan:
        """A plan read back from ``plan.json``."""
        return cls(format=d.get("format", PLAN_FORMAT), data=DataPlan(**d["data"]),
                   scorer=ScorerConfig.from_saved(d["scorer"]), reference=ReferencePlan(**d["reference"]),
                   stage2=Stage2Plan(**d["stage2"]), method=MethodPlan(**d["method"]), eval=EvalPlan(**d["eval"]),
                   seed=d["seed"], precision=d["precision"], auto=list(d.get("auto", [])),
                   legacy=bool(d.get("legacy", False)))

    def method_params(self) -> Any:
        """The method's ``Params`` object of this plan."""
        return get_method(self.method.name).Params(**self.method.params)


def locate_splits(config: RunConfig) -> tuple[str, str | None, str | None]:
    """``(train, vali, test)`` files of ``data``: a folder given as ``data.train`` is read in allRank's layout
    (``train``/``vali``/``test`` with ``.txt``, ``.parquet`` or ``.arrow``; files named in ``data.vali`` /
    ``data.test`` win). The one step of planning that looks at the file system."""
    d = config.data
    if not d.train:
        raise ConfigError("config key 'data.train': required (the training split)")
    train, vali, test = d.train, d.vali, d.test
    if Path(d.train).is_dir():
        found = split_files(d.train)
        if "train" not in found:
            raise ConfigError(f"config key 'data.train': {d.train} is a folder without a train split (train.txt, "
                              f"train.parquet or train.arrow)")
        train, vali, test = found["train"], vali or found.get("vali"), test or found.get("test")
    if not vali and d.vali_fraction <= 0:
        raise ConfigError("config key 'data.vali_fraction': must be > 0 when no data.vali split is given (a "
                          "validation split is needed for early stopping)")
    return train, vali, test


def _check_sizes(config: RunConfig, params: Any, k: int, source: str) -> None:
    """Values whose size depends on K, once K is known (before any training)."""
    alpha = getattr(params, "alpha", None)
    if isinstance(alpha, list) and len(alpha) != k:
        raise ConfigError(f"config key 'method.params.alpha': {len(alpha)} values for the {k} objective(s) of "
                          f"{source}; give one value, or one per objective")
    r = config.eval.ref_point
    if isinstance(r, list) and len(r) not in (1, k):
        raise ConfigError(f"config key 'eval.ref_point': {len(r)} values for the {k} objective(s) of {source}; give "
                          f"one value, or one per objective")
    if config.eval.val_grid is not None and k != 2:
        raise ConfigError(f"config key 'eval.val_grid': applies to two objectives (points on the segment); the {k} "
                          f"objective(s) of {source} are validated at the vertices, the centroid and the pairwise "
                          f"midpoints; remove it")


def _scorer(config: RunConfig, data: DataSummary, auto: list[str]) -> ScorerConfig:
    m = config.model

    def pick(key: str, given: Any, facts: Facts) -> Any:
        if given is not None and given != "auto":
            return given
        auto.append(f"model.{key}")
        return AUTO_RULES[f"model.{key}"](facts)

    facts = Facts(n_objectives=data.n_objectives, kind=m.kind, temperature_conditioned=m.temperature_conditioned,
                  d_model=m.d_model)
    given = "prompts" if m.kind == "transformer" and m.conditioning == "film" else m.conditioning
    conditioning = pick("conditioning", given, facts)
    facts = dataclasses.replace(facts, conditioning=conditioning)
    film_like = m.kind == "mlp" and conditioning in ("film", "lowrank")
    layers = pick("conditioned_layers", m.conditioned_layers, facts) if film_like else 0
    facts = dataclasses.replace(facts, conditioned_layers=layers)
    return ScorerConfig(
        kind=m.kind, n_features=data.n_features, n_objectives=data.n_objectives, hidden=list(m.hidden),
        dropout=m.dropout, conditioning=conditioning,
        rank=pick("rank", m.rank, facts) if conditioning == "lowrank" else 0,
        head_hidden=pick("head_hidden", m.head_hidden, facts) if conditioning in ("lowrank", "prompts") else 0,
        conditioned_layers=layers, d_model=m.d_model, n_layers=m.n_layers, n_heads=m.n_heads,
        d_ff=pick("d_ff", m.d_ff, facts) if m.kind == "transformer" else 2 * m.d_model,
        activation=activation_name(m.activation),
        output_activation=activation_name(m.output_activation) if m.output_activation else None,
        input_norm=m.input_norm, n_prompts=m.n_prompts, cond_hidden=m.cond_hidden,
        temperature_conditioned=m.temperature_conditioned, freeze_backbone=m.freeze_backbone)


def resolve(config: RunConfig, data: DataSummary) -> RunPlan:
    """The plan of ``config`` on data of this summary: every ``auto`` resolved by :data:`.auto.AUTO_RULES`, every
    setting whose size depends on the number of objectives checked, the method's parameters validated. Pure."""
    k = data.n_objectives
    source = data.train or "the training data"
    auto: list[str] = []
    scorer = _scorer(config, data, auto)
    facts = Facts(n_objectives=k, kind=scorer.kind, conditioning=scorer.conditioning,
                  temperature_conditioned=scorer.temperature_conditioned,
                  conditioned_layers=scorer.conditioned_layers, d_model=scorer.d_model)
    method = get_method(config.method.name)
    raw = config.method.validated_params()
    _check_sizes(config, raw, k, source)
    updates = {}
    for f in dataclasses.fields(raw):
        rule = AUTO_RULES.get(f"method.params.{f.name}")
        if getattr(raw, f.name) is None and rule is not None:
            updates[f.name] = rule(facts)
            auto.append(f"method.params.{f.name}")
    params = dataclasses.replace(raw, **updates)
    h = config.hyperdpo
    stage2 = Stage2Plan(epochs=h.epochs, lr=h.lr, weight_decay=h.weight_decay, beta=h.beta,
                        beta_range=list(h.beta_range), top_k=h.top_k, tie_break=h.tie_break, patience=h.patience,
                        grad_clip=h.grad_clip, lr_scheduler=h.lr_scheduler)
    members = method.training_weights(k, params)
    e = config.eval
    grid_method = e.grid_method if e.grid_method != "auto" else AUTO_RULES["eval.grid_method"](facts)
    grid_points = e.grid if e.grid is not None else AUTO_RULES["eval.grid"](facts)
    val_points = e.val_grid if e.val_grid is not None else AUTO_RULES["eval.val_grid"](facts)
    auto += [f"eval.{key}" for key, v in (("grid_method", e.grid_method if e.grid_method != "auto" else None),
                                          ("grid", e.grid), ("val_grid", e.val_grid)) if v is None]
    loss, loss_args = config.reference.canonical_loss()
    r = config.reference
    d = config.data
    return RunPlan(
        data=DataPlan(train=data.train, vali=data.vali, test=data.test, objectives=d.objectives,
                      objective_names=list(data.objective_names), n_features=data.n_features, n_objectives=k,
                      normalize=d.normalize, vali_fraction=None if data.vali else d.vali_fraction,
                      batch_size=d.batch_size, slate_length=d.slate_length),
        scorer=scorer,
        reference=ReferencePlan(loss=loss, loss_args=dict(loss_args), epochs=r.epochs, lr=r.lr,
                                weight_decay=r.weight_decay, patience=r.patience, grad_clip=r.grad_clip,
                                lr_scheduler=r.lr_scheduler, checkpoint=r.checkpoint),
        stage2=stage2,
        method=MethodPlan(name=method.name, params=dataclasses.asdict(params),
                          learning_rates=method.learning_rates(stage2, params, scorer),
                          member_weights=None if members is None else np.asarray(members, float).tolist()),
        eval=EvalPlan(ks=list(e.ks), blank_policy=e.blank_policy, ref_point=e.ref_point,
                      val_weights=validation_grid(k, val_points).tolist(), grid_method=grid_method,
                      grid_points=grid_points,
                      test_weights=weight_grid(k, grid_points, method=grid_method, seed=config.seed).tolist()),
        seed=config.seed, precision=config.precision, auto=auto)


def write_plan(run_dir: Path, plan: RunPlan) -> None:
    atomic_write_json(Path(run_dir) / PLAN_NAME, plan.to_dict())


def load_plan(run_dir: str | Path) -> RunPlan | None:
    """The plan of a run directory, ``None`` when it has none (a run from before plans: see :func:`legacy_plan`)."""
    p = Path(run_dir) / PLAN_NAME
    return RunPlan.from_dict(read_structured_file(p)) if p.exists() else None


def run_plan(run_dir: str | Path) -> RunPlan:
    """The plan of a finished run: ``plan.json``, or for a run from before plans the legacy shim: its saved config
    resolved under today's rules with its data sizes (``data_state.json``), the scorer as its model file records
    it (``legacy: true``)."""
    run_dir = Path(run_dir)
    plan = load_plan(run_dir)
    if plan is not None:
        return plan
    cfg = saved_config(run_dir)
    state = read_structured_file(run_dir / "data_state.json")
    names = tuple(o.get("name", "") for o in state.get("objectives", []))
    d = cfg.data
    plan = resolve(cfg, DataSummary(train=d.train, vali=d.vali, test=d.test, n_features=int(state["n_features"]),
                                    n_objectives=int(state["n_objectives"]), objective_names=names))
    model = run_dir / "model.pt" if (run_dir / "model.pt").exists() else run_dir / "reference.pt"
    scorer = ScorerConfig.from_saved(load_checkpoint(model)["config"]) if model.exists() else plan.scorer
    return dataclasses.replace(plan, scorer=scorer, legacy=True)


def saved_config(run_dir: str | Path) -> RunConfig:
    """``RUN/config.json`` as a :class:`RunConfig`; an older layout is read leniently and without warnings (a
    method parameter the method did not take was saved by older versions and is dropped)."""
    d = read_structured_file(Path(run_dir) / "config.json")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return RunConfig.from_dict(drop_foreign_params(d))


def drop_foreign_params(d: dict) -> dict:
    """An older config.json saved every ``hyperdpo`` key, the parameters of other methods included: keep only those
    the run's method takes (and ``model.ff_mult`` only where it applied)."""
    if not isinstance(d, dict) or not isinstance(d.get("hyperdpo"), dict):
        return d
    name = d.get("method", "hyperdpo")
    name = name.get("name", "hyperdpo") if isinstance(name, dict) else name
    taken = {f.name for f in dataclasses.fields(get_method(name).Params)}
    h = {k: v for k, v in d["hyperdpo"].items() if k not in LEGACY_METHOD_KEYS or LEGACY_METHOD_KEYS[k] in taken}
    out = {**d, "hyperdpo": h}
    m = out.get("model")
    if isinstance(m, dict):  # values older versions saved where they did not apply
        mlp = m.get("kind", "mlp") == "mlp"
        low_rank = mlp and m.get("conditioning", "auto") in ("lowrank", "auto")
        out["model"] = {k: v for k, v in m.items() if not (k in ("ff_mult", "d_ff") and mlp)
                        and not (k == "rank" and not low_rank)}
    ev = out.get("eval")
    if isinstance(ev, dict) and ev.get("val_grid") == 5:  # the old default, today's rule for K = 2
        out["eval"] = {k: v for k, v in ev.items() if k != "val_grid"}
    return out


#: method parameters a later version added to the plan -> the value every earlier version used (a saved plan without
#: the key was trained with it, so resuming it under that value changes nothing)
ADDED_METHOD_PARAMS = {"select": "hypervolume"}


def check_resume_plan(run_dir: Path, plan: RunPlan) -> None:
    """Refuse a ``--resume`` whose plan differs from the saved one, naming every key that differs."""
    saved = read_structured_file(run_dir / PLAN_NAME)
    params = saved.get("method", {}).get("params") if isinstance(saved.get("method"), dict) else None
    if isinstance(params, dict) and plan.method.params.keys() - params.keys():
        params.update({k: v for k, v in ADDED_METHOD_PARAMS.items()
                       if k in plan.method.params and k not in params})
    # ``auto`` says which values a rule filled in, not what was trained: a value set by hand to what its rule gave
    # (``--set method.params.select=hypervolume`` to resume a run begun under an older rule) trains the same run
    trained_saved, trained_now = ({key: v for key, v in d.items() if key != "auto"} for d in (saved, plan.to_dict()))
    # named as the user writes them: the plan's scorer is the model section, its stage2 the hyperdpo section
    changed = [CONFIG_NAMES.get(k.split(".")[0], k.split(".")[0]) + k[len(k.split(".")[0]):]
               for k in diff_keys(trained_saved, trained_now)]
    if changed:
        shown = ", ".join(changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        raise RunDirError(f"{run_dir}: --resume with a plan that changes the result ({shown} differ from the saved "
                          f"plan.json); resume with the same config and data, or start a new run")


__all__ = ["RunPlan", "DataPlan", "ReferencePlan", "Stage2Plan", "MethodPlan", "EvalPlan", "DataSummary",
           "resolve", "locate_splits", "write_plan", "load_plan", "run_plan", "saved_config", "check_resume_plan",
           "PLAN_NAME"]
