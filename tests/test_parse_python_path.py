"""The parser kernel's own Python (used for inputs up to SMALL_INPUT_BYTES, so that a small conversion never loads
numba) gives exactly what the compiled kernel gives: the same table for valid input, the same error otherwise."""
import numpy as np
import pytest

import ltr_hyperdpo.data.letor as letor
from ltr_hyperdpo.data.letor import parse_letor


def _random_letor(rng: np.random.Generator, n_queries: int) -> str:
    values = ["0", "1", "-0.5", "+2", ".5", "3.", "1e-3", "-2.5E+2", "0.000001", "123456789", "7.25", "-0"]
    lines = []
    for q in range(n_queries):
        qid = int(rng.integers(0, 10 ** 12))
        for _ in range(int(rng.integers(1, 6))):
            idx = np.sort(rng.choice(np.arange(1, 40), size=int(rng.integers(0, 8)), replace=False))
            if rng.random() < 0.2:
                idx = idx[::-1]  # out of order: the duplicate check's other branch
            feats = " ".join(f"{i}:{values[int(rng.integers(len(values)))]}" for i in idx)
            label = str(int(rng.integers(0, 5))) if rng.random() < 0.8 else f"{rng.random() * 4:.3f}"
            comment = f" # docid=d{q}_{rng.integers(100)} x:1" if rng.random() < 0.5 else ""
            sep = "\t" if rng.random() < 0.2 else " "
            lines.append(f"{label}{sep}qid:{qid}{sep}{feats}{comment}".rstrip())
        if rng.random() < 0.2:
            lines.append("# a comment line" if rng.random() < 0.5 else "")
    return "\r\n".join(lines) + "\n" if rng.random() < 0.3 else "\n".join(lines) + "\n"


def _parse(path, monkeypatch, python: bool, **kw):
    monkeypatch.setattr(letor, "SMALL_INPUT_BYTES", 1 << 30 if python else -1)
    return parse_letor(path, **kw)


@pytest.mark.parametrize("seed", range(12))
def test_valid_input_gives_the_same_table(tmp_path, monkeypatch, seed):
    src = tmp_path / "a.txt"
    src.write_text(_random_letor(np.random.default_rng(seed), 30))
    calls = []
    real = letor.parse_chunk.run
    monkeypatch.setattr(letor.parse_chunk, "run", lambda *a: calls.append(1) or real(*a))
    a = _parse(src, monkeypatch, python=True)
    assert calls == []  # clean input: the Python run was used, never the compiled kernel
    b = _parse(src, monkeypatch, python=False)
    assert calls and a.schema.equals(b.schema)
    for col in a.column_names:
        assert a.column(col).equals(b.column(col)), col


@pytest.mark.parametrize("bad", ["1 qid:1 2:0.5 2:0.7", "x qid:1 1:1", "1 1:1", "1 qid:x 1:1", "1 qid:1 0:1",
                                 "1 qid:1 a:1", "1 qid:1 1:abc", "1 qid:1 1:nan", "1 qid:1 1:1e39", "1 qid:1 11",
                                 "-1 qid:1 1:1", "1 qid:1 99999999999999999999:1", "1 qid:99999999999999999999 1:1"])
def test_bad_input_gives_the_same_result(tmp_path, monkeypatch, bad):
    src = tmp_path / "b.txt"
    src.write_text("1 qid:1 1:0.5\n" + bad + "\n0 qid:2 3:1\n")
    out = []
    for python in (True, False):
        try:
            t = _parse(src, monkeypatch, python)
            out.append(("ok", [t.column(c).to_pylist() for c in t.column_names]))
        except Exception as e:  # noqa: BLE001 - the two runs must fail alike
            out.append((type(e).__name__, str(e)))
    assert out[0] == out[1]
