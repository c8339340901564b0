"""`ltr-hyperdpo tune`: an Optuna study over the main hyperparameters, maximising validation hypervolume.

Searched: learning rate, Dirichlet α, β (or the β range of a temperature-conditioned model), model size (hidden
width, or d_model/layers for the transformer), prompt length (transformer). Each trial trains into
``WORK/trial_N``; intermediate validation hypervolumes are reported every epoch and unpromising trials are pruned
(median pruner). The study lives in ``--storage`` (e.g. ``sqlite:///study.db``) and resumes from it. The best
trial's full config is written to ``WORK/best_config.json``.
"""
from __future__ import annotations

import copy
import math
import shutil
from pathlib import Path
from typing import Any

import optuna

from .runs.io import atomic_write_json
from .training import RunConfig, load_run_splits, train


def suggest(trial: optuna.Trial, base: dict) -> dict:
    """A config dict for this trial: ``base`` with the searched values set."""
    c = copy.deepcopy(base)
    h = c.setdefault("hyperdpo", {})
    m = c.setdefault("model", {})
    h["lr"] = trial.suggest_float("lr", 3e-4, 1e-2, log=True)
    h["alpha"] = trial.suggest_float("alpha", 0.2, 2.0, log=True)
    if m.get("temperature_conditioned"):
        lo = trial.suggest_float("beta_lo", 0.05, 1.0, log=True)
        hi = lo * trial.suggest_float("beta_span", 2.0, 20.0, log=True)
        h["beta_range"] = [lo, hi]
        h["beta"] = math.sqrt(lo * hi)  # validated and stored inside the trained range (its geometric mean)
    else:
        h["beta"] = trial.suggest_float("beta", 0.1, 5.0, log=True)
    if m.get("kind", "mlp") == "transformer":
        m["d_model"] = trial.suggest_categorical("d_model", [32, 64, 128])
        m["n_layers"] = trial.suggest_int("n_layers", 1, 3)
        m["n_prompts"] = trial.suggest_int("n_prompts", 1, 8)
    else:
        width = trial.suggest_categorical("width", [64, 128, 256])
        m["hidden"] = [width, width // 2]
    return c


def run_study(base: dict, work: str | Path, n_trials: int, storage: str | None = None,
              study_name: str = "ltr_hyperdpo", seed: int = 0) -> dict:
    """Run (or resume) the study; returns the best trial's value, params and config path."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    base = copy.deepcopy(base)
    base["progress"] = False
    splits = load_run_splits(RunConfig.from_dict(base))
    study = optuna.create_study(study_name=study_name, storage=storage, load_if_exists=True, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2))

    def objective(trial: optuna.Trial) -> float:
        cfg_d = suggest(trial, base)
        run_dir = work / f"trial_{trial.number}"
        if run_dir.exists():
            shutil.rmtree(run_dir)
        trial.set_user_attr("config", cfg_d)

        def on_epoch(stage: str, rec: dict[str, Any]) -> None:
            if "val_hypervolume" in rec:
                trial.report(rec["val_hypervolume"], rec["epoch"])
                if trial.should_prune():
                    raise optuna.TrialPruned()

        res = train(RunConfig.from_dict(cfg_d), run_dir, splits=(splits[0], splits[1], None), on_epoch=on_epoch)
        return res.best_val_hypervolume

    done = len([t for t in study.trials if t.state.is_finished()])
    study.optimize(objective, n_trials=max(n_trials - done, 0), show_progress_bar=False)
    best = study.best_trial
    atomic_write_json(work / "best_config.json", best.user_attrs["config"])
    return {"best_value": best.value, "best_params": best.params, "best_trial": best.number,
            "best_config": str(work / "best_config.json"), "n_trials": len(study.trials)}
