"""Arrow storage of ranking data: atomic Parquet / Arrow IPC writing, memory-mapped re-opening, metadata."""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

META_KEY = b"ltr_hyperdpo"
PARQUET_MAGIC = b"PAR1"
ARROW_MAGIC = b"ARROW1"


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically (temp file, then rename)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(o):
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def storage_format(path: str | os.PathLike) -> str:
    """Detect 'parquet', 'arrow' or 'text' from the file's magic bytes."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head[:4] == PARQUET_MAGIC:
        return "parquet"
    if head == ARROW_MAGIC:
        return "arrow"
    return "text"


def format_for_output(path: str | os.PathLike, fmt: str | None = None) -> str:
    """Choose the output format from ``fmt`` or the file extension (.parquet / .arrow, .ipc, .feather)."""
    if fmt:
        if fmt not in ("parquet", "arrow"):
            raise ValueError(f"format must be 'parquet' or 'arrow', got {fmt!r}")
        return fmt
    ext = Path(path).suffix.lower()
    if ext in (".parquet", ".pq"):
        return "parquet"
    if ext in (".arrow", ".ipc", ".feather"):
        return "arrow"
    raise ValueError(f"{path}: cannot tell the output format from the extension; use .parquet or .arrow")


def with_metadata(schema: pa.Schema, meta: dict | None) -> pa.Schema:
    """Attach our JSON metadata to a schema."""
    if not meta:
        return schema
    md = dict(schema.metadata or {})
    md[META_KEY] = json.dumps(meta, default=_json_default).encode()
    return schema.with_metadata(md)


def read_metadata(schema: pa.Schema) -> dict:
    """Our JSON metadata from a schema ({} when absent)."""
    raw = (schema.metadata or {}).get(META_KEY)
    return json.loads(raw) if raw else {}


def write_batches(path: str | os.PathLike, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
                  fmt: str | None = None, meta: dict | None = None) -> Path:
    """Stream record batches to Parquet (zstd) or Arrow IPC, atomically: no partial file is left on error."""
    fmt = format_for_output(path, fmt)
    schema = with_metadata(schema, meta)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            with pq.ParquetWriter(tmp, schema, compression="zstd") as w:
                for b in batches:
                    w.write_batch(b.replace_schema_metadata(schema.metadata))
        else:
            with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, schema) as w:
                for b in batches:
                    w.write_batch(b.replace_schema_metadata(schema.metadata))
    return Path(path)


def write_table(path: str | os.PathLike, table: pa.Table, fmt: str | None = None, meta: dict | None = None) -> Path:
    """Write a table atomically (Parquet or Arrow IPC)."""
    return write_batches(path, table.schema, table.to_batches(), fmt=fmt, meta=meta)


def open_table(path: str | os.PathLike) -> pa.Table:
    """Open a converted file without re-parsing: Arrow IPC is memory-mapped, Parquet is read."""
    fmt = storage_format(path)
    if fmt == "arrow":
        return pa.ipc.open_file(pa.memory_map(str(path), "r")).read_all()
    if fmt == "parquet":
        return pq.read_table(str(path), memory_map=True)
    raise ValueError(f"{path}: not a Parquet or Arrow IPC file (use `ltr-hyperdpo convert` first)")
