"""reproduce.py --tune N: every method gets the same number of Optuna trials over its own knobs, scored by the
validation hypervolume of the set's validation split (the test split is never read), before the reported seeds.

| methods | knobs searched |
|---|---|
| one-run (hyperdpo, cosmos) | `hyperdpo.lr`, `hyperdpo.beta`, `cond_lr_mult`, `vertex_prob`, `alpha`, `head_hidden` |
| `dpo_ls`, `dpo_soup` (members, experts) | `hyperdpo.lr`, `hyperdpo.epochs`, `hyperdpo.beta` |
| `modpo` | those three, `method.params.margin_scale`, `w0_min` |

β (the loss's temperature) is every method's knob; a one-run method's epochs are not, since they are its time budget
(``--one-run-budget``). Trials train with seeds 10000 + trial (never a reported seed) on the first seed's splits;
TPE is seeded, so a study is reproducible. The chosen values are stated in ``report.md`` and applied to every
reported seed.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import optuna

from ltr_hyperdpo.config import apply_overrides
from ltr_hyperdpo.training import RunConfig, train

#: trials train at seeds from here on: never one of the reported seeds
TUNING_SEED_BASE = 10_000


def suggest(trial: optuna.Trial, method: str, multi_run: bool, epochs: int) -> dict[str, object]:
    """The method's own knobs for one trial, by dotted config key."""
    s: dict[str, object] = {"hyperdpo.lr": trial.suggest_float("lr", 5e-4, 5e-3, log=True),
                            "hyperdpo.beta": trial.suggest_float("beta", 0.1, 2.0, log=True)}
    if not multi_run:
        s["method.params.cond_lr_mult"] = trial.suggest_float("cond_lr_mult", 1.0, 8.0, log=True)
        s["method.params.vertex_prob"] = trial.suggest_float("vertex_prob", 0.2, 0.95)
        s["method.params.alpha"] = trial.suggest_float("alpha", 0.1, 1.0, log=True)
        s["model.head_hidden"] = trial.suggest_categorical("head_hidden", [0, 16, 32, 64])
        return s
    s["hyperdpo.epochs"] = trial.suggest_categorical("epochs", sorted({max(1, epochs // 2), epochs, 2 * epochs}))
    if method == "modpo":
        s["method.params.margin_scale"] = trial.suggest_float("margin_scale", 0.25, 4.0, log=True)
        s["method.params.w0_min"] = trial.suggest_float("w0_min", 0.01, 0.2, log=True)
    return s


def apply(cfg: dict, chosen: dict[str, object]) -> dict:
    """``cfg`` (in today's layout) with the chosen values set."""
    c = copy.deepcopy(cfg)
    if isinstance(c.get("method"), str):
        c["method"] = {"name": c["method"], "params": {}}
    return apply_overrides(c, [f"{k}={v}" for k, v in chosen.items()])


def tune_method(method: str, multi_run: bool, make_cfg: Callable[[int], dict], splits: tuple, work: Path,
                n_trials: int, seed: int = 0, fixed: dict | None = None) -> dict:
    """Run ``n_trials`` trials of ``method`` (``make_cfg(seed)``: its config at a seed); returns the chosen values
    (by dotted key), the best validation hypervolume and every trial's value. Keys in ``fixed`` (a variant's
    settings, e.g. ``model.head_hidden`` of the equal-capacity one-shot model) are not searched."""
    tr, va, _ = splits
    epochs = int(make_cfg(0)["hyperdpo"]["epochs"])
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))

    def objective(trial: optuna.Trial) -> float:
        chosen = {k: v for k, v in suggest(trial, method, multi_run, epochs).items() if k not in (fixed or {})}
        trial.set_user_attr("chosen", chosen)
        cfg = apply(make_cfg(TUNING_SEED_BASE + trial.number), chosen)
        res = train(RunConfig.from_dict(cfg), work / f"{method}_t{trial.number}", splits=(tr, va, None))
        return float(res.best_val_hypervolume)

    study.optimize(objective, n_trials=n_trials)
    best = study.best_trial
    return {"chosen": best.user_attrs["chosen"], "val_hypervolume": float(best.value),
            "trials": [float(t.value) for t in study.trials if t.value is not None]}


__all__ = ["tune_method", "apply", "suggest", "TUNING_SEED_BASE"]
