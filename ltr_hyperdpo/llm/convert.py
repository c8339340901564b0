"""Converters from the preference formats alignment users have to the list format (:mod:`ltr_hyperdpo.llm.data`).

| source | input | objectives |
|---|---|---|
| ``alpacaeval`` | AlpacaEval ``{instruction, responses: [{output, preference_vs_gpt4_...}]}`` | preference, brevity |
| ``oasst`` | OpenAssistant message trees (prompter messages with >= 2 ranked replies) | human_rank (= −rank) |
| ``hh_rlhf`` | Anthropic HH-RLHF ``{chosen, rejected}`` transcripts (lists of 2) | harmless |
| ``trl`` | trl rows ``{prompt, chosen, rejected}``: strings or conversations (``prompt`` optional) | preference |
| ``long`` | one response per row, numeric attribute columns (HelpSteer style), grouped by prompt | the named columns |
| ``jsonl`` | the list format itself (validated) | as stored |

Brevity is −characters (shorter is better). Inputs are JSON lines (``.gz`` too), a JSON array, or Parquet (the
layout of Hugging Face datasets on disk). Every converter checks each record and names the file and line (or row) of
the first one that is not of its format; one that finds nothing of its format fails instead of writing an empty file.
"""
from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from ..data.store import storage_format
from .data import PreferenceFormatError, PreferenceLists, Prompt, check_messages, check_prompt, open_text, read_lists

Record = tuple[str, dict]  # (where: "file:line" or "file: row N", the record)


def records(path: str | os.PathLike) -> Iterator[Record]:
    """The records of a JSON-lines file (gzip too), a JSON array file, or a Parquet file, each with its location."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.is_dir():
        raise PreferenceFormatError(f"{p}: is a directory, not a data file")
    if p.suffix != ".gz" and storage_format(p) == "parquet":
        pf = pq.ParquetFile(p)
        row = 0
        for batch in pf.iter_batches(batch_size=4096):
            for d in batch.to_pylist():
                row += 1
                yield f"{p}: row {row}", d
        return
    with open_text(p) as fh:
        try:
            first = fh.read(1 << 16)
            if first.lstrip().startswith("["):
                try:
                    items = json.loads(first + fh.read())
                except json.JSONDecodeError as e:
                    raise PreferenceFormatError(f"{p}:{e.lineno}: invalid JSON ({e.msg})") from None
                for i, d in enumerate(items, 1):
                    yield f"{p}: item {i}", _object(d, f"{p}: item {i}")
                return
            fh.seek(0)
            for no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    d = json.loads(line)
                except json.JSONDecodeError as e:
                    raise PreferenceFormatError(f"{p}:{no}: invalid JSON ({e.msg})") from None
                yield f"{p}:{no}", _object(d, f"{p}:{no}")
        except UnicodeDecodeError as e:
            raise PreferenceFormatError(f"{p}: not UTF-8 text ({e.reason})") from None


def _object(d: Any, where: str) -> dict:
    if not isinstance(d, dict):
        raise PreferenceFormatError(f"{where}: expected a JSON object, got {type(d).__name__}")
    return d


def _need(d: dict, keys: tuple[str, ...], where: str, fmt: str) -> None:
    missing = [k for k in keys if k not in d]
    if missing:
        raise PreferenceFormatError(f"{where}: missing key(s) {missing}: not a {fmt} record (its keys: "
                                    f"{sorted(d)[:12]})")


def _found(n: int, path: str | os.PathLike, fmt: str) -> None:
    if n == 0:
        raise PreferenceFormatError(f"{path}: no {fmt} lists found (every record was skipped: fewer than 2 usable "
                                    f"responses)")


def convert_alpacaeval(path: str | os.PathLike) -> PreferenceLists:
    """AlpacaEval lists: objectives ``preference`` (judge, in [1, 2]) and ``brevity`` (= −characters).

    Responses without a judge preference are dropped from their list.
    """
    prompts: list[Prompt] = []
    responses: list[list[str]] = []
    pref: list[np.ndarray] = []
    brev: list[np.ndarray] = []
    for where, d in records(path):
        _need(d, ("instruction", "responses"), where, "AlpacaEval lists")
        if not isinstance(d["responses"], list):
            raise PreferenceFormatError(f"{where}: 'responses' must be a list")
        for r in d["responses"]:
            if not isinstance(r, dict) or not isinstance(r.get("output"), str):
                raise PreferenceFormatError(f"{where}: each response needs an 'output' string")
        rs = [r for r in d["responses"] if r.get("preference_vs_gpt4_1106_preview") is not None]
        if len(rs) < 2:
            continue
        prompts.append(str(d["instruction"]))
        responses.append([r["output"] for r in rs])
        pref.append(np.array([r["preference_vs_gpt4_1106_preview"] for r in rs], dtype=np.float64))
        brev.append(-np.array([r.get("n_chars", len(r["output"])) for r in rs], dtype=np.float64))
    _found(len(prompts), path, "AlpacaEval")
    return PreferenceLists(prompts, responses, {"preference": pref, "brevity": brev})


def convert_oasst(path: str | os.PathLike) -> PreferenceLists:
    """OpenAssistant trees: every prompter message with >= 2 ranked assistant replies; ``human_rank`` = −rank."""
    prompts: list[Prompt] = []
    responses: list[list[str]] = []
    ranks: list[np.ndarray] = []

    def walk(node: dict, where: str) -> None:
        if not isinstance(node.get("replies", []), list):
            raise PreferenceFormatError(f"{where}: 'replies' must be a list of messages")
        if node.get("role") == "prompter":
            reps = [r for r in node.get("replies", []) if isinstance(r, dict) and r.get("role") == "assistant"
                    and r.get("rank") is not None and not r.get("deleted")]
            if len(reps) >= 2:
                prompts.append(str(node["text"]))
                responses.append([str(r["text"]) for r in reps])
                ranks.append(-np.array([r["rank"] for r in reps], dtype=np.float64))
        for r in node.get("replies", []):
            if isinstance(r, dict):
                walk(r, where)

    for where, d in records(path):
        _need(d, ("role", "text"), where, "OpenAssistant message-tree")
        walk(d, where)
    _found(len(prompts), path, "OpenAssistant")
    return PreferenceLists(prompts, responses, {"human_rank": ranks})


HH_MARKER = "\n\nAssistant:"


def convert_hh_rlhf(path: str | os.PathLike) -> PreferenceLists:
    """HH-RLHF pairs as lists of 2: the shared dialogue up to the last ``Assistant:`` turn is the prompt."""
    prompts: list[Prompt] = []
    responses: list[list[str]] = []
    harmless: list[np.ndarray] = []
    for where, d in records(path):
        _need(d, ("chosen", "rejected"), where, "HH-RLHF")
        c, r = d["chosen"], d["rejected"]
        if not isinstance(c, str) or not isinstance(r, str):
            raise PreferenceFormatError(f"{where}: 'chosen' and 'rejected' must be transcripts (strings); for "
                                        f"conversations use the trl converter")
        cut = c.rfind(HH_MARKER)
        if cut < 0 or r[: cut + len(HH_MARKER)] != c[: cut + len(HH_MARKER)]:
            continue
        prompts.append(c[: cut + len(HH_MARKER)])
        responses.append([c[cut + len(HH_MARKER):].strip(), r[cut + len(HH_MARKER):].strip()])
        harmless.append(np.array([1.0, 0.0]))
    _found(len(prompts), path, "HH-RLHF")
    return PreferenceLists(prompts, responses, {"harmless": harmless})


def _assistant_text(value: Any, where: str, key: str) -> str:
    """A trl completion: a string, or a list of messages whose assistant contents are joined."""
    if isinstance(value, str):
        return value
    msgs = check_messages(value, f"{where}: {key}")
    return "\n".join(m["content"] for m in msgs if m["role"] == "assistant") or msgs[-1]["content"]


def convert_trl(path: str | os.PathLike) -> PreferenceLists:
    """trl preference rows as lists of 2 (chosen first), one objective ``preference``.

    Standard rows hold strings; conversational rows hold lists of ``{role, content}`` messages; rows without
    ``prompt`` ("implicit prompt") hold two whole conversations that share everything before the last assistant turn.
    """
    prompts: list[Prompt] = []
    responses: list[list[str]] = []
    pref: list[np.ndarray] = []
    for where, d in records(path):
        _need(d, ("chosen", "rejected"), where, "trl preference")
        if "prompt" in d:
            prompt = check_prompt(d["prompt"], f"{where}: prompt")
            pair = [_assistant_text(d["chosen"], where, "chosen"), _assistant_text(d["rejected"], where, "rejected")]
        else:
            c = check_messages(d["chosen"], f"{where}: chosen (a row without 'prompt' holds conversations)")
            r = check_messages(d["rejected"], f"{where}: rejected (a row without 'prompt' holds conversations)")
            if len(c) < 2 or c[:-1] != r[:-1] or c[-1]["role"] != "assistant":
                raise PreferenceFormatError(f"{where}: without 'prompt', chosen and rejected must share every message "
                                            f"but a final assistant one")
            prompt, pair = c[:-1], [c[-1]["content"], r[-1]["content"]]
        prompts.append(prompt)
        responses.append(pair)
        pref.append(np.array([1.0, 0.0]))
    _found(len(prompts), path, "trl preference")
    return PreferenceLists(prompts, responses, {"preference": pref})


def convert_long(path: str | os.PathLike, *, objectives: list[str] | None = None, group_by: str = "prompt",
                 response_key: str = "response") -> PreferenceLists:
    """One response per row with numeric attribute columns (HelpSteer style), grouped by ``group_by`` into lists.

    ``objectives`` names the attribute columns (higher is better); lists of a single response are dropped and
    counted in a warning.
    """
    if not objectives:
        raise PreferenceFormatError("the long format needs --objectives: the numeric columns to rank by")
    groups: dict[str, tuple[Prompt, list[str], list[list[float]]]] = {}
    for where, d in records(path):
        _need(d, (group_by, response_key, *objectives), where, "long-format")
        prompt = check_prompt(d[group_by], f"{where}: {group_by}")
        if not isinstance(d[response_key], str):
            raise PreferenceFormatError(f"{where}: {response_key!r} must be a string")
        vals = []
        for o in objectives:
            v = d[o]
            if v is None or isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v):
                raise PreferenceFormatError(f"{where}: {o!r} must be a finite number, got {v!r}")
            vals.append(float(v))
        key = prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True)
        entry = groups.setdefault(key, (prompt, [], []))
        entry[1].append(d[response_key])
        entry[2].append(vals)
    kept = [g for g in groups.values() if len(g[1]) >= 2]
    dropped = len(groups) - len(kept)
    if dropped:
        warnings.warn(f"{path}: {dropped} prompt(s) with a single response were dropped (a list needs >= 2)",
                      stacklevel=2)
    _found(len(kept), path, "long-format")
    return PreferenceLists([g[0] for g in kept], [g[1] for g in kept],
                           {o: [np.asarray([v[k] for v in g[2]], dtype=np.float64) for g in kept]
                            for k, o in enumerate(objectives)})


CONVERTERS: dict[str, Callable[..., PreferenceLists]] = {
    "alpacaeval": convert_alpacaeval, "oasst": convert_oasst, "hh_rlhf": convert_hh_rlhf, "trl": convert_trl,
    "long": convert_long,
}
"""Converter name -> function ``(path, **options) -> PreferenceLists``: ``alpacaeval`` (``preference``, ``brevity`` =
−characters), ``oasst`` (``human_rank`` = −rank), ``hh_rlhf`` (``harmless``, lists of 2), ``trl`` (trl preference rows,
standard or conversational: lists of 2, ``preference``), ``long`` (one response a row with numeric attribute columns,
HelpSteer style)."""


def load_preferences(path: str | os.PathLike, source: str = "jsonl", **options: Any) -> PreferenceLists:
    """Read the list format, or convert another format with one of `CONVERTERS`.

    Parameters
    ----------
    path : str or os.PathLike
        The file (JSON lines, a JSON array or Parquet for converters; gzip is read transparently).
    source : str, default "jsonl"
        ``jsonl`` (the list format) or a converter: ``alpacaeval``, ``oasst``, ``hh_rlhf``, ``trl``, ``long``.
    **options : Any
        The converter's options (``long``: ``objectives``, ``group_by``, ...).

    Returns
    -------
    PreferenceLists
        The lists.

    Raises
    ------
    PreferenceFormatError
        An unknown source, or a file the converter finds nothing of its format in (the message names file and line).
    """
    if source == "jsonl":
        return read_lists(path)
    if source not in CONVERTERS:
        raise PreferenceFormatError(f"unknown source {source!r}; one of jsonl, {', '.join(CONVERTERS)}")
    return CONVERTERS[source](path, **options)
