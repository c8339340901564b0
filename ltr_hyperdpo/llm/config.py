"""Configuration of an LLM HyperDPO run (validated when loaded; saved as config.json in the run directory)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .. import defaults
from ..config import FieldError, Validated, from_dict, load_config_file, opt, to_dict

#: keys a ``--resume`` may change: they do not change the result
RESUME_HARMLESS_KEYS = ("progress", "threads")


@dataclass(kw_only=True)
class LLMConfig(Validated):
    """Model, data, Hyper Prompt Tuning and training settings of an LLM run (validated when built, never mutated).

    ``lora``, ``precision`` and ``dtype`` may be ``auto``: their rules, with the reasons, are in
    ``ltr_hyperdpo.llm.plan``, and what they resolved to is written to the run's ``plan.json``.

    Parameters
    ----------
    model : str
        A Hugging Face model directory, a GGUF file (or a directory holding one), or a known model's name
        (``smollm2``; see ``ltr_hyperdpo.llm.gguf``).
    tokenizer : str, optional
        A tokenizer directory or SentencePiece ``*.model`` (default: the model's).
    data : str
        The preference lists (the list format, or another format with ``source``).
    source : str, default "jsonl"
        ``jsonl`` or a converter name (see `CONVERTERS`).
    heldout : str, optional
        A file of held-out lists (default: a seeded ``heldout_fraction`` of ``data``).
    heldout_fraction : float, default 0.2
        Share of the lists held out when no ``heldout`` file is given.
    max_train_lists : int, optional
        Train on at most this many lists.
    list_size : int, default 4
        Responses per training list (drawn from each prompt's candidates).
    max_prompt_tokens : int, default 64
        Prompts are cut to this many tokens from their start (counted and warned about).
    max_length : int, optional
        Sequence length limit (default: the model's context); responses are cut to it.
    n_prompts : int, default 4
        Soft-prompt embeddings the hyper network produces from (w, β).
    prompt_hidden : int, default 64
        Hidden width of the hyper network.
    temperature_conditioned : bool, default False
        β is also an input of the hyper network (sampled log-uniformly in ``beta_range``).
    beta : float, default 0.1
        The DPO temperature β.
    beta_range : list of float, default [0.05, 0.5]
        β's range for a temperature-conditioned model.
    alpha : float, default 0.3
        Dirichlet concentration of the sampled weights.
    lr : float, default 3e-3
        Learning rate of the hyper network.
    lora_lr : float, optional
        The adapters' learning rate (default ``lr`` × ``defaults.LLM_LORA_LR_SCALE``, recorded in ``plan.json``).
    weight_decay : float, default 0.0
        AdamW weight decay.
    epochs : int, default 1
        Passes over the training lists.
    batch_lists : int, default 2
        Lists per forward pass.
    grad_accum : int, default 4
        Forward passes per optimizer step.
    grad_clip : float, default 1.0
        Bound on the gradient norm of each optimizer group separately (the prompt network; the adapters): the
        adapters' gradient, summed over hundreds of matrices, would otherwise dominate a joint norm and shrink the
        prompt network's steps, which carry the steering. 0 disables clipping.
    lora : dict, "auto" or None, default "auto"
        LoRA adapters beside the prompts: ``auto`` (rank 8 per objective on ``q_proj``/``v_proj``, mixed by w, for
        models of 50M parameters or more), a peft config mapping such as ``{r: 4}`` (completed from the defaults), or
        ``None``. The mapping's own key ``per_objective`` (default true) gives each objective a rank-``r`` block,
        mixed by w per sequence (``ΔW(w) = Σ_k w_k B_k A_k``); ``false`` gives one adapter shared by every w (which
        learns the mixture's direction: the soft prompts alone then steer).
    gradient_checkpointing : bool, default False
        Recompute the decoder's activations in the backward pass (less memory, ~30 % more compute); off because at the
        sequence lengths of preference data memory does not limit a 135M model.
    group_by_length : bool, default True
        Form each epoch's batches from lists of similar length (among ~50 batches' worth at a time, then the batches
        shuffled), so less of every forward pass is padding.
    seed : int, default 0
        Seeds the run.
    device : str, default "auto"
        ``auto`` (CUDA when present), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.
    dtype : {"auto", "float32", "bfloat16", "float16"}, default "auto"
        The base model's weights' dtype.
    precision : {"auto", "fp32", "bf16"}, default "auto"
        bf16 autocast where the device computes bf16 natively (``auto``), or as given.
    chat_template : {"auto", "on", "off"}, default "auto"
        Whether a plain-text prompt is sent as one user turn through the model's chat template (``auto``: when the
        model has one).
    eval_grid : int, default 5
        Points per simplex edge of the weight grid of the final front.
    eval_max_lists : int, optional
        Held-out lists in the final front (default 100).
    eval_list_size : int, optional
        Responses per held-out list in the final front (default 8).
    threads : int, optional
        torch's intra-op threads.
    progress : bool, default True
        Progress bars on stderr.
    """

    model: str = ""
    tokenizer: str | None = None
    data: str = ""
    source: str = "jsonl"
    heldout: str | None = None
    heldout_fraction: float = opt(0.2, gt=0.0, lt=1.0)
    max_train_lists: int | None = opt(None, ge=1)
    list_size: int = opt(4, ge=2)
    max_prompt_tokens: int = opt(64, ge=1)
    max_length: int | None = opt(None, ge=2)
    n_prompts: int = opt(4, ge=1)
    prompt_hidden: int = opt(64, ge=1)
    temperature_conditioned: bool = False
    beta: float = opt(defaults.LLM_BETA, gt=0.0)
    beta_range: list[float] = opt(factory=lambda: list(defaults.LLM_BETA_RANGE), items_gt=0.0, length=2)
    alpha: float = opt(defaults.ALPHA, gt=0.0)
    lr: float = opt(defaults.LLM_LR, gt=0.0)
    lora_lr: float | None = opt(None, gt=0.0)
    weight_decay: float = opt(0.0, ge=0.0)
    epochs: int = opt(1, ge=1)
    batch_lists: int = opt(2, ge=1)
    grad_accum: int = opt(4, ge=1)
    grad_clip: float = opt(defaults.LLM_GRAD_CLIP, ge=0.0)
    lora: dict | Literal["auto"] | None = "auto"
    gradient_checkpointing: bool = False
    group_by_length: bool = True
    seed: int = opt(defaults.SEED, ge=0)
    device: str = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    chat_template: Literal["auto", "on", "off"] = "auto"
    eval_grid: int = opt(5, ge=1)
    eval_max_lists: int | None = opt(100, ge=1)
    eval_list_size: int | None = opt(8, ge=2)
    threads: int | None = opt(None, ge=1)
    progress: bool = True

    def check(self) -> None:
        """Cross-key checks run when the config is built.

        Raises
        ------
        ConfigError
            ``device`` is malformed, ``beta_range`` is not [low, high] with low <= high, or a ``lora`` mapping's
            own keys have the wrong type (checked here, when the config is loaded, not when a run plans).
        """
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", self.device):
            raise FieldError("device", f"expected auto, cpu, cuda or cuda:N, got {self.device!r}")
        if self.beta_range[0] > self.beta_range[1]:
            raise FieldError("beta_range", f"must be [low, high] with low <= high, got {self.beta_range}")
        if isinstance(self.lora, dict):
            _check_lora(self.lora)

    @classmethod
    def from_dict(cls, d: dict) -> LLMConfig:
        """Build and validate from a mapping.

        Parameters
        ----------
        d : dict
            Keys as in the class parameters.

        Returns
        -------
        LLMConfig
            The validated config.

        Raises
        ------
        ConfigError
            An unknown key or a bad value (the message names the key).
        """
        return from_dict(cls, d)

    @classmethod
    def load(cls, path: str | Path) -> LLMConfig:
        """Read and validate a JSON or YAML LLM config.

        Parameters
        ----------
        path : str or pathlib.Path
            The file.

        Returns
        -------
        LLMConfig
            The validated config.

        Raises
        ------
        ConfigError
            The file cannot be read or a value is invalid (the message names the file and key).
        """
        return cls.from_dict(load_config_file(path))

    def to_dict(self) -> dict:
        """The config as a plain mapping (what ``config.json`` holds).

        Returns
        -------
        dict
            Every key, defaults included.
        """
        return to_dict(self)


def _check_lora(lora: dict) -> None:
    """The types of a ``lora`` mapping's keys that the toolkit reads itself (others go to peft unchanged)."""
    if not isinstance(lora.get("per_objective", True), bool):
        raise FieldError("lora.per_objective", f"expected true or false, got {lora['per_objective']!r}")
    r = lora.get("r", 1)
    if isinstance(r, bool) or not isinstance(r, int) or r < 1:
        raise FieldError("lora.r", f"expected an integer >= 1, got {r!r}")
    alpha = lora.get("lora_alpha", 1.0)
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha <= 0:
        raise FieldError("lora.lora_alpha", f"expected a number > 0, got {alpha!r}")
    dropout = lora.get("lora_dropout", 0.0)
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise FieldError("lora.lora_dropout", f"expected a number in [0, 1), got {dropout!r}")
    modules = lora.get("target_modules", ["q_proj"])
    # peft takes a list of module names or one regular expression
    if not (isinstance(modules, str) and modules) and not (
            isinstance(modules, list) and modules and all(isinstance(m, str) for m in modules)):
        raise FieldError("lora.target_modules", f"expected a list of module names or a pattern, got {modules!r}")
