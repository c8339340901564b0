"""Bad input and faults end in one clear line (exit 2), and nothing is lost, half-written or mixed.

Numbers refer to the cases of the hardening issue.
"""
import gzip
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import CLI, LINE, ROOT, StopTraining, error_line, run_config, snapshot, stop_after

from ltr_hyperdpo.cli import build_parser, main
from ltr_hyperdpo.data.dataset import RankingDataset
from ltr_hyperdpo.data.store import open_table
from ltr_hyperdpo.data.synth import make_synthetic, write_letor_text
from ltr_hyperdpo.errors import ConfigError
from ltr_hyperdpo.training import RunConfig, locate_splits, train
from ltr_hyperdpo.utils.io import FILE_MODE, TMP_SUFFIX


# 1 ---------------------------------------------------------------------------------------------------------------
def test_01_convert_refuses_to_overwrite_its_input(tmp_path, capsys):
    src = tmp_path / "same.txt"
    src.write_text(LINE)
    link = tmp_path / "link.parquet"
    link.symlink_to(src)
    for out in (src, link):
        assert main(["convert", str(src), str(out), "--format", "parquet", "--quiet"]) == 2
        assert "would overwrite the input" in error_line(capsys, "convert")
    assert src.read_text() == LINE and link.is_symlink()


# 2 ---------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_02_two_trains_into_one_directory(synth, tmp_path):
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps(run_config(synth, reference={"epochs": 8}, hyperdpo={"epochs": 8})))
    out = tmp_path / "run"
    procs = [subprocess.Popen(CLI + ["train", "--config", str(cfg), "--out", str(out)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(2)]
    res = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(r[0] for r in res)
    assert codes == [0, 2], res
    loser = next(err for rc, err in res if rc == 2)
    assert "ltr-hyperdpo train: error:" in loser and ("in use by process" in loser or "already holds a run" in loser)
    # one consistent run: the saved config is the one trained, and the front was written once
    assert json.loads((out / "config.json").read_text())["reference"]["epochs"] == 8
    assert (out / "model.pt").exists() and (out / "front" / "front.json").exists()
    assert not list(out.rglob(f"*{TMP_SUFFIX}"))


@pytest.mark.slow
def test_02_stale_lock_is_taken_over(synth, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".lock").write_text(f"{dead.pid}\n")
    with pytest.warns(UserWarning, match=f"stale lock left by process {dead.pid}"):
        train(RunConfig.from_dict(run_config(synth)), out)
    assert (out / "model.pt").exists()


def test_02_a_held_lock_names_its_holder(synth, tmp_path):
    from ltr_hyperdpo.errors import RunDirError
    from ltr_hyperdpo.runs.rundir import RunLock

    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from ltr_hyperdpo.runs.rundir import RunLock; "
                               "l = RunLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(30)",
                               str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunDirError, match=f"in use by process {holder.pid}"):
            RunLock(out).acquire()
        with pytest.raises(RunDirError, match=f"in use by process {holder.pid}"):
            train(RunConfig.from_dict(run_config(synth)), out)
    finally:
        holder.kill()
        holder.wait()
    assert not (out / "config.json").exists()


# 3 ---------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_03_resume_refuses_a_changed_config(synth, tmp_path, capsys):
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps(run_config(synth, reference={"epochs": 3})))
    out = tmp_path / "run"
    with pytest.raises(StopTraining):
        train(RunConfig.load(cfg), out, on_epoch=stop_after(2))
    before = snapshot(out)
    assert main(["train", "--config", str(cfg), "--out", str(out), "--resume", "--set", "model.hidden=[64,32]",
                 "--set", "hyperdpo.lr=0.01"]) == 2
    line = error_line(capsys, "train")
    assert "changes the result" in line and "model.hidden" in line and "hyperdpo.lr" in line
    assert snapshot(out) == before
    # harmless keys may change
    assert main(["train", "--config", str(cfg), "--out", str(out), "--resume", "--set", "threads=1"]) == 0


# 4 ---------------------------------------------------------------------------------------------------------------
def test_04_stale_temporary_files_are_removed(tmp_path):
    from ltr_hyperdpo.data.conversion import convert

    src = tmp_path / "a.txt"
    src.write_text(LINE)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".a.parquet.{dead.pid}.deadbeef{TMP_SUFFIX}"
    stale.write_bytes(b"half")
    live = tmp_path / f".a.parquet.{os.getpid()}.cafe{TMP_SUFFIX}"  # a running process's temp is left alone
    live.write_bytes(b"busy")
    convert(src, tmp_path / "a.parquet")
    assert not stale.exists() and live.exists() and (tmp_path / "a.parquet").exists()


SLOW_CONVERT = """
import sys, time
import ltr_hyperdpo.data.conversion as c
import ltr_hyperdpo.data.ranges as r
real, real_parse = r.chunk_to_batch, r.iter_parse
def slow(*a, **k):  # a write phase of many slow batches
    time.sleep(0.2)
    return real(*a, **k)
def small_chunks(*a, **k):
    k["chunk_bytes"] = 1 << 15
    return real_parse(*a, **k)
r.chunk_to_batch, r.iter_parse = slow, small_chunks
c.RANGE_BYTES = 1 << 18  # several ranges when run with --workers
from ltr_hyperdpo.cli import main
sys.argv = ["ltr-hyperdpo", "convert", sys.argv[1], sys.argv[2], "--quiet"] + sys.argv[3:]
sys.exit(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one_process", "two_workers"])
def test_04_ctrl_c_during_the_write_stops_even_when_started_with_sigint_ignored(tmp_path, workers):
    src = tmp_path / "big.txt"
    write_letor_text(make_synthetic(400, 40, 20, 1, 0.0, seed=0), src)
    out = tmp_path / "big.parquet"
    p = subprocess.Popen([sys.executable, "-c", SLOW_CONVERT, str(src), str(out), *workers], cwd=ROOT,
                         stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.time() + 60
    while not list(tmp_path.glob(f".big.parquet.*{TMP_SUFFIX}")):  # the write phase has begun
        assert p.poll() is None and time.time() < deadline
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    assert p.wait(timeout=60) == 130
    err = p.stderr.read()
    assert "ltr-hyperdpo convert: interrupted" in err and "Traceback" not in err  # one line, nothing else
    assert not out.exists() and not list(tmp_path.glob(f".*{TMP_SUFFIX}"))  # no temporary and no spool file


# 5 ---------------------------------------------------------------------------------------------------------------
def test_05_non_utf8_comments_are_replaced_and_counted(tmp_path, capsys):
    src = tmp_path / "c.txt"
    src.write_bytes(b"1 qid:1 1:0.5 # docid=caf\xe9\n0 qid:1 1:0.1 # ok\n2 qid:2 1:0.9 # \xff\xfe\n")
    with pytest.warns(UserWarning, match=r"2 comment\(s\) were not valid UTF-8 \(first at line 1\)"):
        assert main(["convert", str(src), str(tmp_path / "c.parquet"), "--quiet"]) == 0
    comments = open_table(tmp_path / "c.parquet").column("comment").to_pylist()
    assert comments == ["docid=caf\ufffd", "ok", "\ufffd\ufffd"]


# 6 ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opt,value", [("--beta", "nan"), ("--beta", "-1"), ("--beta", "inf"), ("--grid", "0"),
                                       ("--ref-point", "nan")])
def test_06_non_finite_or_non_positive_options_are_refused(tmp_path, capsys, opt, value):
    with pytest.raises(SystemExit) as ei:
        main(["front", str(tmp_path), "--data", "x", "--out", str(tmp_path / "f"), opt, value])
    assert ei.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("ltr-hyperdpo front: error: argument") and opt in err[0]
    assert not (tmp_path / "f").exists()


def test_06_json_outputs_never_hold_nan(tmp_path):
    from ltr_hyperdpo.utils.io import atomic_write_json, dumps_json

    atomic_write_json(tmp_path / "x.json", {"a": float("nan"), "b": [1.0, float("inf")], "c": np.float32("nan")})
    text = (tmp_path / "x.json").read_text()
    assert "NaN" not in text and "Infinity" not in text and json.loads(text) == {"a": None, "b": [1.0, None],
                                                                                 "c": None}
    assert dumps_json({"x": -float("inf")}) == '{"x": null}'


# 7 ---------------------------------------------------------------------------------------------------------------
def test_07_negative_labels_fail_with_file_and_line(tmp_path, capsys):
    src = tmp_path / "neg.txt"
    src.write_text("1 qid:1 1:0.5\n-1 qid:1 1:0.1\n")
    assert main(["convert", str(src), str(tmp_path / "n.parquet"), "--quiet"]) == 2
    assert f"{src}:2: negative label" in error_line(capsys, "convert")
    assert not (tmp_path / "n.parquet").exists()
    assert main(["inspect", str(src)]) == 2
    assert f"{src}:2: negative label" in error_line(capsys, "inspect")


def test_07_negative_labels_in_a_converted_table_fail(tmp_path):
    import pyarrow as pa

    from ltr_hyperdpo.data.store import write_table
    from ltr_hyperdpo.errors import DataError

    t = pa.table({"qid": pa.array([1, 1]), "label": pa.array([1.0, -1.0], pa.float32()),
                  "features": pa.FixedSizeListArray.from_arrays(pa.array([0.1, 0.2], pa.float32()), 1)})
    write_table(tmp_path / "t.arrow", t)
    with pytest.raises(DataError, match=r"row 2 \(qid 1\) has label -1"):
        RankingDataset.load(tmp_path / "t.arrow", fit=True)


def test_07_non_integer_labels_warn_once_stating_the_gain(tmp_path):
    src = tmp_path / "frac.txt"
    src.write_text("0.5 qid:1 1:0.5\n1.5 qid:1 1:0.1\n2 qid:2 1:0.3\n0.25 qid:2 1:0.2\n")
    with pytest.warns(UserWarning, match=r"first at line 1: 0.5\); NDCG uses the gain 2\^y - 1") as rec:
        RankingDataset.load(src, fit=True)
    assert len([w for w in rec if "not all integers" in str(w.message)]) == 1


# 8 ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,msg", [("data.vali_fraction", 0, "vali_fraction"),
                                           ("data.slate_length", 1, "slate_length': must be >= 2")])
def test_08_useless_settings_are_refused(key, value, msg):
    section, k = key.split(".")
    with pytest.raises(ConfigError, match=msg):  # vali_fraction 0 is refused once the splits are located
        locate_splits(RunConfig.from_dict({section: {k: value, "train": "train.txt"}}))


@pytest.mark.slow
def test_08_one_objective_warns_and_plots(tmp_path):
    src = tmp_path / "k1.txt"
    write_letor_text(make_synthetic(40, 15, 8, 1, 0.0, seed=0), src)
    cfg = RunConfig.from_dict({"data": {"train": str(src), "test": str(src)}, "model": {"hidden": [8]},
                               "reference": {"epochs": 1}, "hyperdpo": {"epochs": 1}, "progress": False})
    with pytest.warns(UserWarning, match="only one objective"):
        train(cfg, tmp_path / "run")
    assert (tmp_path / "run" / "front" / "front.png").stat().st_size > 1000


# 9 ---------------------------------------------------------------------------------------------------------------
def test_09_llm_converters_on_the_wrong_format(tmp_path, capsys):
    alpaca = tmp_path / "alpaca.jsonl"
    alpaca.write_text(json.dumps({"instruction": "hi", "responses": [{"output": "a"}]}) + "\n")
    trees = tmp_path / "trees.jsonl"
    trees.write_text(json.dumps({"role": "prompter", "text": "q", "replies": []}) + "\n")
    cases = [("oasst", alpaca, f"{alpaca}:1: missing key(s) ['role', 'text']"),
             ("hh_rlhf", alpaca, f"{alpaca}:1: missing key(s) ['chosen', 'rejected']"),
             ("oasst", trees, "no OpenAssistant lists found"),
             ("trl", trees, f"{trees}:1: missing key(s) ['chosen', 'rejected']"),
             ("jsonl", trees, f"{trees}:1: missing key 'prompt'")]
    for source, path, msg in cases:
        out = tmp_path / f"{source}.out.jsonl"
        assert main(["llm-convert", source, str(path), str(out)]) == 2, source
        assert msg in error_line(capsys, "llm-convert"), source
        assert not out.exists()


# 10, 11 ----------------------------------------------------------------------------------------------------------
BAD_CONFIG = [
    ({"hyperdpo": {"epochs": "5"}}, "hyperdpo.epochs", "expected an integer, got '5'"),
    ({"hyperdpo": {"epochs": 2.5}}, "hyperdpo.epochs", "expected an integer"),
    ({"eval": {"blank_policy": "nope"}}, "eval.blank_policy", "one of 'skip', 'zero', 'one'"),
    ({"eval": {"grid_method": "x"}}, "eval.grid_method", "one of 'auto', 'lattice', 'random'"),
    ({"data": {"batch_size": 0}}, "data.batch_size", "must be >= 1"),
    ({"hyperdpo": {"tie_break": "last"}}, "hyperdpo.tie_break", "one of 'random', 'first'"),
    ({"reference": {"lr": -0.1}}, "reference.lr", "must be > 0.0"),
    ({"hyperdpo": {"lr": -1e-3}}, "hyperdpo.lr", "must be > 0.0"),
    ({"hyperdpo": {"beta": float("nan")}}, "hyperdpo.beta", "finite"),
    ({"hyperdpo": {"beta_range": [2.0, 1.0]}}, "hyperdpo.beta_range", "low <= high"),
    ({"method": {"name": "hyperdpo", "params": {"alpha": [0.5, -1]}}}, "method.params.alpha[1]", "must be > 0.0"),
    ({"hyperdpo": {"alpha": [0.5, -1]}}, "method.params.alpha[1]", "must be > 0.0"),  # the older key, moved
    ({"hyperdpo": {"members": 3}}, "hyperdpo.members", "has no parameter 'members' (it would be ignored)"),
    ({"method": {"name": "dpo_ls", "params": {"alpha": 0.5}}}, "method.params.alpha", "unknown key"),
    ({"model": {"kind": "transformer", "rank": 8}}, "model.rank", "would be ignored"),
    ({"model": {"d_ff": 64}}, "model.d_ff", "would be ignored"),
    ({"model": {"kind": "cnn"}}, "model.kind", "one of 'mlp', 'transformer'"),
    ({"model": {"hidden": [64, 0]}}, "model.hidden[1]", "must be >= 1"),
    ({"model": {"kind": "transformer", "d_model": 30, "n_heads": 4}}, "model.d_model", "divisible"),
    ({"data": {"normalize": "yes"}}, "data.normalize", "true or false"),
    ({"data": {"batchsize": 3}}, "data.batchsize", "unknown key"),
    ({"method": "nope"}, "method.name", "expected one of"),
    ({"reference": {"loss": "hinge"}}, "reference.loss", "expected one of"),
    ({"reference": {"loss": "ranknet", "loss_args": {"temperature": 2}}}, "reference.loss_args", "no option"),
    ({"seed": -1}, "seed", "must be >= 0"),
    ({"eval": {"ks": []}}, "eval.ks", "at least one"),
    ({"data": []}, "data", "mapping"),
]


@pytest.mark.parametrize("cfg,key,msg", BAD_CONFIG)
def test_10_bad_config_values_name_their_key(tmp_path, capsys, cfg, key, msg):
    with pytest.raises(ConfigError) as ei:
        RunConfig.from_dict(cfg)
    assert f"config key '{key}'" in str(ei.value) and msg in str(ei.value)
    # through the CLI: one line, exit 2, and no run directory left behind
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "run")]) == 2
    assert f"config key '{key}'" in error_line(capsys, "train")
    assert not (tmp_path / "run").exists()


def test_10_cli_overrides_are_validated(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--set", "hyperdpo.epochs=ten"]) == 2
    assert "config key 'hyperdpo.epochs': expected an integer, got 'ten'" in error_line(capsys, "train")
    assert main(["train", "--out", str(tmp_path / "r"), "--set", "nokey"]) == 2
    assert "--set expects KEY=VALUE" in error_line(capsys, "train")
    assert not (tmp_path / "r").exists()


def test_10_llm_config_is_validated():
    from ltr_hyperdpo.llm.config import LLMConfig

    for bad, key in (({"list_size": 1}, "list_size"), ({"dtype": "fp8"}, "dtype"), ({"device": "gpu"}, "device"),
                     ({"beta": 0}, "beta"), ({"grad_accum": "2"}, "grad_accum")):
        with pytest.raises(ConfigError, match=f"config key '{key}'"):
            LLMConfig.from_dict(bad)


# 12 --------------------------------------------------------------------------------------------------------------
def test_12_data_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "c.yaml").write_text("data:\n  train: [unclosed\n")
    assert main(["train", "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "r")]) == 2
    assert f"{tmp_path / 'c.yaml'}:3: invalid YAML" in error_line(capsys, "train")
    assert main(["train", "--set", f"data.train={tmp_path}", "--out", str(tmp_path / "r")]) == 2
    assert "is a folder without a train split" in error_line(capsys, "train")  # not an allRank dataset folder
    (tmp_path / "afile").write_text("x")
    assert main(["convert", str(tmp_path / "afile"), str(tmp_path / "afile" / "sub" / "o.parquet")]) == 2
    assert "ltr-hyperdpo convert: error:" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_12_truncated_checkpoint_resumes_from_the_previous_epoch(synth, tmp_path, capsys):
    cfg = RunConfig.from_dict(run_config(synth, reference={"epochs": 4}))
    full = train(cfg, tmp_path / "full")
    with pytest.raises(StopTraining):
        train(cfg, tmp_path / "cut", on_epoch=stop_after(3))
    ck = tmp_path / "cut" / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:100])  # damaged
    with pytest.warns(UserWarning, match="damaged.*resuming from the previous epoch's checkpoint"):
        resumed = train(cfg, tmp_path / "cut", resume=True)
    assert resumed.front["hypervolume"] == full.front["hypervolume"]
    # both damaged: one line naming the file and what to do
    with pytest.raises(StopTraining):
        train(cfg, tmp_path / "cut2", on_epoch=stop_after(3))
    for name in ("checkpoint.pt", "checkpoint.prev.pt"):
        (tmp_path / "cut2" / name).write_bytes(b"garbage")
    (tmp_path / "c.json").write_text(json.dumps(cfg.to_dict()))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "cut2"), "--resume"]) == 2
    line = error_line(capsys, "train")
    assert "checkpoint.pt: damaged or not a torch file" in line and "delete" in line


def test_12_unexpected_errors_are_one_line_with_a_debug_hint(monkeypatch, tmp_path, capsys):
    import ltr_hyperdpo.cli.convert_cmds as cli_data

    def boom(a):
        raise RuntimeError("something internal broke")

    monkeypatch.setattr(cli_data, "convert", lambda *a, **k: boom(a))
    (tmp_path / "a.txt").write_text(LINE)
    assert main(["convert", str(tmp_path / "a.txt"), str(tmp_path / "a.parquet")]) == 2
    line = error_line(capsys, "convert")
    assert "RuntimeError: something internal broke" in line and "--debug" in line
    assert main(["--debug", "convert", str(tmp_path / "a.txt"), str(tmp_path / "a.parquet")]) == 2
    assert "Traceback" in capsys.readouterr().err


# 13 --------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_13_demo_reruns_after_an_interruption_and_guards_other_directories(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / ".ltr-hyperdpo-demo").touch()  # a demo was interrupted mid-run: its files are partial
    (out / "run").mkdir()
    (out / "run" / "config.json").write_text("{}")
    (out / "train.txt").write_text("partial")
    assert main(["demo", "--quick", "--out", str(out)]) == 0
    assert (out / "run" / "front" / "front.png").exists()
    assert "non-dominated" in capsys.readouterr().out
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert main(["demo", "--quick", "--out", str(other)]) == 2
    assert "not a demo output directory" in error_line(capsys, "demo")
    assert (other / "notes.txt").read_text() == "keep me"


# 15 --------------------------------------------------------------------------------------------------------------
def test_15_outputs_get_the_usual_mode(tmp_path):
    src = tmp_path / "a.txt"
    src.write_text(LINE)
    assert main(["convert", str(src), str(tmp_path / "a.parquet"), "--quiet"]) == 0
    assert (tmp_path / "a.parquet").stat().st_mode & 0o777 == FILE_MODE


# 16 --------------------------------------------------------------------------------------------------------------
def test_16_progress_bars_only_on_a_terminal(monkeypatch):
    from ltr_hyperdpo.utils import progress

    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", Stream(False))
    assert progress.progress_bar(True, 10, "x") is None  # logs and CI: no bar
    monkeypatch.setattr(sys, "stderr", Stream(True))
    bar = progress.progress_bar(True, 10, "x")
    assert bar is not None
    bar.close()
    assert progress.progress_bar(False, 10, "x") is None  # progress: false wins on a terminal too


def test_16_warnings_are_one_line_without_source_code(tmp_path):
    src = tmp_path / "frac.txt"
    src.write_text("0.5 qid:1 1:0.5\n1.5 qid:1 1:0.1\n2 qid:2 1:0.3\n0.25 qid:2 1:0.2\n")
    p = subprocess.run([sys.executable, "-m", "ltr_hyperdpo", "convert", str(src), str(tmp_path / "f.arrow")],
                       capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = [x for x in p.stderr.splitlines() if x.strip()]
    warn = [x for x in lines if "not all integers" in x]
    assert len(warn) == 1 and warn[0].startswith("ltr-hyperdpo: warning: "), p.stderr
    assert not any("warnings.warn" in x or ".py:" in x for x in lines), p.stderr


# 17 --------------------------------------------------------------------------------------------------------------
def test_17_gzip_bom_stdin_and_missing_group_file(tmp_path, capsys):
    plain = tmp_path / "p.txt"
    plain.write_text(LINE + "1 qid:3 1:0.2 2:0.1 # docid=x\n")
    gz = tmp_path / "p.txt.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    bom = tmp_path / "b.txt"
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    tables = []
    for src in (plain, gz, bom):
        assert main(["convert", str(src), str(tmp_path / f"{src.name}.arrow"), "--quiet"]) == 0
        tables.append(open_table(tmp_path / f"{src.name}.arrow").select(["qid", "label", "features", "comment"]))
    assert tables[0].equals(tables[1]) and tables[0].equals(tables[2])
    assert main(["convert", "-", str(tmp_path / "s.arrow")]) == 2
    assert "standard input is not supported" in error_line(capsys, "convert")
    svm = tmp_path / "d.svm"
    svm.write_text("1 1:0.5\n0 1:0.1\n")
    assert main(["convert", str(svm), str(tmp_path / "d.arrow")]) == 2
    assert "no group file was found" in error_line(capsys, "convert")


# 18 --------------------------------------------------------------------------------------------------------------
def test_18_every_option_of_every_command_has_help_and_examples(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.epilog and "example" in p.epilog and "ltr-hyperdpo" in p.epilog, name
        assert "``" not in (p.description or ""), name
        for action in p._actions:
            if action.dest != "help":
                assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    assert "examples:" in parser.format_help()


# 19 --------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_19_train_prints_the_front_table(synth, tmp_path, capsys):
    (tmp_path / "c.json").write_text(json.dumps(run_config(synth)))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "r")]) == 0
    out = capsys.readouterr().out
    assert "| w_relevance | w_aux1 |" in out and "non-dominated" in out and "hypervolume (ndcg@10" in out
    saved = torch.load(tmp_path / "r" / "model.pt", weights_only=True)  # every .pt loads safely
    assert saved["config"]["hidden"] == [16]
