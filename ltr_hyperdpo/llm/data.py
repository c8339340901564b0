"""Lists of LLM responses rated on several objectives: one JSONL format, Arrow storage, converters.

Format (one JSON object a line)::

    {"prompt": "...", "responses": ["...", "..."], "scores": {"objective": [value per response], ...}}

Higher is better for every score (converters store e.g. brevity as ``-n_chars``); a score of ``null`` is not
allowed. Converters from the real sets: AlpacaEval lists (judge preference, brevity), OpenAssistant ranked replies
(human rank), HH-RLHF harmless pairs (a list of 2).
"""
from __future__ import annotations

import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from ..data.store import atomic_path, open_table, storage_format, write_table


class PreferenceFormatError(ValueError):
    """A malformed preference-list line: the message names the file and line."""


@dataclass
class PreferenceLists:
    """Prompts with their candidate responses and per-objective scores (higher is better)."""

    prompts: list[str]
    responses: list[list[str]]
    scores: dict[str, list[np.ndarray]]

    @property
    def objectives(self) -> list[str]:
        return list(self.scores)

    def __len__(self) -> int:
        return len(self.prompts)

    def score_matrix(self, i: int) -> np.ndarray:
        """``[responses, objectives]`` scores of list i."""
        return np.stack([self.scores[o][i] for o in self.objectives], axis=1)

    def subset(self, idx) -> PreferenceLists:
        idx = list(idx)
        return PreferenceLists([self.prompts[i] for i in idx], [self.responses[i] for i in idx],
                               {o: [v[i] for i in idx] for o, v in self.scores.items()})

    def split(self, fraction: float, seed: int = 0) -> tuple[PreferenceLists, PreferenceLists]:
        """(train, held-out) split by prompt."""
        perm = np.random.default_rng(seed).permutation(len(self))
        n = int(round(len(self) * (1 - fraction)))
        return self.subset(np.sort(perm[:n])), self.subset(np.sort(perm[n:]))

    # Arrow -------------------------------------------------------------------------------------------------
    def to_table(self) -> pa.Table:
        cols = {"prompt": pa.array(self.prompts, pa.string()),
                "responses": pa.array(self.responses, pa.list_(pa.string()))}
        for o, v in self.scores.items():
            cols[f"score:{o}"] = pa.array([a.astype(np.float64).tolist() for a in v], pa.list_(pa.float64()))
        return pa.table(cols)

    @classmethod
    def from_table(cls, t: pa.Table) -> PreferenceLists:
        scores = {c[len("score:"):]: [np.asarray(x, dtype=np.float64) for x in t.column(c).to_pylist()]
                  for c in t.column_names if c.startswith("score:")}
        return cls(t.column("prompt").to_pylist(), t.column("responses").to_pylist(), scores)

    def save(self, path: str | os.PathLike) -> None:
        """``.jsonl`` (the documented format) or ``.parquet``/``.arrow``; written atomically."""
        path = Path(path)
        if path.suffix in (".parquet", ".arrow", ".ipc", ".feather"):
            write_table(path, self.to_table())
            return
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            for i in range(len(self)):
                fh.write(json.dumps({"prompt": self.prompts[i], "responses": self.responses[i],
                                     "scores": {o: self.scores[o][i].tolist() for o in self.objectives}}) + "\n")


def _open_text(path: Path):
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else open(path, encoding="utf-8")


def read_lists(path: str | os.PathLike) -> PreferenceLists:
    """Read the JSONL list format (or a saved Parquet/Arrow table), validating every line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix != ".gz" and storage_format(path) != "text":
        return PreferenceLists.from_table(open_table(path))
    prompts: list[str] = []
    responses: list[list[str]] = []
    scores: dict[str, list[np.ndarray]] = {}
    with _open_text(path) as fh:
        for no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError as e:
                raise PreferenceFormatError(f"{path}:{no}: invalid JSON ({e.msg})") from None
            for key in ("prompt", "responses", "scores"):
                if key not in d:
                    raise PreferenceFormatError(f"{path}:{no}: missing key {key!r}")
            r = d["responses"]
            if not isinstance(r, list) or len(r) < 2 or not all(isinstance(x, str) for x in r):
                raise PreferenceFormatError(f"{path}:{no}: 'responses' must be a list of >= 2 strings")
            if not scores:
                scores = {o: [] for o in d["scores"]}
            if set(d["scores"]) != set(scores):
                raise PreferenceFormatError(f"{path}:{no}: objectives {sorted(d['scores'])} differ from the first "
                                            f"line's {sorted(scores)}")
            for o, v in d["scores"].items():
                if not isinstance(v, list) or len(v) != len(r):
                    raise PreferenceFormatError(f"{path}:{no}: scores[{o!r}] must have one value per response")
                if any(x is None or not isinstance(x, (int, float)) or not np.isfinite(x) for x in v):
                    raise PreferenceFormatError(f"{path}:{no}: scores[{o!r}] has a missing or non-finite value")
                scores[o].append(np.asarray(v, dtype=np.float64))
            prompts.append(str(d["prompt"]))
            responses.append(r)
    if not prompts:
        raise PreferenceFormatError(f"{path}: no lists")
    return PreferenceLists(prompts, responses, scores)


def convert_alpacaeval(path: str | os.PathLike) -> PreferenceLists:
    """AlpacaEval lists: objectives ``preference`` (judge, in [1, 2]) and ``brevity`` (= −characters).

    Responses without a judge preference are dropped from their list.
    """
    prompts, responses, pref, brev = [], [], [], []
    with _open_text(Path(path)) as fh:
        for line in fh:
            d = json.loads(line)
            rs = [r for r in d["responses"] if r.get("preference_vs_gpt4_1106_preview") is not None]
            if len(rs) < 2:
                continue
            prompts.append(d["instruction"])
            responses.append([r["output"] for r in rs])
            pref.append(np.array([r["preference_vs_gpt4_1106_preview"] for r in rs], dtype=np.float64))
            brev.append(-np.array([r.get("n_chars", len(r["output"])) for r in rs], dtype=np.float64))
    return PreferenceLists(prompts, responses, {"preference": pref, "brevity": brev})


def convert_oasst(path: str | os.PathLike) -> PreferenceLists:
    """OpenAssistant trees: every prompter message with >= 2 ranked assistant replies; ``human_rank`` = −rank."""
    prompts, responses, ranks = [], [], []

    def walk(node):
        if node.get("role") == "prompter":
            reps = [r for r in node.get("replies", []) if r.get("role") == "assistant" and r.get("rank") is not None
                    and not r.get("deleted")]
            if len(reps) >= 2:
                prompts.append(node["text"])
                responses.append([r["text"] for r in reps])
                ranks.append(-np.array([r["rank"] for r in reps], dtype=np.float64))
        for r in node.get("replies", []):
            walk(r)

    with _open_text(Path(path)) as fh:
        for line in fh:
            if line.strip():
                walk(json.loads(line))
    return PreferenceLists(prompts, responses, {"human_rank": ranks})


def convert_hh_rlhf(path: str | os.PathLike) -> PreferenceLists:
    """HH-RLHF pairs as lists of 2: the shared dialogue up to the last ``Assistant:`` turn is the prompt."""
    prompts, responses, harmless = [], [], []
    marker = "\n\nAssistant:"
    with _open_text(Path(path)) as fh:
        for line in fh:
            d = json.loads(line)
            c, r = d["chosen"], d["rejected"]
            cut = c.rfind(marker)
            if cut < 0 or r[: cut + len(marker)] != c[: cut + len(marker)]:
                continue
            prompts.append(c[: cut + len(marker)])
            responses.append([c[cut + len(marker):].strip(), r[cut + len(marker):].strip()])
            harmless.append(np.array([1.0, 0.0]))
    return PreferenceLists(prompts, responses, {"harmless": harmless})


CONVERTERS = {"alpacaeval": convert_alpacaeval, "oasst": convert_oasst, "hh_rlhf": convert_hh_rlhf}


def load_preferences(path: str | os.PathLike, source: str = "jsonl") -> PreferenceLists:
    """Read our format (``source='jsonl'``) or convert a raw set (alpacaeval / oasst / hh_rlhf)."""
    if source == "jsonl":
        return read_lists(path)
    if source not in CONVERTERS:
        raise ValueError(f"unknown source {source!r}; one of jsonl, {', '.join(CONVERTERS)}")
    return CONVERTERS[source](path)
