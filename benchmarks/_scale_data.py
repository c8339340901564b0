"""A seeded MSLR-WEB10K-shaped LETOR text file for the scale benchmark (written fast by a numba kernel).

Shape: ``n_queries`` queries of ~120 documents (list sizes drawn like MSLR's, 1-1000), 136 features, relevance 0-4
with MSLR-WEB10K's label frequencies. Features 1-131 mix a few latent factors (some skewed non-negative counts, so
the normaliser's log1p path runs); 132/133 (QualityScore/2) are integers 0-255 tied to a document-quality factor;
134/135/136 (query-url clicks, url clicks, url dwell time) are zero-inflated and related to relevance, 135 and 136
nearly copies of each other, as in MSLR. The ``mslr5`` preset reads 132, 133, 134, 136.
"""
from __future__ import annotations

import os
from pathlib import Path

import numba
import numpy as np

N_FEATURES = 136
#: MSLR-WEB10K label frequencies (grades 0-4)
LABEL_P = np.array([0.52, 0.32, 0.13, 0.02, 0.01])


def make_arrays(n_queries: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels [docs] float32, qids [docs] int64, features [docs, 136] float32)."""
    rng = np.random.default_rng(seed)
    sizes = np.clip(rng.lognormal(np.log(105), 0.55, n_queries).astype(np.int64), 1, 1000)
    n = int(sizes.sum())
    qids = np.repeat(np.arange(1, n_queries + 1, dtype=np.int64), sizes)
    rel = rng.normal(size=n).astype(np.float32) + np.repeat(rng.normal(0, 0.5, n_queries), sizes).astype(np.float32)
    cuts = np.quantile(rel, np.cumsum(LABEL_P)[:-1])
    labels = np.searchsorted(cuts, rel).astype(np.float32)
    quality = (0.4 * rel + rng.normal(size=n)).astype(np.float32)
    factors = np.stack([rel, quality, rng.normal(size=n).astype(np.float32), rng.normal(size=n).astype(np.float32)])
    x = np.empty((n, N_FEATURES), dtype=np.float32)
    mix = rng.normal(0, 1, (131, 4)).astype(np.float32) * np.array([0.3, 0.2, 1.0, 1.0], dtype=np.float32)
    for j in range(131):
        v = mix[j] @ factors + rng.normal(0, 1.0, n).astype(np.float32)
        if j % 3 == 0:  # skewed non-negative counts (log1p in the normaliser)
            v = np.floor(np.exp(np.clip(v, -5, 5)) * 3)
        elif j % 3 == 1:
            v = np.round(v, 3)
        x[:, j] = v
    x[:, 131] = np.clip(np.round(128 + 40 * quality), 0, 255)
    x[:, 132] = np.clip(np.round(128 + 30 * quality + rng.normal(0, 20, n)), 0, 255)
    clicks = np.where(rng.random(n) < 0.6, 0.0, np.floor(np.exp(0.8 * rel + rng.normal(0, 1, n))))
    x[:, 133] = clicks
    url = np.where(rng.random(n) < 0.5, 0.0, np.floor(np.exp(0.6 * rel + rng.normal(0, 1, n)) * 10))
    x[:, 134] = url
    x[:, 135] = np.where(url > 0, np.round(url * (30 + rng.gamma(2.0, 2.0, n)), 1), 0.0)
    return labels, qids, x


@numba.njit(cache=True)
def _put_int(buf: np.ndarray, p: int, v: int) -> int:
    if v == 0:
        buf[p] = 48
        return p + 1
    tmp = np.empty(20, np.uint8)
    k = 0
    while v > 0:
        tmp[k] = 48 + v % 10
        v //= 10
        k += 1
    for i in range(k):
        buf[p + i] = tmp[k - 1 - i]
    return p + k


@numba.njit(cache=True)
def _format(labels: np.ndarray, qids: np.ndarray, x: np.ndarray, buf: np.ndarray) -> int:
    """LETOR lines into ``buf`` (values with up to 4 decimals, trailing zeros dropped); returns the byte count."""
    p = 0
    for i in range(x.shape[0]):
        p = _put_int(buf, p, int(labels[i]))
        for c in b" qid:":
            buf[p] = c
            p += 1
        p = _put_int(buf, p, qids[i])
        for j in range(x.shape[1]):
            buf[p] = 32
            p = _put_int(buf, p + 1, j + 1)
            buf[p] = 58
            p += 1
            v = float(x[i, j])
            if v < 0:
                buf[p] = 45
                p += 1
                v = -v
            scaled = int(v * 10000.0 + 0.5)
            p = _put_int(buf, p, scaled // 10000)
            frac = scaled % 10000
            if frac:
                buf[p] = 46
                p += 1
                digits = np.empty(4, np.uint8)
                for d in range(3, -1, -1):
                    digits[d] = 48 + frac % 10
                    frac //= 10
                last = 3
                while digits[last] == 48:
                    last -= 1
                for d in range(last + 1):
                    buf[p] = digits[d]
                    p += 1
        buf[p] = 10
        p += 1
    return p


def write_text(path: Path, labels: np.ndarray, qids: np.ndarray, x: np.ndarray, block: int = 50_000) -> None:
    """Write the arrays as LETOR text (atomically: a temporary name, then a rename)."""
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    buf = np.empty(block * (N_FEATURES * 16 + 40), dtype=np.uint8)
    with open(tmp, "wb") as fh:
        for s in range(0, len(labels), block):
            n = _format(labels[s:s + block], qids[s:s + block], x[s:s + block], buf)
            fh.write(buf[:n].tobytes())
    os.replace(tmp, path)


def ensure_files(cache: Path, n_queries: int, test_queries: int, seed: int = 0) -> tuple[Path, Path]:
    """The cached (train, test) text files of this shape, generated once."""
    cache.mkdir(parents=True, exist_ok=True)
    train = cache / f"mslr_shaped_q{n_queries}_s{seed}.txt"
    test = cache / f"mslr_shaped_q{test_queries}_s{seed + 1}.txt"
    for path, nq, s in ((train, n_queries, seed), (test, test_queries, seed + 1)):
        if not path.exists():
            write_text(path, *make_arrays(nq, s))
    return train, test
