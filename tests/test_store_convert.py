"""Arrow storage, the convert command, atomic output, and the data_scripts conversion path on local files."""
import importlib.util
import itertools
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.data.conversion import convert
from ltr_hyperdpo.data.dataset import RankingDataset
from ltr_hyperdpo.data.letor import LetorFormatError, parse_letor
from ltr_hyperdpo.data.store import open_table, read_metadata, storage_format
from ltr_hyperdpo.data.tables import table_arrays


@pytest.mark.parametrize("ext", ["parquet", "arrow"])
def test_convert_round_trip(tmp_path, mslr_train, ext):
    out = tmp_path / f"t.{ext}"
    s = convert(mslr_train, out, objectives="mslr5")
    assert s["rows"] == 5000 and s["features"] == 136
    assert storage_format(out) == ext
    t = open_table(out)
    a = table_arrays(t)
    b = table_arrays(parse_letor(mslr_train))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    meta = read_metadata(t.schema)
    assert [o["name"] for o in meta["objectives"]] == ["relevance", "quality_score", "quality_score2",
                                                       "query_url_clicks", "url_dwell_time"]
    g = t.column("objectives").combine_chunks().flatten().to_numpy().reshape(-1, 5)
    ds = RankingDataset.from_table(t)
    np.testing.assert_array_equal(ds.y, g)
    assert ds.n_features == 136 - 4


def test_test_split_reuses_training_bins(tmp_path, mslr_train):
    tr = tmp_path / "train.parquet"
    te = tmp_path / "test.parquet"
    convert(mslr_train, tr, objectives="mslr5")
    convert(mslr_train.with_name("test.txt"), te, objectives_from=tr)
    m_tr = read_metadata(open_table(tr).schema)["objectives"]
    m_te = read_metadata(open_table(te).schema)["objectives"]
    assert m_tr == m_te


def test_failed_conversion_leaves_no_file(tmp_path):
    src = tmp_path / "bad.txt"
    src.write_text("1 qid:1 1:1\n" * 100 + "1 qid:1 1:oops\n")
    out = tmp_path / "out.parquet"
    with pytest.raises(LetorFormatError):
        convert(src, out)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_group_file_found_beside_input(tmp_path, mq2008_dir):
    s = convert(mq2008_dir / "vali.svm", tmp_path / "v.arrow", objectives="mq2008")
    assert s["queries"] == 157 and s["rows"] == 2707


def test_cli_convert_inspect_synth(tmp_path, mq2008_dir, capsys):
    out = tmp_path / "mq.parquet"
    assert main(["convert", str(mq2008_dir / "train.txt"), str(out), "--objectives", "mq2008", "--quiet"]) == 0
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "471 queries, 9630 documents, 44 input features" in text
    assert "objective pagerank" in text and "queries with no relevant document" in text
    assert main(["synth", str(tmp_path / "s.arrow"), "--queries", "5", "--docs-per-query", "10",
                 "--features", "20"]) == 0
    ds = RankingDataset.load(tmp_path / "s.arrow", fit=True)
    assert ds.n_objectives == 2 and ds.n_features == 19


def test_cli_bad_input_exit_code_and_message(tmp_path, capsys):
    src = tmp_path / "bad.txt"
    src.write_text("1 qid:1 1:1\n1 qid:1 1:1 4:\n")
    assert main(["convert", str(src), str(tmp_path / "o.parquet"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{src}:2" in err and "'4:'" in err
    assert not (tmp_path / "o.parquet").exists()


def _load_prepare():
    spec = importlib.util.spec_from_file_location("prepare_datasets", ROOT / "data_scripts" / "prepare_datasets.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["prepare_datasets"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_data_script_download_verify_extract_convert(tmp_path, mq2008_dir):
    prep = _load_prepare()
    # a local "release": Fold1 zipped, served from a file:// URL
    rel = tmp_path / "release" / "MQ2008" / "Fold1"
    rel.mkdir(parents=True)
    for s in ("train", "vali", "test"):
        shutil.copy(mq2008_dir / f"{s}.txt", rel / f"{s}.txt")
    archive = shutil.make_archive(str(tmp_path / "MQ2008"), "zip", tmp_path / "release")
    digest = prep.sha256_of(Path(archive))
    got = prep.download(Path(archive).as_uri(), tmp_path / "root" / "download" / "MQ2008.zip", digest,
                        progress=False)
    with pytest.raises(prep.PrepareError, match="SHA-256 mismatch"):
        prep.download(Path(archive).as_uri(), tmp_path / "root2" / "x.zip", "0" * 64, progress=False)
    assert not (tmp_path / "root2" / "x.zip.part").exists()
    ex = prep.extract(got, tmp_path / "root" / "raw")
    info = prep.DATASETS["mq2008"]
    written = prep.convert_folds(info, ex, tmp_path / "root", folds=["Fold1"])
    assert [p.name for p in written] == ["train.parquet", "vali.parquet", "test.parquet"]
    te = RankingDataset.load(written[2])
    assert te.n_queries == 156 and te.objective_names == ["relevance", "pagerank", "inlinks"]


def test_data_script_manual_licence_message(tmp_path):
    prep = _load_prepare()
    with pytest.raises(prep.PrepareError, match="Webscope licence"):
        prep.prepare("yahoo-set1", tmp_path)


def _cuts_inside_queries(path, range_bytes):
    """The number of range cuts of ``path`` that fall between two lines of one query."""
    from ltr_hyperdpo.data.textio import plan_ranges

    data = Path(path).read_bytes()
    inside = 0
    for start, _ in plan_ranges(path, range_bytes)[1:]:
        prev = data[:start].rstrip(b"\n").rsplit(b"\n", 1)[-1]
        nxt = data[start:].split(b"\n", 1)[0]
        inside += prev.split()[1] == nxt.split()[1]  # the qid: tokens
    return inside


@pytest.mark.parametrize("ext", ["parquet", "arrow"])
def test_workers_output_equals_one_worker(tmp_path, letor_source, monkeypatch, ext):
    import ltr_hyperdpo.data.conversion as conversion

    d, objectives = letor_source
    src = d / "train.txt"
    monkeypatch.setattr(conversion, "RANGE_BYTES", 100_000)  # many ranges, most cuts inside a query
    assert _cuts_inside_queries(src, 100_000) >= 5
    one, two = tmp_path / f"one.{ext}", tmp_path / f"two.{ext}"
    assert main(["convert", str(src), str(one), "--objectives", objectives, "--quiet"]) == 0
    assert main(["convert", str(src), str(two), "--objectives", objectives, "--quiet", "--workers", "3"]) == 0
    a, b = open_table(one), open_table(two)
    assert a.num_rows == sum(1 for _ in src.open()) and a.schema.equals(b.schema)
    for col in a.column_names:  # qids, labels, features, comments, objectives
        assert a.column(col).equals(b.column(col)), col
    ma, mb = read_metadata(a.schema), read_metadata(b.schema)
    assert ma["objectives"] == mb["objectives"] and ma["n_features"] == mb["n_features"]  # the fitted state
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([one.name, two.name])  # no spool file left


@pytest.mark.parametrize("ext", ["parquet", "arrow"])
def test_the_one_pass_and_the_streaming_two_passes_write_the_same_file(tmp_path, letor_source, monkeypatch, ext):
    """One process: a file that fits the budget is parsed once and written from memory; one that does not takes the
    two streaming passes. Both write the same bytes, comments and fitted objectives included."""
    import ltr_hyperdpo.data.conversion as conversion

    d, objectives = letor_source
    src = d / "train.txt"
    calls = []
    real = conversion._convert

    def spy(*args, **kw):
        calls.append("two passes")
        return real(*args, **kw)

    monkeypatch.setattr(conversion, "_convert", spy)
    one = tmp_path / f"one.{ext}"
    res_one = convert(src, one, objectives=objectives, workers=1)
    assert calls == []  # within the budget: one parse
    monkeypatch.setattr(conversion, "ONE_PASS_BUDGET_BYTES", 1000)  # nothing fits: the streaming passes
    two = tmp_path / f"two.{ext}"
    res_two = convert(src, two, objectives=objectives, workers=1)
    assert calls == ["two passes"]
    assert res_one == {**res_two, "output": str(one)}
    a, b = open_table(one), open_table(two)
    assert a.schema.equals(b.schema, check_metadata=True) and a.num_rows == b.num_rows > 0
    for col in a.column_names:
        assert a.column(col).equals(b.column(col)), col
    assert one.read_bytes() == two.read_bytes()


def test_the_one_pass_budget_is_checked_before_a_widening_allocation():
    from ltr_hyperdpo.data.conversion import _BudgetSink, _OverBudget

    sink = _BudgetSink(1000, 10, budget=1000 * 10 * 4)
    sink.views(100, 10)
    with pytest.raises(_OverBudget):
        sink.views(100, 11)  # would hold 1000 x 11 float32: refused before the array is made
    with pytest.raises(_OverBudget):
        _BudgetSink(1000, 11, budget=1000 * 10 * 4)


def test_workers_with_a_group_file_equal_one_worker(tmp_path, letor_source, monkeypatch):
    """qids from a side group file reach the workers' spooled batches unchanged."""
    import ltr_hyperdpo.data.conversion as conversion

    lines = (letor_source[0] / "train.txt").read_text().splitlines()
    qids = [ln.split()[1] for ln in lines]
    (tmp_path / "g.svm").write_text("".join(" ".join([ln.split()[0]] + ln.split()[2:]) + "\n" for ln in lines))
    sizes = [sum(1 for _ in grp) for _, grp in itertools.groupby(qids)]
    (tmp_path / "g.svm.group").write_text("".join(f"{n}\n" for n in sizes))
    monkeypatch.setattr(conversion, "RANGE_BYTES", 200_000)
    convert(tmp_path / "g.svm", tmp_path / "one.arrow")
    convert(tmp_path / "g.svm", tmp_path / "two.arrow", workers=2)
    a, b = open_table(tmp_path / "one.arrow"), open_table(tmp_path / "two.arrow")
    assert a.equals(b) and a.column("qid").to_pylist()[:3] == [0, 0, 0] and len(set(a.column("qid").to_pylist())) \
        == len(sizes)


def test_a_spool_file_removed_by_an_interruption_is_not_an_error(tmp_path):
    """Ctrl-C: the conversion removes its spool files, then the half-read spool generator is closed."""
    import pyarrow as pa

    import ltr_hyperdpo.data.ranges as ranges

    path = tmp_path / "x.spool"
    batch = pa.RecordBatch.from_pydict({"a": [1, 2]})
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, batch.schema) as w:
        w.write_batch(batch)
    g = ranges.spooled_batches(str(path))
    assert next(g).num_rows == 2
    path.unlink()
    g.close()  # no FileNotFoundError from the generator's clean-up


def test_a_failure_while_writing_leaves_no_output_and_no_spool(tmp_path, mq2008_dir, monkeypatch):
    import ltr_hyperdpo.data.conversion as conversion
    import ltr_hyperdpo.data.ranges as ranges

    def broken(*a, **k):
        raise OSError("No space left on device")

    monkeypatch.setattr(conversion, "RANGE_BYTES", 200_000)
    monkeypatch.setattr(ranges, "finished_batch", broken)  # inherited by the forked workers
    with pytest.raises(OSError, match="No space"):
        convert(mq2008_dir / "train.txt", tmp_path / "o.arrow", workers=2)
    assert list(tmp_path.iterdir()) == []


def test_workers_report_the_right_line(tmp_path, mq2008_dir, monkeypatch):
    import ltr_hyperdpo.data.conversion as conversion

    lines = (mq2008_dir / "train.txt").read_text().splitlines(keepends=True)
    lines[7000] = lines[7000].replace(" 3:", " 3:x", 1)
    src = tmp_path / "bad.txt"
    src.write_text("".join(lines))
    monkeypatch.setattr(conversion, "RANGE_BYTES", 200_000)
    with pytest.raises(LetorFormatError, match=r"bad.txt:7001\b"):
        convert(src, tmp_path / "o.parquet", workers=2)
    assert not (tmp_path / "o.parquet").exists()


def test_text_cache_made_once_and_renewed_on_change(tmp_path, mq2008_dir):
    from ltr_hyperdpo.data.cache import cached_input

    src = tmp_path / "train.txt"
    shutil.copy(mq2008_dir / "train.txt", src)
    cache = tmp_path / "cache"
    a = cached_input(src, cache)
    assert storage_format(a) == "arrow" and a.parent == cache
    mtime = a.stat().st_mtime_ns
    assert cached_input(src, cache) == a and a.stat().st_mtime_ns == mtime  # reused, not rewritten
    direct = parse_letor(src)
    cached = open_table(a)
    for col in ("qid", "label", "features"):
        assert cached.column(col).equals(direct.column(col)), col
    with open(src, "a") as fh:  # an edited input gets a new cache
        fh.write("0 qid:999999 1:1\n")
    b = cached_input(src, cache)
    assert b != a and open_table(b).num_rows == cached.num_rows + 1
    pq = tmp_path / "t.parquet"
    convert(src, pq)
    assert cached_input(pq, cache) == pq  # converted data is read as it is


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads RssFile from /proc (Linux)")
def test_mapped_pages_are_released_and_read_back(tmp_path):
    """A converted Arrow file is read through a memory map whose resident pages can be dropped: the data stay equal
    and the process's file-backed resident memory falls by about the file's size."""
    import pyarrow as pa

    from ltr_hyperdpo.data.store import write_table
    from ltr_hyperdpo.utils.memory import release_mapped_pages

    def rss_file() -> int:
        line = next(ln for ln in Path("/proc/self/status").read_text().splitlines() if ln.startswith("RssFile"))
        return int(line.split()[1]) * 1024

    x = np.random.default_rng(0).random(8_000_000, dtype=np.float32)  # 32 MB
    write_table(tmp_path / "x.arrow", pa.table({"x": x}))
    t = open_table(tmp_path / "x.arrow", ranking=False)
    total = float(np.asarray(t.column("x").chunk(0)).sum(dtype=np.float64))  # touches every page
    before = rss_file()
    assert release_mapped_pages() >= 1
    assert before - rss_file() > 25e6
    assert float(np.asarray(t.column("x").chunk(0)).sum(dtype=np.float64)) == total  # read back, same values


def test_auto_workers_rule(tmp_path, monkeypatch):
    import gzip
    import os

    import ltr_hyperdpo.data.conversion as conversion

    src = tmp_path / "a.txt"
    src.write_text("1 qid:1 1:0.5\n" * 2000)
    assert conversion.auto_workers(src) == 1  # small: one process
    monkeypatch.setattr(conversion, "AUTO_WORKERS_MIN_BYTES", 1000)
    cores = len(os.sched_getaffinity(0))
    assert conversion.auto_workers(src) == max(1, min(cores, 4))
    gz = tmp_path / "a.txt.gz"
    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert conversion.auto_workers(gz) == 1  # one process must decompress it
    s = conversion.convert(src, tmp_path / "a.arrow")  # auto, same output as one worker
    conversion.convert(src, tmp_path / "b.arrow", workers=1)
    assert s["rows"] == 2000 and open_table(tmp_path / "a.arrow").equals(open_table(tmp_path / "b.arrow"))
    # one pass first: with one worker, and with auto on fewer than 3 cores (one parse beats two parses on two)
    assert conversion.one_pass_first(src, 1) and not conversion.one_pass_first(src, 3)
    assert not conversion.one_pass_first(gz, 1)  # gzip: counting its lines would decompress it twice
    monkeypatch.setattr(conversion, "available_cores", lambda: 2)
    assert conversion.one_pass_first(src, None)
    monkeypatch.setattr(conversion, "available_cores", lambda: 8)
    assert not conversion.one_pass_first(src, None)  # 8 cores: the two passes in 4 processes
    monkeypatch.setattr(conversion, "AUTO_WORKERS_MIN_BYTES", 1 << 40)
    assert conversion.one_pass_first(src, None)  # a small file is converted by one process: once
