"""Arrow storage of ranking data: atomic Parquet / Arrow IPC writing, memory-mapped re-opening, metadata."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import DataError
from ..utils.io import atomic_path, jsonable
from ..utils.memory import map_readonly

META_KEY = b"ltr_hyperdpo"
PARQUET_MAGIC = b"PAR1"
ARROW_MAGIC = b"ARROW1"


def storage_format(path: str | os.PathLike) -> str:
    """Detect 'parquet', 'arrow' or 'text' from the file's magic bytes; a file named ``.parquet``/``.arrow`` (or
    ``.ipc``, ``.feather``) without its format's magic bytes is refused naming it, not read as text."""
    with open(path, "rb") as fh:
        head = fh.read(6)
    if head[:4] == PARQUET_MAGIC:
        return "parquet"
    if head == ARROW_MAGIC:
        return "arrow"
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".arrow", ".ipc", ".feather"):
        kind = "Parquet" if suffix == ".parquet" else "Arrow IPC"
        raise DataError(f"{path}: not a readable {kind} file (its first bytes are not the {kind} magic); convert "
                        f"LETOR text with `ltr-hyperdpo convert`")
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
    md[META_KEY] = json.dumps(jsonable(meta), allow_nan=False).encode()
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


#: the columns of a converted table and what each must hold
EXPECTED_SCHEMA = ("qid: int64, label: float32, features: fixed_size_list<float32>[F] (optional comment: string, "
                   "objectives: fixed_size_list<float32>[K]), as `ltr-hyperdpo convert` writes")


def check_schema(schema: pa.Schema, path: str | os.PathLike) -> None:
    """Refuse a table that is not a converted ranking table, naming the column and what it should be."""
    def bad(what: str) -> DataError:
        return DataError(f"{path}: {what}; expected {EXPECTED_SCHEMA}")

    names = set(schema.names)
    for col in ("qid", "label", "features"):
        if col not in names:
            raise bad(f"no column {col!r} (columns: {', '.join(schema.names) or 'none'})")
    if not pa.types.is_integer(schema.field("qid").type):
        raise bad(f"column 'qid' is {schema.field('qid').type}, not an integer")
    lt = schema.field("label").type
    if not (pa.types.is_floating(lt) or pa.types.is_integer(lt)):
        raise bad(f"column 'label' is {lt}, not a number")
    for col in ("features", "objectives"):
        if col in names:
            ft = schema.field(col).type
            if not (pa.types.is_fixed_size_list(ft) and pa.types.is_float32(ft.value_type)):
                raise bad(f"column {col!r} is {ft}, not a fixed-size list of float32")


def open_table(path: str | os.PathLike, ranking: bool = True) -> pa.Table:
    """Open a converted file without re-parsing: Arrow IPC is memory-mapped (its pages can be released, see
    :func:`ltr_hyperdpo.utils.memory.release_mapped_pages`), Parquet is read. A file that is not a converted ranking
    table (missing columns, wrong types, not Parquet/Arrow at all) fails naming the file and the column; other
    tables (``ranking=False``: response lists, caches) are only read."""
    fmt = storage_format(path)
    try:
        if fmt == "arrow":
            if os.path.getsize(path) == 0:
                raise DataError(f"{path}: empty file (not an Arrow IPC file)")
            table = pa.ipc.open_file(pa.py_buffer(map_readonly(path))).read_all()
        elif fmt == "parquet":
            table = pq.read_table(str(path), memory_map=True)
        else:
            raise ValueError(f"{path}: not a Parquet or Arrow IPC file (use `ltr-hyperdpo convert` first)")
    except (pa.ArrowInvalid, pa.ArrowIOError) as e:
        detail = " ".join(str(e).split())[:200]
        raise DataError(f"{path}: not a readable {'Arrow IPC' if fmt == 'arrow' else 'Parquet'} file ({detail})") \
            from None
    if ranking:
        check_schema(table.schema, path)
    return table
