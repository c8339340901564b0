"""The commands that use a trained run: predict, qrels: their parsers (light: the implementations in
:mod:`ltr_hyperdpo.cli.serve_cmds` load when a command runs)."""
from __future__ import annotations

from typing import Any

from .common import command, lazy_command, nonnegative_float, positive_float, positive_int

#: output formats of predict (``serving.outputs.FORMATS``)
FORMATS = ("tsv", "trec", "parquet")

def add_commands(sub: Any) -> None:
    """Register predict, qrels, export, select-weight, compare and importance."""
    p = command(sub, "predict", "score new data with a trained run at a chosen trade-off",
                "Scores every document of DATA (LETOR or LightGBM-layout text, labels optional; or a converted "
                "Parquet/Arrow file) at preference --w, applying the run's stored column selection and normaliser. "
                "Unlabeled lines start with qid:Q (or index:value without qid). Documents are named by their "
                "'# docid=...' comment, else <qid>_<position in the query>. Streams in blocks of whole queries: "
                "memory is bounded by the block, not the file.",
                ["ltr-hyperdpo predict runs/mq2008 --data test.txt --w 0.7 0.2 0.1 --out scores.tsv",
                 "ltr-hyperdpo predict runs/mq2008 --data test.txt --w 1 0 0 --format trec --out run.trec"])
    p.add_argument("run_dir", help="a finished run directory")
    p.add_argument("--data", required=True, help="documents to score (text, .parquet or .arrow)")
    p.add_argument("--w", type=nonnegative_float, nargs="+",
                   help="preference weight per objective, in the run's objective order (normalised to sum 1; "
                        "default: the main objective alone)")
    p.add_argument("--beta", type=positive_float, help="temperature beta (default: the training one)")
    p.add_argument("--format", choices=FORMATS,
                   help="tsv (qid docno score, input order), trec (a TREC run, sorted per query) or parquet "
                        "(default: from the --out extension, else tsv)")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--tag", default="ltr_hyperdpo", help="run tag of the TREC format")
    p.add_argument("--group-file", help="query sizes file of LightGBM-layout DATA (found beside it if omitted)")
    p.add_argument("--batch-size", type=positive_int, default=64, help="queries scored per forward pass")
    p.add_argument("--device", default="cpu", help="where the models run: cpu (default), auto, cuda or cuda:N")
    p.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_predict"))

    q = command(sub, "qrels", "TREC qrels of a labelled dataset, one file per objective",
                "Writes OUT_DIR/qrels.<objective>.txt (qid 0 docno grade) with the graded labels a run evaluates "
                "(its fitted quantile grades with --run; else the data's own objectives). Document names follow "
                "predict, so its TREC runs and these qrels evaluate with trec_eval, ranx or ir_measures.",
                ["ltr-hyperdpo qrels test.txt --run runs/mq2008 --out-dir qrels/",
                 "ltr-hyperdpo qrels test.parquet --out-dir qrels/"])
    q.add_argument("data", help="a labelled dataset (text, .parquet or .arrow)")
    q.add_argument("--run", help="grade the objectives as this run does (default: the data's own objectives)")
    q.add_argument("--objectives", help="without --run: a preset or spec file, fitted on DATA")
    q.add_argument("--group-file", help="query sizes file of LightGBM-layout DATA")
    q.add_argument("--out-dir", required=True, help="output directory")
    q.set_defaults(fn=lazy_command("ltr_hyperdpo.cli.qrels_cmds", "cmd_qrels"))

    e = command(sub, "export", "export a trained run as an ONNX graph",
                "The graph takes raw features [batch, list, raw_features] (column selection and normaliser inside), "
                "mask [batch, list], w [batch, objectives] (and beta [batch] for a temperature-conditioned run) and "
                "returns scores [batch, list]; batch and list axes are dynamic. The export is checked with "
                "onnxruntime against Run.score on a batch of 3 lists of 11 documents.",
                ["ltr-hyperdpo export runs/mq2008 --format onnx --out model.onnx"])
    e.add_argument("run_dir", help="a finished run directory")
    e.add_argument("--format", choices=["onnx"], default="onnx", help="export format (onnx)")
    e.add_argument("--out", required=True, help="output file (.onnx)")
    e.add_argument("--opset", type=positive_int, default=18, help="ONNX opset version (default 18)")
    e.add_argument("--no-check", action="store_true", help="skip the onnxruntime comparison")
    e.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_export"))

    s = command(sub, "select-weight", "choose the trade-off: maximise one objective subject to constraints",
                "Searches the simplex on DATA (a validation split: a dense grid, then local refinement) for the "
                "weight that maximises --maximise's NDCG@k subject to every --subject-to. A constraint is "
                "'OBJECTIVE >= VALUE', 'OBJECTIVE <= VALUE' or 'OBJECTIVE >= F*reference' (F times the reference "
                "model's figure). Prints the chosen w, its figures, each constraint's margin and the predict command "
                "that serves it; --check TEST reports how the choice holds on other data. Infeasible constraints are "
                "refused with the best value each objective reaches.",
                ["ltr-hyperdpo select-weight runs/mq2008 --data vali.txt --maximise pagerank "
                 "--subject-to 'relevance >= 0.98*reference'",
                 "ltr-hyperdpo select-weight runs/mq2008 --data vali.txt --maximise relevance "
                 "--subject-to 'pagerank >= 0.6' 'inlinks >= 0.5' --check test.txt --out choice.json"])
    s.add_argument("run_dir", help="a finished run directory")
    s.add_argument("--data", required=True, help="the split the choice is made on (validation; text or converted)")
    s.add_argument("--maximise", required=True, help="the objective to maximise (one of the run's objective names)")
    s.add_argument("--subject-to", nargs="*", default=[], metavar="CONSTRAINT",
                   help="constraints such as 'relevance >= 0.98*reference' or 'pagerank >= 0.6'")
    s.add_argument("--k", type=positive_int, help="NDCG cut-off (default: the run's first)")
    s.add_argument("--beta-range", type=positive_float, nargs=2, metavar=("LOW", "HIGH"),
                   help="a temperature-conditioned run: search beta too (5 log-spaced values)")
    s.add_argument("--check", help="another split (test) to report the choice's figures and margins on")
    s.add_argument("--confidence", type=positive_float,
                   help="require every constraint at this one-sided level of a bootstrap over DATA's queries (e.g. "
                        "0.95): a safety margin for new queries")
    s.add_argument("--out", default="-", help="where to write the choice (JSON; default - = standard output)")
    s.add_argument("--device", default="cpu", help="where the models run: cpu (default), auto, cuda or cuda:N")
    s.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_select_weight"))

    c = command(sub, "compare", "compare trained runs on a test split, with significance",
                "Per weight and objective: every run's NDCG@k (ranx ndcg_burges) and each pair's p-value from a "
                "paired test over queries (Student's t-test or Fisher's randomisation test; queries without a "
                "relevant document skipped; ties broken by document position). With --grid N, every run's "
                "hypervolume on that grid and its difference from the first run's, with a 95 %% interval from a "
                "paired bootstrap over queries.",
                ["ltr-hyperdpo compare runs/hyperdpo runs/dpo_ls --data test.txt --w 1 0 0 --w 0.5 0.25 0.25",
                 "ltr-hyperdpo compare runs/a runs/b runs/c --data test.parquet --test fisher --grid 11 "
                 "--out cmp.json"])
    c.add_argument("run_dirs", nargs="+", help="two or more finished run directories (the first is the baseline)")
    c.add_argument("--data", required=True, help="the test split (text or converted)")
    c.add_argument("--w", type=nonnegative_float, nargs="+", action="append",
                   help="a weight to compare at (repeatable; default: every vertex)")
    c.add_argument("--k", type=positive_int, default=10, help="NDCG cut-off (default 10)")
    c.add_argument("--test", choices=["student", "fisher"], default="student",
                   help="paired test over queries (default student)")
    c.add_argument("--max-p", type=positive_float, default=0.05, help="significance level marked with † (0.05)")
    c.add_argument("--grid", type=positive_int, help="also compare hypervolumes on a grid of this many weights")
    c.add_argument("--out", help="also write the comparison as JSON here")
    c.set_defaults(fn=lazy_command("ltr_hyperdpo.cli.compare_cmds", "cmd_compare"))

    i = command(sub, "importance", "permutation feature importance per objective, at w and at the vertices",
                "Shuffles each model input feature among the documents of every query (--repeats times, seeded) "
                "and reports the drop in NDCG@k per objective at --w and at each objective's vertex (how a "
                "feature's importance moves along the front), mean ± standard deviation over the repeats. Prints "
                "the --top features; --out writes every (weight, objective, feature) row as CSV.",
                ["ltr-hyperdpo importance runs/mq2008 --data test.txt --w 0.5 0.25 0.25",
                 "ltr-hyperdpo importance runs/mq2008 --data test.txt --w 1 0 0 --objective pagerank --repeats 10 "
                 "--out importance.csv"])
    i.add_argument("run_dir", help="a finished run directory")
    i.add_argument("--data", required=True, help="the split to measure on (text or converted)")
    i.add_argument("--w", type=nonnegative_float, nargs="+", help="the trade-off (default: uniform)")
    i.add_argument("--objective", help="show this objective only (default: all)")
    i.add_argument("--k", type=positive_int, help="NDCG cut-off (default: the run's first)")
    i.add_argument("--repeats", type=positive_int, default=5, help="shuffles per feature (default 5)")
    i.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    i.add_argument("--top", type=positive_int, default=15, help="features shown (default 15)")
    i.add_argument("--out", help="write all rows as CSV here")
    i.add_argument("--device", default="cpu", help="where the models run: cpu (default), auto, cuda or cuda:N")
    i.set_defaults(fn=lazy_command(__name__ + "_cmds", "cmd_importance"))
