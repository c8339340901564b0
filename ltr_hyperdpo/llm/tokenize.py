"""Tokenisation of (prompt, response) pairs for sequence log-probabilities, with counted truncation."""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .gguf import resolve_model_dir

#: files whose presence means a directory holds a Hugging Face tokenizer
HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "spiece.model")


class TextTokenizer:
    """A model's tokenizer: a Hugging Face tokenizer in the model directory (a GGUF model's converted directory,
    see :mod:`ltr_hyperdpo.llm.gguf`), else a SentencePiece ``*.model`` file
    in that directory or its parent (the llama2.c layout), or an explicit ``tokenizer`` path."""

    def __init__(self, model_dir: str | Path, tokenizer: str | Path | None = None, chat_template: str = "auto"):
        self.hf: Any = None
        self.sp: Any = None
        self.chat_template_mode = chat_template
        if tokenizer is not None and str(tokenizer).endswith(".model"):
            self._load_sp(Path(tokenizer))
            return
        model_dir = resolve_model_dir(model_dir) if tokenizer is None else Path(model_dir)
        hf_dir = Path(tokenizer) if tokenizer is not None else model_dir
        if hf_dir.is_dir() and any((hf_dir / f).exists() for f in HF_TOKENIZER_FILES):
            from transformers import AutoTokenizer

            self.hf = AutoTokenizer.from_pretrained(str(hf_dir), local_files_only=True)
            self.bos_id = self.hf.bos_token_id
            self.eos_id = self.hf.eos_token_id
            self.pad_id = self.hf.pad_token_id if self.hf.pad_token_id is not None else (self.eos_id or 0)
            return
        # no Hugging Face tokenizer files: the llama2.c layout keeps a SentencePiece model beside the weights
        cands = sorted(model_dir.glob("*.model")) + sorted(model_dir.parent.glob("*.model"))
        if not cands:
            raise FileNotFoundError(f"{model_dir}: no tokenizer (no Hugging Face tokenizer files, no *.model "
                                    f"SentencePiece file here or in the parent); pass tokenizer=PATH")
        self._load_sp(cands[0])

    def _load_sp(self, path: Path) -> None:
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_file=str(path))
        self.bos_id = self.sp.bos_id()
        self.eos_id = self.sp.eos_id()
        self.pad_id = self.sp.pad_id() if self.sp.pad_id() >= 0 else max(self.eos_id, 0)

    @property
    def chat_template(self) -> str | None:
        """The model's chat template (Hugging Face tokenizers), or ``None``."""
        return getattr(self.hf, "chat_template", None) if self.hf is not None else None

    @property
    def templates_text(self) -> bool:
        """Whether a plain-text prompt is sent as one user turn through the chat template: ``chat_template: auto``
        does so when the model has a template (an instruction-tuned model is trained on its template and answers
        raw text worse), ``on`` always (the plain template when the model has none), ``off`` never."""
        if self.chat_template_mode == "auto":
            return self.chat_template is not None
        return self.chat_template_mode == "on"

    def render(self, prompt: str | list[dict[str, str]]) -> str:
        """A prompt as text: a conversation goes through the model's chat template (with the generation prompt), or
        through :func:`plain_chat` when the model has none; a plain-text prompt as one user turn when
        :attr:`templates_text`, else as it is."""
        if isinstance(prompt, str):
            if not self.templates_text:
                return prompt
            prompt = [{"role": "user", "content": prompt}]
        if self.chat_template:
            text = self.hf.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            bos = getattr(self.hf, "bos_token", None)
            return text[len(bos):] if bos and text.startswith(bos) else text  # the encoder adds BOS itself
        return plain_chat(prompt)

    def encode(self, text: str) -> list[int]:
        """Token ids without special tokens."""
        if self.sp is not None:
            return self.sp.encode(text)
        return self.hf.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        if self.sp is not None:
            return self.sp.decode(ids)
        return self.hf.decode(ids, skip_special_tokens=True)


def plain_chat(messages: list[dict[str, str]]) -> str:
    """The plain chat template, for models without one: ``"\n\nRole: content"`` per message (the role capitalised,
    ``user`` as ``Human``, as in HH-RLHF), then ``"\n\nAssistant:"``."""
    names = {"user": "Human", "assistant": "Assistant", "system": "System"}
    turns = "".join(f"\n\n{names.get(m['role'], m['role'].capitalize())}: {m['content']}" for m in messages)
    return turns + "\n\nAssistant:"


@dataclass
class Encoder:
    """Builds ``[BOS] prompt response [EOS]`` sequences within ``max_length`` tokens (the context minus soft prompts).

    A prompt string keeps its first ``max_prompt_tokens`` tokens, a conversation (or a string sent through the chat
    template) its last; the response is cut to
    fit. Truncations are counted and
    reported by :meth:`warn_truncations`.
    """

    tok: TextTokenizer
    max_length: int
    max_prompt_tokens: int = 64
    n_truncated: int = 0
    n_prompts_truncated: int = 0
    n_encoded: int = 0
    _cache: dict = field(default_factory=dict)

    def encode_pair(self, prompt: str | list[dict[str, str]], response: str) -> tuple[list[int], int]:
        """(ids, index of the first response token); a conversation prompt is rendered first."""
        key = (prompt if isinstance(prompt, str) else json.dumps(prompt, sort_keys=True), response)
        if key in self._cache:
            return self._cache[key]
        p = self.tok.encode(self.tok.render(prompt))
        # an instruction keeps its start; a conversation keeps its end (the latest turns and the generation prompt)
        as_text = isinstance(prompt, str) and not self.tok.templates_text
        if len(p) > self.max_prompt_tokens:
            self.n_prompts_truncated += 1
        p = p[: self.max_prompt_tokens] if as_text else p[max(0, len(p) - self.max_prompt_tokens):]
        # a complete response ends with EOS (as trl's DPO does): its probability includes stopping there, so
        # a response and a longer one that extends it are told apart; a truncated response has no EOS
        eos = [self.tok.eos_id] if self.tok.eos_id is not None and self.tok.eos_id >= 0 else []
        r = self.tok.encode(response) + eos
        head = ([self.tok.bos_id] if self.tok.bos_id is not None and self.tok.bos_id >= 0 else []) + p
        room = self.max_length - len(head)
        if room < 1:
            raise ValueError(f"max_length {self.max_length} leaves no room for the response")
        self.n_encoded += 1
        if len(r) > room:
            r = r[:room]
            self.n_truncated += 1
        out = (head + r, len(head))
        self._cache[key] = out
        return out

    def batch(self, pairs: list[tuple[Any, str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(input_ids, attention_mask, response_mask) ``[n, length]``, right-padded."""
        enc = [self.encode_pair(p, r) for p, r in pairs]
        n = max(len(ids) for ids, _ in enc)
        ids = torch.full((len(enc), n), self.tok.pad_id, dtype=torch.long)
        att = torch.zeros((len(enc), n), dtype=torch.bool)
        resp = torch.zeros((len(enc), n), dtype=torch.bool)
        for i, (x, start) in enumerate(enc):
            ids[i, : len(x)] = torch.tensor(x)
            att[i, : len(x)] = True
            resp[i, start: len(x)] = True
        return ids, att, resp

    def length_batches(self, pairs: list[tuple[Any, str]], batch_size: int) -> list[list[int]]:
        """Indices of ``pairs`` in batches of at most ``batch_size`` whose sequences have similar token lengths
        (longest first). Scoring is per row, so grouping by length changes a result by float rounding only, and
        the padding a batch computes: one in list order pads every sequence to the longest of its neighbours."""
        lengths = [len(self.encode_pair(p, r)[0]) for p, r in pairs]
        order = sorted(range(len(pairs)), key=lambda i: (-lengths[i], i))
        return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]

    def warn_truncations(self, where: str = "") -> None:
        """One warning per kind of cut: responses cut to the context, prompts cut to ``max_prompt_tokens``."""
        if self.n_prompts_truncated:
            warnings.warn(f"{where}{self.n_prompts_truncated} of {self.n_encoded} prompts were cut to "
                          f"max_prompt_tokens {self.max_prompt_tokens}", stacklevel=2)
        if self.n_truncated:
            warnings.warn(f"{where}{self.n_truncated} of {self.n_encoded} responses were truncated to fit "
                          f"{self.max_length} tokens", stacklevel=2)
