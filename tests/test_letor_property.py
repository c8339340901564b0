"""Property-based tests: generated valid files parse exactly; a corrupted token is reported at its line."""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ltr_hyperdpo.data.letor import LetorFormatError, parse_letor
from ltr_hyperdpo.data.tables import table_arrays

values = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32).map(lambda v: float(np.float32(v)))


@st.composite
def letor_rows(draw):
    n_feat = draw(st.integers(1, 12))
    n_q = draw(st.integers(1, 5))
    rows = []
    for q in range(n_q):
        for _ in range(draw(st.integers(1, 6))):
            label = draw(st.integers(0, 4))
            dense = draw(st.lists(values, min_size=n_feat, max_size=n_feat))
            keep = draw(st.lists(st.booleans(), min_size=n_feat, max_size=n_feat))
            rows.append((q + 1, label, [v if k else 0.0 for v, k in zip(dense, keep, strict=True)]))
    return n_feat, rows


def render(rows, n_feat, sep=" "):
    lines = []
    for q, lab, feats in rows:
        toks = [f"{j + 1}:{v!r}" for j, v in enumerate(feats) if v != 0.0]
        lines.append(sep.join([str(lab), f"qid:{q}"] + toks))
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=letor_rows(), chunk=st.integers(16, 4096), sep=st.sampled_from([" ", "\t", "  "]))
def test_valid_files_round_trip(tmp_path_factory, data, chunk, sep):
    n_feat, rows = data
    p = tmp_path_factory.mktemp("h") / "v.txt"
    p.write_text(render(rows, n_feat, sep))
    q, y, x = table_arrays(parse_letor(p, n_features=n_feat, chunk_bytes=chunk))
    exp = np.array([r[2] for r in rows], dtype=np.float32)
    np.testing.assert_array_equal(x, exp)
    np.testing.assert_array_equal(y, [r[1] for r in rows])
    np.testing.assert_array_equal(q, [r[0] for r in rows])


CORRUPT = ["1:x", "0:1", "-2:1", "1:nan", "1:-inf", "qid", "a:1", "1:1.2.3", "1:1e"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=letor_rows(), where=st.integers(0, 10 ** 6), bad=st.sampled_from(CORRUPT))
def test_corrupted_token_reports_its_line(tmp_path_factory, data, where, bad):
    n_feat, rows = data
    lines = render(rows, n_feat).splitlines()
    i = where % len(lines)
    lines[i] = lines[i] + " " + bad
    p = tmp_path_factory.mktemp("h") / "c.txt"
    p.write_text("\n".join(lines) + "\n")
    try:
        parse_letor(p)
    except LetorFormatError as e:
        assert e.line == i + 1
        assert e.token == bad
        assert str(p) in str(e)
    else:
        raise AssertionError("corrupted file parsed without error")
