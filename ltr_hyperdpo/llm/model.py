"""Hyper Prompt Tuning for causal LMs: an MLP maps (w, β) to P soft-prompt embeddings inserted after BOS.

The base model is frozen (optionally with trained LoRA adapters from peft); the reference is the base model
without prompts or adapters. ``sequence_logprobs`` sums the log-probabilities of the response tokens only.
"""
from __future__ import annotations

import inspect
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from ..models.conditioning import ConditionNet, condition_vector
from .gguf import hf_bars, resolve_model_dir

__all__ = ["HyperPromptLM", "RescaledPolicy", "hf_bars", "load_causal_lm"]


def load_causal_lm(path: str | Path, dtype=None, progress: bool = False):
    """A causal LM from a local Hugging Face directory, a GGUF file or a known model's name (no download; see
    :mod:`ltr_hyperdpo.llm.gguf`). transformers' own loading bar is shown only with ``progress`` (a command's errors
    stay one line)."""
    from transformers import AutoModelForCausalLM

    p = resolve_model_dir(path, progress=progress)
    kw = {"local_files_only": True}
    if dtype is not None:
        kw["dtype"] = dtype
    with hf_bars(progress):
        return AutoModelForCausalLM.from_pretrained(str(p), **kw)


class HyperPromptLM(nn.Module):
    """A frozen causal LM with a weight-conditioned soft-prompt network (and optional LoRA adapters).

    ``lora``: a peft LoRA config mapping; with ``per_objective: True`` the adapters see w too: K blocks of rank ``r``,
    mixed by the weights of each sequence, ``ΔW(w) = (α/r) Σ_k w_k B_k A_k`` (as the MLP's per-objective heads are
    mixed), instead of one adapter shared by every weight."""

    def __init__(self, base, n_objectives: int, n_prompts: int = 4, hidden: int = 64,
                 temperature_conditioned: bool = False, lora: dict | None = None):
        super().__init__()
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora = bool(lora)
        self.lora_per_objective = bool(lora and lora.get("per_objective"))
        self._rank_scale: torch.Tensor | None = None
        if lora:
            from peft import LoraConfig, get_peft_model

            cfg = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"], **lora}
            cfg.pop("per_objective", None)
            self.lora_rank = int(cfg["r"])
            if self.lora_per_objective:
                # K blocks of rank r, one per objective, at the scaling alpha/r of one block
                cfg["r"], cfg["lora_alpha"] = cfg["r"] * n_objectives, cfg["lora_alpha"] * n_objectives
            base = get_peft_model(base, LoraConfig(**cfg))
            if self.lora_per_objective:
                for name, module in base.named_modules():
                    if name.endswith("lora_A.default"):
                        module.register_forward_hook(self._scale_rank_blocks)
        self.base = base
        self.n_objectives = n_objectives
        self.n_prompts = n_prompts
        self.temperature_conditioned = temperature_conditioned
        d = self.embeddings().embedding_dim
        self.prompt_net = ConditionNet(n_objectives + int(temperature_conditioned), hidden, n_prompts * d,
                                       zero_init=False)
        with torch.no_grad():
            # start near typical token embeddings' scale
            scale = self.embeddings().weight.std().item()
            self.prompt_net.last_layer().weight.mul_(scale)
            self.prompt_net.last_layer().bias.normal_(0, scale)

    def embeddings(self) -> nn.Embedding:
        return self.base.get_input_embeddings()

    def trainable_state(self) -> dict:
        """Only what is trained: the prompt network and the adapters."""
        return {k: v.detach().clone() for k, v in self.named_parameters() if v.requires_grad}

    def load_trainable_state(self, state: dict) -> None:
        own = dict(self.named_parameters())
        missing = [k for k in own if own[k].requires_grad and k not in state]
        if missing:
            raise KeyError(f"checkpoint lacks trained parameters: {missing[:5]}")
        with torch.no_grad():
            for k, v in state.items():
                own[k].copy_(v)

    def _scale_rank_blocks(self, _module: nn.Module, _inputs: tuple, out: torch.Tensor) -> torch.Tensor:
        """Per-objective adapters: ``ΔW(w) x = (α/r) Σ_k w_k B_k A_k x``, by scaling block k of ``A x``
        ``[batch, tokens, K r]`` by w_k of the sequence's row (set by the conditioned forward that runs it)."""
        if self._rank_scale is None or self._rank_scale.shape[0] != out.shape[0]:
            raise RuntimeError("per-objective adapters run only inside a forward given the weights of its rows")
        return out * self._rank_scale.to(out.dtype).view(out.shape[0], *([1] * (out.ndim - 2)), -1)

    def _condition_adapters(self, weights: torch.Tensor) -> None:
        """Remember the rows' weights ``[batch, K]`` for the per-objective adapters (kept until the next conditioned
        forward, so that recomputation under gradient checkpointing sees them too)."""
        if self.lora_per_objective:
            self._rank_scale = weights.detach().float().repeat_interleave(self.lora_rank, dim=1)

    def _adapters_off(self):
        return self.base.disable_adapter() if self.lora else nullcontext()

    def soft_prompts(self, weights: torch.Tensor, beta=None) -> torch.Tensor:
        """``[batch, P, hidden]`` prompt embeddings for ``weights`` ``[batch, K]``, in the prompt network's dtype
        (float32, whatever the base model's: a bf16 base gets its prompts cast by the caller)."""
        dt = self.prompt_net.last_layer().weight.dtype
        if torch.is_tensor(beta):
            beta = beta.to(dt)
        c = condition_vector(weights.to(dt), beta, self.temperature_conditioned)
        return self.prompt_net(c).view(weights.shape[0], self.n_prompts, -1)

    def sequence_logprobs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_mask: torch.Tensor,
                          weights: torch.Tensor | None = None, beta=None) -> torch.Tensor:
        """Sum of log p(response tokens) per sequence ``[batch]``; with ``weights=None`` the reference model."""
        emb = self.embeddings()(input_ids)
        att = attention_mask.long()
        p = 0
        ctx = nullcontext() if weights is not None else self._adapters_off()
        if weights is not None:
            self._condition_adapters(weights)
            pr = self.soft_prompts(weights, beta).to(emb.dtype)
            p = pr.shape[1]
            emb = torch.cat([emb[:, :1], pr, emb[:, 1:]], dim=1)
            att = torch.cat([att[:, :1], torch.ones(att.shape[0], p, dtype=att.dtype, device=att.device),
                             att[:, 1:]], dim=1)
        with ctx:
            hidden = self._decoder()(inputs_embeds=emb, attention_mask=att).last_hidden_state
        hidden = hidden[:, p:] if p else hidden  # re-align: position t-1 predicts token t
        # the output layer and the softmax over the vocabulary only where a response token is predicted: the
        # prompt's positions cost the decoder alone (for a 49k vocabulary the output layer is ~20 % of a forward)
        where = response_mask[:, 1:]
        rows = where.nonzero()[:, 0]
        logits = self._output_layer()(hidden[:, :-1][where])
        logp = torch.log_softmax(logits.float(), dim=-1)
        tok = logp.gather(-1, input_ids[:, 1:][where][:, None]).squeeze(-1)
        return torch.zeros(input_ids.shape[0], dtype=tok.dtype, device=tok.device).index_add(0, rows, tok)

    def _inner(self):
        """The transformers model (inside peft's wrapper when adapters are on; the adapters sit in its layers)."""
        return self.base.get_base_model() if self.lora else self.base

    def _decoder(self):
        return self._inner().get_decoder()

    def _output_layer(self):
        return self._inner().get_output_embeddings()

    @torch.no_grad()
    def generate(self, input_ids: torch.Tensor, weights: torch.Tensor | None, beta=None, strength: float = 1.0,
                 **kw) -> torch.Tensor:
        """Generate continuations with the soft prompts of ``weights`` (``None`` = the reference model).

        ``input_ids`` ``[batch, prompt]`` (no padding); ``beta``: the input of a temperature-conditioned model;
        ``strength`` λ = β_trained / β' decodes the policy rescaled to temperature β' (see :class:`RescaledPolicy`;
        1 = the policy as trained, 0 = the reference model). Returns the new tokens ``[batch, new]``."""
        if strength < 0:
            raise ValueError(f"strength must be >= 0, got {strength}")
        if weights is not None and strength != 1.0:
            kw["logits_processor"] = [*kw.get("logits_processor", []), RescaledPolicy(self, input_ids, strength)]
        with warnings.catch_warnings():
            # the prompt is passed as embeddings, so an n-gram guard sees the response only: what the loop guard
            # intends (transformers warns about exactly that)
            warnings.filterwarnings("ignore", message="Passing `no_repeat_ngram_size`")
            return self._generate(input_ids, weights, beta, **kw)

    def reference_next_logits(self, feed: torch.Tensor, cache=None) -> tuple[torch.Tensor, object]:
        """The reference model's next-token logits ``[batch, vocab]`` after ``feed`` ``[batch, t]`` (the tokens not
        yet in ``cache``), and the updated cache (no soft prompts, adapters off)."""
        # transformers 5 renamed ``past_key_values`` to ``cache`` (the extra allows 4.x)
        key = "cache" if "cache" in inspect.signature(self._inner().forward).parameters else "past_key_values"
        with self._adapters_off():
            out = self.base(input_ids=feed, use_cache=True, logits_to_keep=1, **{key: cache})
        return out.logits[:, -1], out[key]

    def _generate(self, input_ids: torch.Tensor, weights: torch.Tensor | None, beta=None, **kw) -> torch.Tensor:
        emb = self.embeddings()(input_ids)
        att = torch.ones(input_ids.shape, dtype=torch.long, device=input_ids.device)
        if weights is not None:
            self._condition_adapters(weights)
            pr = self.soft_prompts(weights, beta).to(emb.dtype)
            emb = torch.cat([emb[:, :1], pr, emb[:, 1:]], dim=1)
            att = torch.ones(emb.shape[:2], dtype=torch.long, device=emb.device)
            return self.base.generate(inputs_embeds=emb, attention_mask=att, **kw)
        with self._adapters_off():
            return self.base.generate(inputs_embeds=emb, attention_mask=att, **kw)


class RescaledPolicy:
    """A logits processor for ``generate``: the policy trained at β decoded as the policy at β'.

    The optimum of DPO at temperature β is ``π*_β(y|x) ∝ π_ref(y|x) exp(r(x, y) / β)``, so the policy at β' is
    ``log π_β' = log π_ref + λ (log π_β − log π_ref) + const`` with λ = β / β' (exact for whole sequences; applied
    here per next token, as classifier-free guidance and model extrapolation do). Each step mixes the policy's
    next-token log-probabilities with the reference model's, which runs beside it on the prompt and the tokens
    generated so far with its own cache: λ > 1 moves further from the reference (a smaller β'), λ < 1 back toward it,
    λ = 0 is the reference. Tokens the loop guard banned (``-inf``) stay banned.

    ``prompt_ids`` ``[batch, prompt]``: the prompt without soft prompts (what the reference reads)."""

    def __init__(self, lm: HyperPromptLM, prompt_ids: torch.Tensor, strength: float):
        self.lm = lm
        self.prompt_ids = prompt_ids
        self.strength = float(strength)
        self.cache: object | None = None  # the reference's key-value cache, once the prompt is read

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        """``input_ids`` ``[batch, new so far]`` (generation from embeddings passes the new tokens only);
        ``scores`` ``[batch, vocab]`` the policy's -> the rescaled policy's log-probabilities ``[batch, vocab]``."""
        if self.cache is None:
            rows = scores.shape[0]
            feed = torch.cat([self.prompt_ids.expand(rows, -1), input_ids], dim=1)
        else:
            feed = input_ids[:, -1:]
        ref_logits, self.cache = self.lm.reference_next_logits(feed, self.cache)
        ref = torch.log_softmax(ref_logits.float(), dim=-1)
        if self.strength == 0:
            return ref.masked_fill(torch.isneginf(scores), float("-inf")).to(scores.dtype)
        pol = torch.log_softmax(scores.float(), dim=-1)
        return (ref + self.strength * (pol - ref)).to(scores.dtype)
