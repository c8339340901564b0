"""The LETOR/SVMlight reader: equality with sklearn on every shared file, both layouts, errors, chunking."""

import numpy as np
import pytest
from conftest import shared_path
from sklearn.datasets import load_svmlight_file

from ltr_hyperdpo.data.letor import LetorFormatError, LetorFormatWarning, parse_letor
from ltr_hyperdpo.data.tables import table_arrays

LTR_FILES = [("mslr_msn1_fold1_5k", "train.txt"), ("mslr_msn1_fold1_5k", "test.txt"),
             ("mq2008_fold1", "train.txt"), ("mq2008_fold1", "vali.txt"), ("mq2008_fold1", "test.txt")]


@pytest.mark.parametrize("folder,name", LTR_FILES)
def test_equals_sklearn_on_shared_letor(folder, name):
    path = shared_path("data", "ltr", folder, name)
    q, y, x = table_arrays(parse_letor(path, chunk_bytes=1 << 20))
    X, Y, Q = load_svmlight_file(str(path), query_id=True)
    assert x.shape[0] == X.shape[0]
    ref = X.toarray().astype(np.float32)
    assert x.shape[1] == ref.shape[1]
    np.testing.assert_allclose(x, ref, rtol=1e-6, atol=0)
    np.testing.assert_array_equal(y, Y.astype(np.float32))
    np.testing.assert_array_equal(q, Q)


@pytest.mark.parametrize("split", ["train", "vali", "test"])
def test_group_file_layout_equals_qid_layout(split):
    d = shared_path("data", "ltr", "mq2008_fold1")
    a = parse_letor(d / f"{split}.svm", group_file=d / f"{split}.svm.group")
    qa, ya, xa = table_arrays(a)
    X, Y = load_svmlight_file(str(d / f"{split}.svm"))
    np.testing.assert_allclose(xa, X.toarray().astype(np.float32), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(ya, Y.astype(np.float32))
    qb, yb, xb = table_arrays(parse_letor(d / f"{split}.txt"))
    np.testing.assert_array_equal(xa, xb)
    # same query boundaries: group ids renumber the qids but split the rows identically
    assert np.array_equal(np.flatnonzero(np.diff(qa)), np.flatnonzero(np.diff(qb)))


def test_comments_dense_lines_and_crlf(tmp_path):
    p = tmp_path / "c.txt"
    p.write_bytes(b"# header comment line\n2 qid:7 1:0.5 2:1 3:-2e-1 # docid = GX01\r\n"
                  b"\n0 qid:7 1:0 2:0 3:0\r\n1 qid:9 3:4.25   #  doc b  \n")
    t = parse_letor(p)
    q, y, x = table_arrays(t)
    np.testing.assert_array_equal(q, [7, 7, 9])
    np.testing.assert_array_equal(y, [2, 0, 1])
    np.testing.assert_allclose(x, [[0.5, 1, -0.2], [0, 0, 0], [0, 0, 4.25]])
    assert t.column("comment").to_pylist() == ["docid = GX01", "", "doc b"]


def test_small_chunks_and_width_growth_match_one_chunk(mslr_train):
    a = table_arrays(parse_letor(mslr_train, chunk_bytes=1 << 22))
    b = table_arrays(parse_letor(mslr_train, chunk_bytes=3000))
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)


def test_width_grows_across_chunks(tmp_path):
    p = tmp_path / "w.txt"
    p.write_text("1 qid:1 1:1\n" * 200 + "0 qid:1 50:2\n")
    q, y, x = table_arrays(parse_letor(p, chunk_bytes=64))
    assert x.shape == (201, 50)
    assert x[-1, 49] == 2 and x[0, 0] == 1 and x[:200, 1:].sum() == 0


BAD = [
    ("1 qid:1 1:abc\n", "non-numeric feature value", "1:abc"),
    ("1 1:0.5\n", "missing 'qid:'", "1:0.5"),
    ("1 qid:x 1:0.5\n", "non-numeric qid", "qid:x"),
    ("1 qid:1 0:0.5\n", "1-based", "0:0.5"),
    ("1 qid:1 -3:0.5\n", "1-based", "-3:0.5"),
    ("1 qid:1 2:1 2:3\n", "duplicate feature index", "2:3"),
    ("1 qid:1 1:nan\n", "NaN or infinite", "1:nan"),
    ("1 qid:1 1:inf\n", "NaN or infinite", "1:inf"),
    ("1 qid:1 1:-Infinity\n", "NaN or infinite", "1:-Infinity"),
    ("qid:1 1:0.5\n", "label", "qid:1"),
    ("abc qid:1 1:0.5\n", "label", "abc"),
    ("1 qid:1 x:0.5\n", "non-numeric feature index", "x:0.5"),
    ("1 qid:1 5\n", "index:value", "5"),
]


@pytest.mark.parametrize("bad,reason,token", BAD)
def test_malformed_line_names_file_line_and_token(tmp_path, bad, reason, token):
    p = tmp_path / "bad.txt"
    p.write_text("0 qid:1 1:0.1 2:0.2\n2 qid:1 1:1\n" + bad + "1 qid:2 1:1\n")
    with pytest.raises(LetorFormatError) as ei:
        parse_letor(p)
    e = ei.value
    assert e.line == 3 and e.token == token and reason in e.reason
    assert f"{p}:3" in str(e) and repr(token) in str(e)


def test_lenient_mode_skips_and_warns(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text("0 qid:1 1:0.1\n1 qid:1 1:zz\n2 qid:1 2:2 2:1\n1 qid:2 1:1\n")
    with pytest.warns(LetorFormatWarning, match=r"skipped 2 malformed line\(s\); first: line 2"):
        t = parse_letor(p, on_error="warn")
    q, y, x = table_arrays(t)
    np.testing.assert_array_equal(y, [0, 1])
    np.testing.assert_allclose(x, [[0.1], [1.0]])


def test_values_beyond_float32_are_clipped_with_a_warning(tmp_path):
    p = tmp_path / "big.txt"
    p.write_text("1 qid:1 1:1.7976931348623157e308 2:-1e39 3:2.5 4:1e999 5:3.4e38\n")
    with pytest.warns(LetorFormatWarning, match="3 value"):
        q, y, x = table_arrays(parse_letor(p))
    f32 = np.finfo(np.float32).max
    np.testing.assert_array_equal(x, [[f32, -f32, 2.5, f32, np.float32(3.4e38)]])


def test_empty_file(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("\n# only a comment\n")
    with pytest.raises(LetorFormatError, match="empty file"):
        parse_letor(p)


def test_group_sizes_must_sum_to_rows(tmp_path):
    p = tmp_path / "d.svm"
    p.write_text("1 1:1\n0 1:2\n1 1:3\n")
    g = tmp_path / "d.svm.group"
    g.write_text("2\n2\n")
    with pytest.raises(LetorFormatError, match=r"sum to 4 but .* 3 data rows") as ei:
        parse_letor(p, group_file=g)
    assert str(g) in str(ei.value)
    g.write_text("2\nx\n")
    with pytest.raises(LetorFormatError, match=r"d.svm.group:2: group size is not an integer"):
        parse_letor(p, group_file=g)


def test_non_contiguous_query(tmp_path):
    p = tmp_path / "nc.txt"
    p.write_text("1 qid:1 1:1\n1 qid:2 1:1\n1 qid:2 1:1\n0 qid:1 1:1\n")
    with pytest.raises(LetorFormatError, match="not contiguous") as ei:
        parse_letor(p)
    assert ei.value.line == 4


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        parse_letor(tmp_path / "nope.txt")
