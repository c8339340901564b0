"""Reference log-probabilities cached on disk (Arrow IPC, in the run directory), so a resumed or repeated run, and
``llm-front``, do not recompute them.

The file is named by the model's identity (its directory, config and weight files' sizes and modification times,
and the compute dtype); each entry is keyed by a hash of the exact token ids of the (prompt, response) sequence and
of where the response starts, so tokenizer settings (template, truncation, context) and the data are part of every
key: changing any of them misses the cache instead of reading a stale value.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from ..data.store import open_table
from ..utils.io import atomic_path
from .gguf import model_source
from .model import HyperPromptLM
from .tokenize import Encoder

#: bump when the cached values change meaning: old files are then ignored
CACHE_VERSION = 1
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".json", ".gguf")


def model_key(model_dir: str | os.PathLike, dtype: torch.dtype, precision: str = "fp32") -> str:
    """A short hash of a local model's identity (a directory's weight files, or a GGUF file) and the dtype its
    log-probs are computed in (weights' dtype and autocast precision)."""
    d = model_source(model_dir).resolve()
    parts = [f"v{CACHE_VERSION}", str(d), str(dtype)] + ([precision] if precision != "fp32" else [])
    for f in sorted(d.iterdir()) if d.is_dir() else [d]:
        if f.is_file() and f.suffix in WEIGHT_SUFFIXES:
            st = f.stat()
            parts += [f.name, str(st.st_size), str(st.st_mtime_ns)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def sequence_key(ids: list[int], start: int) -> bytes:
    """The cache key of one encoded sequence (token ids and the response's first position)."""
    return hashlib.sha1(np.asarray(ids + [-1, start], dtype=np.int64).tobytes()).digest()


class RefLogprobCache:
    """``key -> log p_ref(response | prompt)``, loaded from and saved to ``path`` (or in memory when ``None``)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self.values: dict[bytes, float] = {}
        self.computed = 0  # sequences scored by the model (cache misses), for tests and logs
        self._dirty = False
        if self.path is not None and self.path.exists():
            t = open_table(self.path, ranking=False)
            self.values = dict(zip(t.column("key").to_pylist(), t.column("logprob").to_pylist(), strict=True))

    def get(self, model: HyperPromptLM, enc: Encoder, pairs: list[tuple], dev: torch.device,
            batch_size: int = 16) -> torch.Tensor:
        """Reference log-probs ``[len(pairs)]`` of (prompt, response) pairs; misses are computed in batches."""
        keys = [sequence_key(*enc.encode_pair(p, r)) for p, r in pairs]
        missing = sorted({k: i for i, k in enumerate(keys) if k not in self.values}.values())
        for chunk in enc.length_batches([pairs[i] for i in missing], batch_size):
            rows = [missing[j] for j in chunk]
            ids, att, resp = enc.batch([pairs[i] for i in rows])
            with torch.no_grad():
                lp = model.sequence_logprobs(ids.to(dev), att.to(dev), resp.to(dev), None).float().cpu()
            for i, v in zip(rows, lp.tolist(), strict=True):
                self.values[keys[i]] = float(v)
            self.computed += len(rows)
            self._dirty = True
        return torch.tensor([self.values[k] for k in keys], dtype=torch.float64)

    def save(self) -> None:
        """Write the cache atomically when it has new entries (no-op in memory)."""
        if self.path is None or not self._dirty:
            return
        table = pa.table({"key": pa.array(list(self.values), pa.binary(20)),
                          "logprob": pa.array(list(self.values.values()), pa.float64())})
        with atomic_path(self.path) as tmp:
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as w:
                w.write_table(table)
        self._dirty = False


def cache_path(run_dir: str | os.PathLike, model_dir: str | os.PathLike, dtype: torch.dtype,
               precision: str = "fp32") -> Path:
    """Where a run keeps the reference log-probs of this model, dtype and precision."""
    return Path(run_dir) / f"ref_logprobs.{model_key(model_dir, dtype, precision)}.arrow"
