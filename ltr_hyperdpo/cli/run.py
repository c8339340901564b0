"""The LTR run commands: train, import-allrank, front, demo: their parsers (light: the implementations in
:mod:`ltr_hyperdpo.cli.run_cmds` load when a command runs)."""
from __future__ import annotations

from typing import Any

from .common import command, finite_float, lazy_command, positive_float, positive_int

#: the built-in stage-2 methods (``methods.method_names()`` without loading them; a test keeps the two equal)
BUILTIN_METHODS = ("reference", "hyperdpo", "dpo_ls", "dpo_soup", "modpo", "cosmos")


def add_commands(sub: Any) -> None:
    """Register train, plan, import-allrank, front and demo."""
    t = command(sub, "train", "train the reference and a stage-2 method (default: one-shot HyperDPO)",
                "Stage 1 trains the reference on the main objective; stage 2 fine-tunes a weight-conditioned copy "
                "with the PL-DPO loss over all objectives (or runs a baseline method). Writes config.json (the "
                "config as given), plan.json (what the run trains with, every auto value resolved), "
                "data_state.json, reference.pt, model.pt, checkpoint.pt, log.jsonl, result.json (and front/ when "
                "data.test is set) into --out, and prints the test front.",
                ["ltr-hyperdpo train --config run.yaml --out runs/mslr5",
                 "ltr-hyperdpo train --config run.yaml --out runs/mslr5 --resume",
                 "ltr-hyperdpo train --set data.train=train.parquet --set data.objectives=mslr5 --out runs/x",
                 "ltr-hyperdpo train --config run.yaml --method modpo --set method.params.members=11 --out runs/m"])
    t.add_argument("--config", help="JSON or YAML run config (see the README for its sections)")
    t.add_argument("--out", required=True, help="run directory (must not hold another run unless --resume)")
    t.add_argument("--resume", action="store_true", help="continue a killed run from its checkpoint")
    t.add_argument("--method", help=f"stage-2 method: {', '.join(BUILTIN_METHODS)} or a registered one (default "
                                    f"hyperdpo; the others are the multi-objective baselines); its own parameters "
                                    f"are method.params.KEY")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. hyperdpo.epochs=5 (repeatable)")
    t.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_train"))

    pl = command(sub, "plan", "print what a run would train with, every auto value resolved, without training",
                 "Reads the config as train does (--config, --method, --set), reads the training split for its "
                 "sizes (features, objectives) and prints the plan train would write as plan.json: the split files, "
                 "the scorer's whole architecture, the method's parameters and each optimizer group's learning "
                 "rate, the validation, test and member weights; 'auto' lists the keys resolved by a rule. Bad "
                 "settings are refused as train refuses them.",
                 ["ltr-hyperdpo plan --config run.yaml",
                  "ltr-hyperdpo plan --config run.yaml --method dpo_ls --set method.params.members=5 --out plan.json"])
    pl.add_argument("--config", help="JSON or YAML run config")
    pl.add_argument("--method", help="stage-2 method (as train --method)")
    pl.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config value (repeatable)")
    pl.add_argument("--out", default="-", help="where to write the plan (JSON; default - = standard output)")
    pl.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_plan"))

    ia = command(sub, "import-allrank", "translate an allRank config.json into a run config",
                 "Maps allRank's model (fc_model, transformer, post_model), data folder, loss (name and args), "
                 "optimizer, lr_scheduler, training and metrics onto a run config whose reference stage is the "
                 "allRank model. Approximations are listed as comments at the top of the output; settings with no "
                 "counterpart (click models, expected_metrics, remote paths, ...) are refused in one message unless "
                 "--ignore-unmapped. `train --config allrank.json` does the same translation on the fly.",
                 ["ltr-hyperdpo import-allrank allrank_config.json --out run.yaml",
                  "ltr-hyperdpo import-allrank allrank_config.json --objectives mslr5 --out run.yaml",
                  "ltr-hyperdpo train --config allrank_config.json --out runs/allrank"])
    ia.add_argument("config", help="an allRank config (JSON)")
    ia.add_argument("--out", required=True, help="the run config to write (YAML)")
    ia.add_argument("--objectives", help="objectives preset or spec file (default: the label alone, which trains "
                                         "the allRank model only)")
    ia.add_argument("--ignore-unmapped", action="store_true",
                    help="drop settings with no counterpart (listed in the output) instead of refusing")
    ia.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_import_allrank"))

    f = command(sub, "front", "evaluate a trained run over a grid of weights",
                "NDCG per objective for each weight of a grid, the non-dominated subset and the exact hypervolume "
                "(moocore, maximise). Writes front.csv, front.json, front.png into --out.",
                ["ltr-hyperdpo front runs/mslr5 --data test.txt --grid 11 --out runs/mslr5/front_test",
                 "ltr-hyperdpo front runs/mslr5 --data test.parquet --beta 0.5 --out f05"])
    f.add_argument("run_dir", help="a finished run directory")
    f.add_argument("--data", required=True, help="evaluation split (LETOR text or a converted file)")
    f.add_argument("--grid", type=positive_int,
                   help="number of weights: K=2 this many points on the segment (default 11); K>=3 the smallest "
                        "simplex lattice with at least this many (default 50: 55 weights for K=3, 56 for K=4, 70 for "
                        "K=5), or the vertices plus quasi-random points (--grid-method random)")
    f.add_argument("--grid-method", default="auto", choices=["auto", "lattice", "random"],
                   help="how K>=3 grids are built (default auto = lattice)")
    f.add_argument("--out", required=True, help="output directory for front.csv/json/png")
    f.add_argument("--beta", type=positive_float, help="evaluate at another temperature β (> 0)")
    f.add_argument("--k", type=positive_int, nargs="*", help="NDCG cut-offs (first = front metric); default from "
                                                             "the run config")
    f.add_argument("--ref-point", type=finite_float, nargs="*", help="hypervolume reference point (default 0)")
    f.add_argument("--blank-policy", choices=["skip", "zero", "one"],
                   help="queries with no relevant document: skip, count as 0 or as 1 (default: the run's)")
    f.add_argument("--device", default="cpu", help="where the models run: cpu (default), auto, cuda or cuda:N")
    f.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_front"))

    d = command(sub, "demo", "run the main job on the embedded synthetic dataset",
                "Generate the synthetic two-objective dataset (conflicting objectives), convert it, train the "
                "reference and the one-shot model, print the front and its hypervolume, save the plot.",
                ["ltr-hyperdpo demo --out demo_output"])
    d.add_argument("--out", default="demo_output", help="output directory (default demo_output)")
    d.add_argument("--quick", action="store_true", help="a smaller run (for tests)")
    d.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_demo"))
