"""Configuration of a training run: the user's intent (validated when loaded, never mutated, saved as
``config.json``). It may hold ``auto`` values; :func:`ltr_hyperdpo.training.plan.resolve` turns it into the
:class:`~ltr_hyperdpo.training.plan.RunPlan` a run trains (``plan.json``). ``check()`` methods only validate: no
file-system access, no change to a value.

Older layouts load with a :class:`FutureWarning` for one version (:func:`upgrade`): ``method: NAME`` is
``method: {name: NAME, params: {}}``; the method parameters that sat in the ``hyperdpo`` section (``alpha``,
``weights_per_list``, ``vertex_prob``, ``cond_lr_mult``, ``members``, ``cosmos_lambda``, ``modpo_margin_scale``,
``modpo_w0_min``) move to ``method.params``; ``model.ff_mult`` becomes ``model.d_ff``.
"""
from __future__ import annotations

import copy
import math
import os
import re
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from .. import defaults
from ..config import FieldError, Validated, from_dict, load_config_file, opt, to_dict
from ..data.limits import PRESET_NAMES
from ..errors import ConfigError
from ..losses import ALLRANK_NAMES, LOSSES, get_loss, resolve_loss
from ..methods.registry import get_method, method_names
from ..models.scorers import ModelConfig
from ..runs.schedules import parse_schedule

REFERENCE_LOSSES = tuple(LOSSES)


def check_schedule(spec: str | dict | None) -> None:
    """A learning-rate schedule spec must parse (see :mod:`ltr_hyperdpo.runs.schedules`)."""
    try:
        parse_schedule(spec)
    except ValueError as e:
        raise FieldError("lr_scheduler", str(e)) from None


@dataclass(kw_only=True)
class DataConfig(Validated):
    """Splits (LETOR text or converted files, or a folder of them), objectives, and batching."""

    train: str = opt("", doc="the training split, or a folder with train/vali/test files (allRank's layout)")
    vali: str | None = None
    test: str | None = None
    objectives: str | list | None = None
    normalize: bool = True
    slate_length: int = opt(defaults.SLATE_LENGTH, ge=2)
    batch_size: int = opt(defaults.BATCH_SIZE, ge=1)
    vali_fraction: float = opt(defaults.VALI_FRACTION, ge=0.0, lt=1.0)
    cache_dir: str | None = None  # text splits are converted once to Arrow here (default: RUN_DIR/data_cache)


@dataclass(kw_only=True)
class ReferenceConfig(Validated):
    """Stage 1: the reference scorer, trained on the main objective alone (or loaded)."""

    loss: str = defaults.REFERENCE_LOSS
    loss_args: dict = field(default_factory=dict)
    epochs: int = opt(defaults.EPOCHS, ge=1)
    lr: float = opt(defaults.LR, gt=0.0)
    weight_decay: float = opt(defaults.WEIGHT_DECAY, ge=0.0)
    patience: int = opt(defaults.PATIENCE, ge=1)
    grad_clip: float = opt(defaults.GRAD_CLIP, ge=0.0)
    lr_scheduler: str | dict | None = None
    checkpoint: str | None = None

    def canonical_loss(self) -> tuple[str, dict]:
        """``(loss, loss_args)`` under our names (allRank's names and arguments are aliases of ours)."""
        try:
            loss, args, _ = resolve_loss(self.loss, self.loss_args)
        except ValueError as e:
            raise FieldError("loss_args", str(e)) from None
        return loss, args

    def check(self) -> None:
        check_schedule(self.lr_scheduler)
        loss, args = self.canonical_loss()
        if loss not in REFERENCE_LOSSES:
            raise FieldError("loss", f"expected one of {', '.join(REFERENCE_LOSSES)} (or allRank's "
                                     f"{', '.join(ALLRANK_NAMES)}), got {self.loss!r}")
        try:
            get_loss(loss, **args)
        except ValueError as e:
            raise FieldError("loss_args", str(e)) from None


@dataclass(kw_only=True)
class HyperDPOConfig(Validated):
    """Stage 2: fine-tuning against the frozen reference. Every method shares these settings; a method's own
    parameters are in ``method.params``."""

    epochs: int = opt(defaults.EPOCHS, ge=1)
    lr: float = opt(defaults.LR, gt=0.0)
    weight_decay: float = opt(defaults.WEIGHT_DECAY, ge=0.0)
    beta: float = opt(defaults.BETA, gt=0.0)
    beta_range: list[float] = opt(factory=lambda: list(defaults.BETA_RANGE), items_gt=0.0, length=2)
    top_k: int | None = opt(None, ge=1)
    tie_break: Literal["random", "first"] = "random"
    patience: int = opt(defaults.PATIENCE, ge=1)
    grad_clip: float = opt(defaults.GRAD_CLIP, ge=0.0)
    lr_scheduler: str | dict | None = None

    def check(self) -> None:
        check_schedule(self.lr_scheduler)
        if self.beta_range[0] > self.beta_range[1]:
            raise FieldError("beta_range", f"must be [low, high] with low <= high, got {self.beta_range}")


@dataclass(kw_only=True)
class MethodConfig(Validated):
    """The stage-2 method and its own parameters, in allRank's ``{name, args}`` style: ``method: modpo`` or
    ``method: {name: modpo, params: {members: 11, margin_scale: 0.5}}``."""

    name: str = "hyperdpo"
    params: dict = field(default_factory=dict)

    def check(self) -> None:
        if self.name not in method_names():
            raise FieldError("name", f"expected one of {', '.join(method_names())}, got {self.name!r}")
        self.validated_params()

    def validated_params(self) -> Any:
        """The method's ``Params`` built from ``params`` (unknown keys and bad values name ``params.KEY``)."""
        return from_dict(get_method(self.name).Params, self.params, where="params")


@dataclass(kw_only=True)
class EvalConfig(Validated):
    """Evaluation: NDCG cut-offs (the first is the front's metric), grids, blank-query policy, HV reference point."""

    ks: list[int] = opt(factory=lambda: [10, 5], items_ge=1)
    val_grid: int | None = opt(None, ge=2, doc="validation weights on the K = 2 segment; auto: training.auto")
    grid: int | None = opt(None, ge=1, doc="test-grid size; auto: training.auto.test_grid_points")
    grid_method: Literal["auto", "lattice", "random"] = "auto"
    blank_policy: Literal["skip", "zero", "one"] = "skip"
    ref_point: float | list[float] | None = None

    def check(self) -> None:
        if not self.ks:
            raise FieldError("ks", "needs at least one cut-off")


@dataclass(kw_only=True)
class LoggingConfig(Validated):
    """Experiment tracking (see :mod:`ltr_hyperdpo.runs.tracking`): per-epoch losses and validation figures, the
    plan and the front. ``tensorboard``: an event-file directory (relative: inside the run directory).
    ``mlflow``: a tracking URI, or ``default`` for a local ``mlruns/`` store in the working directory."""

    tensorboard: str | None = None
    mlflow: str | None = None
    mlflow_experiment: str = "ltr_hyperdpo"


@dataclass(kw_only=True)
class RunConfig(Validated):
    """A whole run: data, model, the two stages, the method and the evaluation (the user's intent).

    Built from a mapping (`from_dict`) or a JSON/YAML file (`load`), validated when built (an unknown key or a bad value
    is a `ConfigError` naming its dotted key) and never mutated: what a run resolves from it (every ``auto``) is its
    plan, written as ``RUN/plan.json``. Every section and key, with its default and the rule behind it, is listed in the
    README's "Training and the front".

    Parameters
    ----------
    data : DataConfig
        ``train``/``vali``/``test`` files, ``objectives`` (a preset such as ``mq2008`` or a list of specs),
        ``batch_size``, ``slate_length``, the validation split rule, caches.
    model : ModelConfig
        The scorer: ``kind`` (``mlp`` or ``transformer``), sizes, ``conditioning`` (FiLM, hyper prompts),
        ``temperature_conditioned``.
    reference : ReferenceConfig
        The reference stage (the frozen π_ref): its loss, epochs, learning rate.
    hyperdpo : HyperDPOConfig
        The method's training stage: β, epochs, learning rate, early stopping.
    eval : EvalConfig
        Cut-offs ``ks``, the test grid of weights, the hypervolume reference point, ``blank_policy``.
    method : MethodConfig
        ``name`` (``hyperdpo``, ``dpo_ls``, ``dpo_soup``, ``modpo``, ...) and its ``params``.
    logging : LoggingConfig
        ``tensorboard`` and ``mlflow`` targets (may change on ``--resume``).
    seed : int, default 0
        Seeds every random choice of the run (data order, weights sampled, initialisation).
    threads : int, optional
        torch's intra-op threads (default: torch's choice).
    progress : bool, default True
        Progress bars on stderr.
    device : str, default "auto"
        ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``; ``cuda:LOCAL_RANK`` under torchrun.
    precision : {"fp32", "bf16", "fp16-amp"}, default "fp32"
        Training precision (``fp16-amp`` needs CUDA).
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    reference: ReferenceConfig = field(default_factory=ReferenceConfig)
    hyperdpo: HyperDPOConfig = field(default_factory=HyperDPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    seed: int = opt(defaults.SEED, ge=0)
    threads: int | None = opt(None, ge=1)
    progress: bool = True
    device: str = opt("auto", doc="auto (CUDA when present), cpu, cuda or cuda:N; cuda:LOCAL_RANK under torchrun")
    precision: Literal["fp32", "bf16", "fp16-amp"] = "fp32"

    def check(self) -> None:
        """Cross-key checks run when the config is built (single keys are checked by their field's bounds).

        Raises
        ------
        ConfigError
            ``device`` is malformed, ``fp16-amp`` is asked on the CPU, or ``hyperdpo.beta`` lies outside the
            ``hyperdpo.beta_range`` of a temperature-conditioned model.
        """
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            raise FieldError("device", f"expected auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.precision == "fp16-amp" and self.device == "cpu":
            raise FieldError("precision", "fp16-amp needs a CUDA device (use bf16 on the CPU)")
        lo, hi = self.hyperdpo.beta_range
        if self.model.temperature_conditioned and not lo <= self.hyperdpo.beta <= hi:
            raise FieldError("hyperdpo.beta", f"{self.hyperdpo.beta:g} lies outside hyperdpo.beta_range [{lo:g}, "
                                              f"{hi:g}] of a temperature-conditioned model (the model is validated "
                                              f"and stored at this beta); use a value inside, e.g. the geometric "
                                              f"mean {math.sqrt(lo * hi):.4g}")

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        """Build and validate a run config from a mapping.

        Older layouts are upgraded with a ``FutureWarning`` (see ``ltr_hyperdpo.training.config.upgrade``).

        Parameters
        ----------
        d : dict
            Sections by name, e.g. ``{"data": {"train": "train.parquet"}, "hyperdpo": {"epochs": 5}}``.

        Returns
        -------
        RunConfig
            The validated config.

        Raises
        ------
        ConfigError
            An unknown key, a value of the wrong type or out of range (the message names the dotted key).
        """
        return from_dict(cls, upgrade(d))

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        """Read and validate a JSON or YAML run config; relative paths in it are relative to its folder.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.

        Returns
        -------
        RunConfig
            The validated config.

        Raises
        ------
        ConfigError
            The file cannot be read or parsed, or a value is invalid (the message names the file and key).
        """
        return cls.from_dict(load_run_config_dict(path))

    def to_dict(self) -> dict:
        """The config as a plain mapping (what ``config.json`` holds); ``RunConfig.from_dict`` reads it back equal.

        Returns
        -------
        dict
            Every section and key, defaults included.
        """
        return to_dict(self)


def method_parameters(name: str) -> tuple[str, ...]:
    """The names of a registered method's own parameters (``method.params``)."""
    return tuple(f.name for f in fields(get_method(name).Params))


#: method parameters that sat in the ``hyperdpo`` section before version 0.5: old key -> key in ``method.params``
LEGACY_METHOD_KEYS = {"alpha": "alpha", "weights_per_list": "weights_per_list", "vertex_prob": "vertex_prob",
                      "cond_lr_mult": "cond_lr_mult", "members": "members", "cosmos_lambda": "cosine_weight",
                      "modpo_margin_scale": "margin_scale", "modpo_w0_min": "w0_min"}


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"config key '{old}' is deprecated and will be removed in the next version: use '{new}'",
                  FutureWarning, stacklevel=4)


def upgrade(d: dict | None) -> dict:
    """A run config mapping in today's layout (a copy; ``d`` is not changed): ``method: NAME`` becomes
    ``{name: NAME}``; the older flat keys move (with a :class:`FutureWarning`): ``hyperdpo.<method parameter>`` to
    ``method.params``, ``model.ff_mult`` to ``model.d_ff``. A moved parameter the method does not take is refused
    (it would be ignored)."""
    if not isinstance(d, dict):
        return d  # type: ignore[return-value]  # from_dict names the error
    out = copy.deepcopy(d)
    method = out.get("method", "hyperdpo")
    if isinstance(method, str):
        method = {"name": method}
    if isinstance(method, dict):
        params = method.get("params")
        params = {} if params is None else params
        method = {**method, "params": dict(params) if isinstance(params, dict) else params}
        out["method"] = method
    h = out.get("hyperdpo")
    if isinstance(h, dict) and isinstance(method, dict) and isinstance(method.get("params"), dict):
        moved = {k: h[k] for k in LEGACY_METHOD_KEYS if k in h}
        if moved:
            out["hyperdpo"] = {k: v for k, v in h.items() if k not in moved}
            name = method.get("name", "hyperdpo")
            known = isinstance(name, str) and name in method_names()
            taken = {f.name for f in fields(get_method(name).Params)} if known else set()
            for old, value in moved.items():
                new = LEGACY_METHOD_KEYS[old]
                if known and new not in taken:
                    raise ConfigError(f"config key 'hyperdpo.{old}': method {name} has no parameter {new!r} (it "
                                      f"would be ignored); remove it")
                _deprecated(f"hyperdpo.{old}", f"method.params.{new}")
                method["params"].setdefault(new, value)
    m = out.get("model")
    if isinstance(m, dict) and "ff_mult" in m:
        m = dict(m)
        ff_mult = m.pop("ff_mult")
        _deprecated("model.ff_mult", "model.d_ff")
        if m.get("d_ff") is None and isinstance(ff_mult, int) and not isinstance(ff_mult, bool):
            m["d_ff"] = ff_mult * int(m.get("d_model", 64))
        out["model"] = m
    return out


#: keys of a run config that name files (relative ones are relative to the config file's folder)
PATH_KEYS = (("data", "train"), ("data", "vali"), ("data", "test"), ("data", "objectives"), ("data", "cache_dir"),
             ("reference", "checkpoint"))
_PRESETS = {p.strip() for p in PRESET_NAMES.split(",")}


def load_run_config_dict(path: str | os.PathLike) -> dict:
    """A run config file as a mapping, its relative paths made relative to the file's folder. A path found only
    relative to the working directory (configs written before this rule) is kept; a path found in neither place
    becomes the full path beside the config file, so the error that follows names where it was looked for."""
    d = load_config_file(Path(path))
    base = Path(path).resolve().parent
    cwd = Path.cwd()
    for section, key in PATH_KEYS:
        sec = d.get(section)
        if not isinstance(sec, dict):
            continue
        value = sec.get(key)
        if not isinstance(value, str) or not value or Path(value).is_absolute():
            continue
        if key == "objectives" and value in _PRESETS:
            continue
        beside = base / value
        if beside.exists() or key == "cache_dir" or not (cwd / value).exists():
            sec[key] = str(beside)  # where a missing file is looked for: its error names this full path
    return d


#: keys that may change on ``--resume`` without changing the result
RESUME_HARMLESS_KEYS = ("progress", "threads", "device", "data.cache_dir", "logging")
