"""Reading LETOR/SVMlight text files as bytes: gzip and a UTF-8 byte-order mark handled, chunks that end on a line
boundary, byte ranges for parallel parsing, and the LightGBM/XGBoost group side files."""
from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from ..errors import DataError


class LetorFormatError(DataError):
    """A malformed LETOR/SVMlight input: the message names the file, the line and the offending token."""

    def __init__(self, path: str | os.PathLike, line: int | None, reason: str, token: str | None = None):
        self.path = str(path)
        self.line = line
        self.reason = reason
        self.token = token
        where = f"{self.path}:{line}" if line is not None else self.path
        msg = f"{where}: {reason}"
        if token is not None:
            msg += f" (token {token!r})"
        super().__init__(msg)

    def __reduce__(self) -> tuple:  # picklable across worker processes
        return (LetorFormatError, (self.path, self.line, self.reason, self.token))


GZIP_MAGIC = b"\x1f\x8b"
UTF8_BOM = b"\xef\xbb\xbf"


def check_input_path(path: str | os.PathLike) -> Path:
    """The input file as a Path; standard input, missing files and directories fail with one clear message."""
    if str(path) == "-":
        raise DataError("reading from standard input is not supported: save the data to a file first "
                        "(gzip-compressed .gz files are read directly)")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise DataError(f"{p}: is a directory, not a data file")
    return p


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file starts with the gzip magic bytes."""
    with open(path, "rb") as fh:
        return fh.read(2) == GZIP_MAGIC


class _GzipReader:
    """A gzip file read as bytes whose decompression errors name the file (gzip's own say nothing of it)."""

    def __init__(self, path: str | os.PathLike):
        self.path = path
        self.fh = gzip.open(path, "rb")

    def read(self, size: int = -1) -> bytes:
        try:
            return self.fh.read(size)
        except (EOFError, gzip.BadGzipFile, zlib.error) as e:
            detail = " ".join(str(e).split()) or type(e).__name__
            raise DataError(f"{self.path}: truncated or corrupt gzip file ({detail})") from None

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def close(self) -> None:
        self.fh.close()

    def __enter__(self) -> _GzipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_bytes(path: str | os.PathLike) -> BinaryIO:
    """Open a data file for reading bytes; gzip-compressed files (by their magic bytes) are decompressed, and a
    truncated or corrupt one fails naming the file."""
    if is_gzip(path):
        return cast(BinaryIO, _GzipReader(path))
    return open(path, "rb")


def check_text_head(path: str | os.PathLike, head: bytes) -> None:
    """Refuse text that is not ASCII-compatible (UTF-16/32, seen by their byte-order marks or NUL bytes), which
    would otherwise be misread (as the LightGBM layout, or as bad tokens)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\0" in head[:4096]:
        raise DataError(f"{path}: looks like UTF-16 or UTF-32 text (or a binary file); LETOR text must be ASCII or "
                        f"UTF-8: convert it first, e.g. iconv -f UTF-16 -t UTF-8")


def bom_length(path: str | os.PathLike) -> int:
    """Length of a UTF-8 byte-order mark at the start of a plain file (0 when absent)."""
    with open(path, "rb") as fh:
        return len(UTF8_BOM) if fh.read(3) == UTF8_BOM else 0


def iter_line_chunks(path: str | os.PathLike, chunk_bytes: int, start: int = 0, end: int | None = None,
                     first_line: int = 1) -> Iterator[tuple[np.ndarray, int, int]]:
    """Yield ``(buffer, n_valid_bytes, first_line_number)`` over chunks of ``[start, end)`` that end on a line
    boundary. ``start``/``end`` must sit on line boundaries (see :func:`plan_ranges`); a byte-order mark at the start
    of the file is skipped; gzip files are read whole (``start``/``end`` must then be 0/``None``)."""
    line_no = first_line
    carry = b""
    left = None if end is None else end - start
    with open_bytes(path) as fh:
        if start:
            fh.seek(start)
        first = start == 0
        while True:
            size = chunk_bytes if left is None else min(chunk_bytes, left)
            block = fh.read(size) if size > 0 else b""
            if left is not None:
                left -= len(block)
            if first:
                first = False
                check_text_head(path, block)
                if block.startswith(UTF8_BOM):
                    block = block[len(UTF8_BOM):]
            if not block:
                if carry:
                    buf = np.frombuffer(carry, dtype=np.uint8)
                    yield buf, buf.shape[0], line_no
                return
            data = carry + block if carry else block
            cut = data.rfind(b"\n")
            if cut < 0:
                carry = data
                continue
            buf = np.frombuffer(data, dtype=np.uint8)
            n = cut + 1
            yield buf, n, line_no
            line_no += data.count(b"\n", 0, n)
            carry = data[n:]


def plan_ranges(path: str | os.PathLike, range_bytes: int) -> list[tuple[int, int]]:
    """Cut a plain file into byte ranges of about ``range_bytes`` that start and end on line boundaries."""
    size = os.path.getsize(path)
    pos = bom_length(path)
    ranges = []
    with open(path, "rb") as fh:
        while pos < size:
            cut = min(pos + range_bytes, size)
            if cut < size:
                fh.seek(cut)
                tail = b""
                while True:  # advance to just after the next newline
                    piece = fh.read(1 << 16)
                    if not piece:
                        cut = size
                        break
                    i = piece.find(b"\n")
                    if i >= 0:
                        cut = cut + len(tail) + i + 1
                        break
                    tail += piece
            ranges.append((pos, cut))
            pos = cut
    return ranges


def count_newlines(path: str | os.PathLike, start: int = 0, end: int | None = None, chunk_bytes: int = 1 << 24) -> int:
    """Number of newline characters in ``[start, end)`` of a file (gzip files: in the whole decompressed file)."""
    n = 0
    left = None if end is None else end - start
    with open_bytes(path) as fh:
        if start:
            fh.seek(start)
        while left is None or left > 0:
            b = fh.read(chunk_bytes if left is None else min(chunk_bytes, left))
            if not b:
                break
            n += b.count(b"\n")
            if left is not None:
                left -= len(b)
    return n


def count_lines(path: str | os.PathLike, chunk_bytes: int = 1 << 24) -> int:
    """Number of lines of a file (newlines, +1 for a last line without one)."""
    n = 0
    last = b"\n"
    with open_bytes(path) as fh:
        while True:
            b = fh.read(chunk_bytes)
            if not b:
                break
            n += b.count(b"\n")
            last = b[-1:]
    return n + (last != b"\n")


def read_group_file(path: str | os.PathLike) -> np.ndarray:
    """Read a LightGBM/XGBoost ``.group``/``.query`` side file (one positive query size per line)."""
    path = Path(path)
    sizes = []
    with open(path, encoding="utf-8") as fh:
        for no, line in enumerate(fh, 1):
            s = line.strip()
            if not s:
                continue
            try:
                v = int(s)
            except ValueError:
                raise LetorFormatError(path, no, "group size is not an integer", s) from None
            if v <= 0:
                raise LetorFormatError(path, no, "group size must be positive", s)
            sizes.append(v)
    if not sizes:
        raise LetorFormatError(path, None, "empty group file")
    return np.asarray(sizes, dtype=np.int64)


def find_group_file(path: str | os.PathLike) -> Path | None:
    """The side file ``PATH.group`` / ``PATH.query`` (or with the extension replaced; a ``.gz`` suffix is
    ignored) if one exists."""
    p = Path(path)
    bases = [p, p.with_suffix("")] if p.suffix == ".gz" else [p]
    for b in bases:
        for cand in (Path(str(b) + ".group"), Path(str(b) + ".query"), b.with_suffix(".group"),
                     b.with_suffix(".query")):
            if cand.exists() and cand != p:
                return cand
    return None


def has_qid(path: str | os.PathLike) -> bool:
    """Whether the first data line (comments and blank lines skipped) carries a ``qid:`` token (a file without a
    data line counts as the qid layout, so that the parser reports what is wrong with it)."""
    with open_bytes(path) as fh:
        head = fh.read(1 << 16)
    check_text_head(path, head)
    if head.startswith(UTF8_BOM):
        head = head[len(UTF8_BOM):]
    for line in head.split(b"\n"):
        tokens = line.split(b"#", 1)[0].split()
        if tokens:
            return any(t.startswith(b"qid:") for t in tokens[:2])  # after the label, or first when unlabeled
    return True


def resolve_group_file(path: str | os.PathLike, group_file: str | os.PathLike | None) -> Path | None:
    """The group side file to use for ``path``: the given one, ``None`` for the qid layout, else the one found
    beside the file; a file with no ``qid:`` and no group file fails with a clear message."""
    if group_file is not None:
        g = Path(group_file)
        if not g.exists():
            raise FileNotFoundError(f"{g}: no such group file")
        return g
    if has_qid(path):
        return None
    found = find_group_file(path)
    if found is None:
        raise DataError(f"{path}: the first data line has no 'qid:' token and no group file was found beside it "
                        f"({Path(path).name}.group or .query): LightGBM/XGBoost-layout data needs its query sizes "
                        f"(pass --group-file)")
    return found


def group_qids(path: str | os.PathLike, group_file: str | os.PathLike, n_rows: int) -> np.ndarray:
    """Query ids 0..G-1 from a group side file; raises if the sizes do not sum to the row count."""
    sizes = read_group_file(group_file)
    if int(sizes.sum()) != n_rows:
        raise LetorFormatError(group_file, None, f"group sizes sum to {int(sizes.sum())} but {path} has {n_rows} "
                                                 f"data rows")
    return np.repeat(np.arange(sizes.size, dtype=np.int64), sizes)


#: the split files of a dataset folder (allRank's layout), in order of preference
SPLIT_EXTENSIONS = (".arrow", ".parquet", ".txt")


def split_files(folder: str | os.PathLike) -> dict[str, str]:
    """``{"train": ..., "vali": ..., "test": ...}`` for the splits present in a dataset folder (allRank's layout:
    ``train.txt``, ``vali.txt``, ``test.txt``; a converted ``.arrow`` or ``.parquet`` of a split is preferred)."""
    out = {}
    for split in ("train", "vali", "test"):
        for ext in SPLIT_EXTENSIONS:
            p = Path(folder) / f"{split}{ext}"
            if p.is_file():
                out[split] = str(p)
                break
    return out
