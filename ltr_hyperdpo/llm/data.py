"""Lists of LLM responses rated on several objectives: the one format the trainer reads, and its Arrow storage.

Format (one JSON object a line)::

    {"prompt": "...", "responses": ["...", "..."], "scores": {"objective": [value per response], ...}}

``prompt`` is a string, or a conversation (a list of ``{"role", "content"}`` messages) rendered with the model's chat
template when it has one (else the plain template of :func:`~ltr_hyperdpo.llm.tokenize.plain_chat`). Higher is better
for every score (converters store e.g. brevity as ``-n_chars``); a missing or non-finite score is an error.
"""
from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa

from ..data.store import open_table, storage_format, write_table
from ..errors import DataError
from ..utils.io import atomic_path

Prompt = str | list[dict[str, str]]


class PreferenceFormatError(DataError):
    """A malformed preference file: the message names the file and line (or row)."""


def check_messages(value: Any, where: str) -> list[dict[str, str]]:
    """A conversation: a non-empty list of ``{"role": str, "content": str}``; raises naming ``where``."""
    if not isinstance(value, list) or not value:
        raise PreferenceFormatError(f"{where}: a conversation must be a non-empty list of messages")
    out = []
    for m in value:
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            raise PreferenceFormatError(f"{where}: each message needs a string 'role' and a string 'content'")
        out.append({"role": m["role"], "content": m["content"]})
    return out


def check_prompt(value: Any, where: str) -> Prompt:
    """A prompt: a string or a conversation."""
    if isinstance(value, str):
        return value
    return check_messages(value, where)


@dataclass
class PreferenceLists:
    """Prompts with their candidate responses and per-objective scores (higher is better).

    Parameters
    ----------
    prompts : list
        One prompt per list: a string, or a conversation (a list of ``{"role", "content"}`` messages).
    responses : list of list of str
        The candidate responses of each prompt (at least 2).
    scores : dict
        Objective name -> one ``[responses]`` float array per list.
    """

    prompts: list[Prompt]
    responses: list[list[str]]
    scores: dict[str, list[np.ndarray]]

    @property
    def objectives(self) -> list[str]:
        """The objectives' names, in the order of ``w``."""
        return list(self.scores)

    def __len__(self) -> int:
        return len(self.prompts)

    def score_matrix(self, i: int) -> np.ndarray:
        """Scores of list i.

        Parameters
        ----------
        i : int
            The list.

        Returns
        -------
        numpy.ndarray
            ``[responses, objectives]``.
        """
        return np.stack([self.scores[o][i] for o in self.objectives], axis=1)

    def subset(self, idx: Any) -> PreferenceLists:
        """The lists at the given indices.

        Parameters
        ----------
        idx : sequence of int
            List indices, in the order wanted.

        Returns
        -------
        PreferenceLists
            The subset.
        """
        idx = list(idx)
        return PreferenceLists([self.prompts[i] for i in idx], [self.responses[i] for i in idx],
                               {o: [v[i] for i in idx] for o, v in self.scores.items()})

    def split(self, fraction: float, seed: int = 0) -> tuple[PreferenceLists, PreferenceLists]:
        """A seeded (train, held-out) split by prompt.

        Parameters
        ----------
        fraction : float
            The held-out share of the lists.
        seed : int, default 0
            Seed of the split.

        Returns
        -------
        tuple of PreferenceLists
            (train, held-out), each in the original order.
        """
        perm = np.random.default_rng(seed).permutation(len(self))
        n = int(round(len(self) * (1 - fraction)))
        return self.subset(np.sort(perm[:n])), self.subset(np.sort(perm[n:]))

    # Arrow -------------------------------------------------------------------------------------------------
    def to_table(self) -> pa.Table:
        """The lists as an Arrow table.

        Returns
        -------
        pyarrow.Table
            Columns ``prompt`` (text; a conversation as JSON with ``prompt_is_chat`` true), ``responses`` and
            ``score:NAME`` per objective.
        """
        is_chat = [not isinstance(p, str) for p in self.prompts]
        cols = {"prompt": pa.array([p if isinstance(p, str) else json.dumps(p) for p in self.prompts], pa.string()),
                "prompt_is_chat": pa.array(is_chat, pa.bool_()),
                "responses": pa.array(self.responses, pa.list_(pa.string()))}
        for o, v in self.scores.items():
            cols[f"score:{o}"] = pa.array([a.astype(np.float64).tolist() for a in v], pa.list_(pa.float64()))
        return pa.table(cols)

    @classmethod
    def from_table(cls, t: pa.Table) -> PreferenceLists:
        """Rebuild from a table written by `to_table`.

        Parameters
        ----------
        t : pyarrow.Table
            The table.

        Returns
        -------
        PreferenceLists
            The lists.
        """
        scores = {c[len("score:"):]: [np.asarray(x, dtype=np.float64) for x in t.column(c).to_pylist()]
                  for c in t.column_names if c.startswith("score:")}
        raw = t.column("prompt").to_pylist()
        chat = t.column("prompt_is_chat").to_pylist() if "prompt_is_chat" in t.column_names else [False] * len(raw)
        prompts: list[Prompt] = [json.loads(p) if c else p for p, c in zip(raw, chat, strict=True)]
        return cls(prompts, t.column("responses").to_pylist(), scores)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``.jsonl`` (the documented format) or ``.parquet``/``.arrow``, atomically.

        Parameters
        ----------
        path : str or os.PathLike
            The file; the extension picks the format.
        """
        path = Path(path)
        if path.suffix in (".parquet", ".arrow", ".ipc", ".feather"):
            write_table(path, self.to_table())
            return
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for i in range(len(self)):
                fh.write(json.dumps({"prompt": self.prompts[i], "responses": self.responses[i],
                                     "scores": {o: self.scores[o][i].tolist() for o in self.objectives}}) + "\n")


def open_text(path: Path) -> IO[str]:
    """A text file, gzip-decompressed when it is gzip (by its magic bytes); invalid UTF-8 is an error."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt", encoding="utf-8") if gz else open(path, encoding="utf-8")


def read_lists(path: str | os.PathLike) -> PreferenceLists:
    """Read the list format (JSONL, gzip or not, or a saved Parquet/Arrow table), validating every line.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    PreferenceLists
        The lists.

    Raises
    ------
    PreferenceFormatError
        A malformed line: bad JSON, a missing key, fewer than 2 responses, a missing or non-finite score (the
        message names file and line).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise PreferenceFormatError(f"{path}: is a directory, not a list file")
    if path.suffix != ".gz" and storage_format(path) != "text":
        t = open_table(path, ranking=False)
        missing = {"prompt", "responses"} - set(t.column_names)
        if missing:
            raise PreferenceFormatError(f"{path}: not a list table (no column(s) {sorted(missing)}); convert it with "
                                        f"ltr-hyperdpo llm-convert")
        return PreferenceLists.from_table(t)
    prompts: list[Prompt] = []
    responses: list[list[str]] = []
    scores: dict[str, list[np.ndarray]] = {}
    with open_text(path) as fh:
        try:
            for no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{no}"
                try:
                    d = json.loads(line)
                except json.JSONDecodeError as e:
                    raise PreferenceFormatError(f"{where}: invalid JSON ({e.msg})") from None
                if not isinstance(d, dict):
                    raise PreferenceFormatError(f"{where}: expected a JSON object per line")
                for key in ("prompt", "responses", "scores"):
                    if key not in d:
                        raise PreferenceFormatError(f"{where}: missing key {key!r} (the list format is "
                                                    f"{{prompt, responses, scores}}; other formats: llm-convert)")
                r = d["responses"]
                if not isinstance(r, list) or len(r) < 2 or not all(isinstance(x, str) for x in r):
                    raise PreferenceFormatError(f"{where}: 'responses' must be a list of >= 2 strings")
                if not isinstance(d["scores"], dict) or not d["scores"]:
                    raise PreferenceFormatError(f"{where}: 'scores' must map each objective to its values")
                if not scores:
                    scores = {o: [] for o in d["scores"]}
                if set(d["scores"]) != set(scores):
                    raise PreferenceFormatError(f"{where}: objectives {sorted(d['scores'])} differ from the first "
                                                f"line's {sorted(scores)}")
                for o, v in d["scores"].items():
                    if not isinstance(v, list) or len(v) != len(r):
                        raise PreferenceFormatError(f"{where}: scores[{o!r}] must have one value per response")
                    if any(x is None or isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x)
                           for x in v):
                        raise PreferenceFormatError(f"{where}: scores[{o!r}] has a missing or non-finite value")
                    scores[o].append(np.asarray(v, dtype=np.float64))
                prompts.append(check_prompt(d["prompt"], where))
                responses.append(r)
        except UnicodeDecodeError as e:
            raise PreferenceFormatError(f"{path}: not UTF-8 text ({e.reason})") from None
    if not prompts:
        raise PreferenceFormatError(f"{path}: no lists")
    return PreferenceLists(prompts, responses, scores)
