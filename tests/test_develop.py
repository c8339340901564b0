"""benchmarks/develop.py: the development procedure reads no test split, and its adoption rule is the stated one."""
import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_develop():
    spec = importlib.util.spec_from_file_location("develop", ROOT / "benchmarks" / "develop.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_development_sets_never_name_a_test_split(tmp_path):
    develop = load_develop()
    for d in ("mq2008_fold1", "mslr_msn1_fold1_5k"):
        (tmp_path / "ltr" / d).mkdir(parents=True)
        for split in ("train", "vali", "test"):
            (tmp_path / "ltr" / d / f"{split}.txt").write_text("")
    sets = develop.dev_sets(tmp_path, tmp_path)
    assert set(sets) == {"synth_conflict", "mq2008", "mslr3", "mslr5s"}
    for name, make in sets.items():
        data = make(1)
        assert "test" not in data, name
        assert all("test" not in Path(str(v)).name for v in data.values()), name
    assert sets["mslr5s"](0)["objectives"] == "mslr5_strict"  # the strict set: no near-copy of a target


def _scores(ratios: dict[str, dict[str, float]]) -> dict:
    """scores[set][seed][candidate] with the defaults at 1 and each candidate at its ratio on both grids."""
    out: dict = {}
    for s, by_cand in ratios.items():
        out[s] = {0: {"defaults": {"dense": 0.5, "members": 0.4},
                      **{c: {"dense": 0.5 * r, "members": 0.4 * r} for c, r in by_cand.items()}}}
    return out


def test_the_rule_adopts_a_change_that_helps_overall_and_hurts_no_set():
    develop = load_develop()
    table = develop.decide(_scores({"a": {"x=1": 1.01, "y=1": 1.03, "z=1": 1.001},
                                    "b": {"x=1": 1.00, "y=1": 0.99, "z=1": 1.002}}),
                           ["defaults", "x=1", "y=1", "z=1"])
    assert table["x=1"]["per_set"] == pytest.approx({"a": 1.01, "b": 1.0})
    assert table["x=1"]["overall"] == pytest.approx((1.01 * 1.0) ** 0.5)
    assert table["x=1"]["adopt"]  # +0.5 % overall, no set worse
    assert not table["y=1"]["adopt"]  # +1 % overall, but one set loses 1 % (> MAX_SET_LOSS)
    assert not table["z=1"]["adopt"]  # no set worse, but the gain is below ADOPT_GAIN


def test_an_unknown_candidate_is_refused():
    develop = load_develop()
    with pytest.raises(SystemExit, match="unknown candidate 'depth=3'"):
        develop.main(["--candidates", "defaults", "depth=3"])


def test_an_out_folder_holding_other_files_is_refused_before_any_training(tmp_path, capsys):
    develop = load_develop()
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit) as stop:
        develop.main(["--sets", "synth_conflict", "--seeds", "1", "--candidates", "defaults", "--out", str(out)])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (f"develop.py: error: --out {out} is not empty and holds no earlier output of "
                                       f"develop.py; choose a new or empty folder\n")
    assert (out / "notes.txt").read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_a_run_that_does_not_finish_leaves_the_earlier_output_as_it_was(tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import StagedOutput

    out = tmp_path / "out"
    first = StagedOutput(out, "x.py")
    (first.path / "a.txt").write_text("1")
    first.publish()
    assert (out / "a.txt").read_text() == "1" and (out / ".written_by").read_text() == "x.py\n"
    failed = StagedOutput(out, "x.py")  # the same script again: allowed, staged beside OUT
    (failed.path / "a.txt").write_text("2")
    assert (out / "a.txt").read_text() == "1"  # nothing reaches OUT before publish
    failed.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"] and (out / "a.txt").read_text() == "1"
    with pytest.raises(SystemExit) as stop:
        StagedOutput(out, "y.py")
    assert stop.value.code == 2 and (out / "a.txt").read_text() == "1"


def test_a_killed_runs_staging_folder_is_swept_and_a_running_ones_kept(tmp_path):
    """A run killed by a signal runs no exit handler; the next run of OUT removes its staging folder, not that of a
    run still going."""
    import subprocess

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import StagedOutput

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = tmp_path / f".out.partial-{gone.pid}"
    alive = tmp_path / f".out.partial-{os.getppid()}"
    other = tmp_path / ".other.partial-1"
    for d in (dead, alive, other):
        d.mkdir()
        (d / "half.txt").write_text("x")
    staged = StagedOutput(tmp_path / "out", "x.py")
    assert not dead.exists() and alive.exists() and other.exists()
    staged.discard()


@pytest.mark.slow
def test_development_smoke(tmp_path, capsys):
    develop = load_develop()
    out = tmp_path / "dev"
    out.mkdir()  # an earlier output of develop.py, with a file this run does not write: replaced whole, not merged
    (out / ".written_by").write_text("develop.py\n")
    (out / "stale.txt").write_text("from an earlier run")
    assert develop.main(["--sets", "synth_conflict", "--seeds", "1", "--candidates", "defaults", "alpha=1.0",
                         "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["dev"]
    first = json.loads(capsys.readouterr().out.splitlines()[0])
    res = json.loads((out / "development.json").read_text())
    row = res["scores"]["synth_conflict"]["0"]
    assert set(row) == {"defaults", "alpha=1.0"} and all(0 < v["dense"] <= 1 for v in row.values())
    ratio = row["alpha=1.0"]["dense"] / row["defaults"]["dense"]
    assert first["overall"]["alpha=1.0"] == pytest.approx(ratio, rel=1e-3)  # K = 2: both grids are the members'
    report = (out / "report.md").read_text()
    assert "alpha=1.0" in report
    margins = row["defaults"]["vertex_margins"]  # validation steerability, reported beside the rule
    assert len(margins) == 2 and all(-1 <= m <= 1 for m in margins)
    assert "defaults [" + ", ".join(f"{m:+.4f}" for m in margins) + "]" in report


@pytest.mark.slow
def test_development_of_the_transformer_scores_its_towers(tmp_path, capsys):
    """``--scorer transformer``: the candidates train reproduce's transformer, and a knob of the transformer's own
    (its output towers) is a candidate like any other."""
    develop = load_develop()
    out = tmp_path / "dev"
    assert develop.main(["--sets", "synth_conflict", "--seeds", "1", "--scorer", "transformer", "--candidates",
                         "defaults", "head_hidden=8", "--out", str(out)]) == 0
    res = json.loads((out / "development.json").read_text())
    row = res["scores"]["synth_conflict"]["0"]
    assert res["scorer"] == "transformer" and set(row) == {"defaults", "head_hidden=8"}
    assert row["head_hidden=8"] != row["defaults"]  # the towers change the trained model
    assert "# Development procedure (transformer;" in (out / "report.md").read_text()


@pytest.mark.slow
def test_split_validation_keeps_checkpoints_on_one_half_and_scores_on_the_other(tmp_path, monkeypatch):
    """``--split-validation``: every run chooses its checkpoint on one seeded half of the validation queries and is
    scored on the other; the halves are disjoint and together the whole validation set."""
    develop = load_develop()
    kept, scored = [], []
    real_train, real_scores = develop.train, develop.validation_scores

    def train(cfg, run_dir, splits=None, **kw):
        if cfg.method.name != "reference":
            kept.append(splits[1])
        return real_train(cfg, run_dir, splits=splits, **kw)

    def scores(run_dir, vali):
        scored.append(vali)
        return real_scores(run_dir, vali)

    monkeypatch.setattr(develop, "train", train)
    monkeypatch.setattr(develop, "validation_scores", scores)
    assert develop.main(["--sets", "synth_conflict", "--seeds", "1", "--candidates", "defaults", "alpha=1.0",
                         "--split-validation", "--out", str(tmp_path / "dev")]) == 0
    assert len(kept) == len(scored) == 2
    a, b = set(kept[0].qids), set(scored[0].qids)
    assert a and b and not a & b and len(a) + len(b) == 80  # the synthetic development set's 80 validation queries
    assert set(kept[1].qids) == a and set(scored[1].qids) == b  # every candidate: the same halves
    assert json.loads((tmp_path / "dev" / "development.json").read_text())["split_validation"] is True
