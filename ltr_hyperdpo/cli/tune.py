"""The tune command: an Optuna study over the main hyperparameters: their parsers (light: the implementations in
:mod:`ltr_hyperdpo.cli.tune_cmds` load when a command runs)."""
from __future__ import annotations

from typing import Any

from .common import command, lazy_command, positive_int


def add_commands(sub: Any) -> None:
    """Register tune."""
    t = command(sub, "tune", "Optuna search maximising validation hypervolume",
                "Searches the base config's search_space section (Optuna distributions by dotted config key; every "
                "other base value kept), or by default the learning rate, Dirichlet alpha (one-model methods), beta "
                "(or the beta range of a temperature-conditioned model), the model size and the prompt length, less "
                "the keys the base config sets. With --target OBJECTIVE@W (repeatable) the study is multi-objective: "
                "each trial's values are those objectives' validation NDCG at those weights, and the Pareto trials "
                "are printed and written to pareto.json. The first worker uses --seed itself (a one-worker study is "
                "reproducible) and converts the data once for all workers. Each "
                "study owns WORK/<study name>-<study id> (studies "
                "and workers sharing WORK never touch each other's files) and each trial trains into trial_N "
                "there; validation "
                "hypervolumes are reported every epoch and unpromising trials are pruned (median pruner). The study "
                "lives in --storage and resumes from it; start the same command several times (processes or "
                "machines) to run workers in parallel: --trials is the study's total. The best trial's config is "
                "written to best_config.json in the study's folder (printed as best_config).",
                ["ltr-hyperdpo tune --config run.yaml --trials 30 --storage sqlite:///study.db --work runs/tune",
                 "(run the same command again, or in another terminal, to resume the study or add a worker)",
                 "ltr-hyperdpo tune --config run.yaml --trials 30 --storage runs/study.journal   # journal file",
                 "ltr-hyperdpo tune --config run.yaml --trials 200 --storage postgresql://user:pw@db/optuna "
                 "  # several machines",
                 "ltr-hyperdpo tune --config run.yaml --trials 40 --target relevance@1,0,0 --target pagerank@0,1,0 "
                 "  # a Pareto set of trials"])
    t.add_argument("--config", help="base run config (JSON/YAML)")
    t.add_argument("--trials", type=positive_int, default=20, help="total number of trials in the study")
    t.add_argument("--storage", help="sqlite:///study.db (one machine), a journal file path (several processes), "
                                     "or a database URL such as postgresql://... (several machines); default: in "
                                     "memory, one worker")
    t.add_argument("--heartbeat", type=positive_int, default=60,
                   help="seconds between a running trial's heartbeats (database storages); a trial silent for 3 "
                        "heartbeats is failed and retried (default 60)")
    t.add_argument("--study-name", default="ltr_hyperdpo", help="study name in the storage")
    t.add_argument("--work", default="runs/tune", help="directory holding one folder per study: its trial runs "
                                                     "and best_config.json (default runs/tune)")
    t.add_argument("--seed", type=int, default=0, help="sampler seed of the study's first worker (later workers "
                                                      "add their number, so they propose different parameters)")
    t.add_argument("--target", action="append", metavar="OBJECTIVE@W1,W2,...",
                   help="maximise this objective's validation NDCG at this weight (repeatable: a multi-objective "
                        "study, e.g. --target relevance@1,0,0 --target pagerank@0,1,0)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a base config value (repeatable)")
    t.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_tune"))
