"""LLM HyperDPO trainer: PL-DPO over lists of responses, ``w ~ Dirichlet`` per list, only the prompt network (and
adapters) trained. It builds one :class:`~ltr_hyperdpo.runs.Stage` and runs the shared loop (gradient accumulation,
progress, ``log.jsonl``, atomic checkpoints of the trained parameters only, resume)."""
from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import check_resume_config
from ..core.dpo import pl_dpo_loss
from ..core.sampling import sample_beta, sample_weights
from ..errors import DataError, RunDirError
from ..runs.device import resolve_device as resolve_torch_device
from ..runs.device import set_threads
from ..runs.inputs import check_inputs, record_inputs
from ..runs.loop import Stage, epoch_seed, run_stage
from ..runs.rundir import LOCK_NAME, RunLock, check_new_or_resume, discard_unstarted
from ..utils.checkpoint import load, load_latest, previous_path, save_atomic
from ..utils.io import atomic_write_json
from .config import RESUME_HARMLESS_KEYS, LLMConfig
from .convert import load_preferences
from .data import PreferenceLists, Prompt, read_lists
from .model import HyperPromptLM, load_causal_lm
from .plan import LLMPlan, resolve_learning_rates, resolve_lora, resolve_precision
from .refcache import RefLogprobCache, cache_path
from .tokenize import Encoder, TextTokenizer

#: the LLM stage's id in the epoch seeds
LLM_STAGE_ID = 1


def resolve_device(cfg: LLMConfig) -> tuple[torch.device, torch.dtype]:
    """The device (``auto`` = CUDA when present) and compute dtype (``auto`` = bf16 on CUDA, else fp32)."""
    dev = torch.device("mps") if cfg.device == "mps" else resolve_torch_device(cfg.device)
    if cfg.dtype == "auto":
        dt = torch.bfloat16 if dev.type == "cuda" else torch.float32
    else:
        dt = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.dtype]
    return dev, dt


def build_model(cfg: LLMConfig, n_objectives: int, lora: dict | None | str = "auto"
                ) -> tuple[HyperPromptLM, Encoder, torch.device, LLMPlan]:
    """The base LM (frozen) with its prompt network, the encoder, the device, and what ``auto`` resolved to
    (``lora``: the resolved adapters of a finished run, or ``"auto"`` to resolve them from the config)."""
    dev, dt = resolve_device(cfg)
    base = load_causal_lm(cfg.model, dtype=dt, progress=cfg.progress and sys.stderr.isatty())
    n_base = sum(p.numel() for p in base.parameters())
    adapters = resolve_lora(cfg, n_base) if lora == "auto" else lora
    if cfg.gradient_checkpointing:
        # non-reentrant: the frozen decoder's inputs (the soft prompts) carry the gradient, not its weights
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    ctx = getattr(base.config, "max_position_embeddings", 2048)
    torch.manual_seed(cfg.seed)
    model = HyperPromptLM(base, n_objectives, cfg.n_prompts, cfg.prompt_hidden, cfg.temperature_conditioned,
                          adapters if isinstance(adapters, dict) else None).to(dev)
    enc = Encoder(TextTokenizer(cfg.model, cfg.tokenizer, cfg.chat_template), (cfg.max_length or ctx) - cfg.n_prompts,
                  cfg.max_prompt_tokens)
    lora_used = adapters if isinstance(adapters, dict) else None
    plan = LLMPlan(device=str(dev), dtype=str(dt).removeprefix("torch."), precision=resolve_precision(cfg, dev),
                   lora=lora_used, learning_rates=resolve_learning_rates(cfg, lora_used), base_parameters=n_base,
                   gradient_checkpointing=cfg.gradient_checkpointing)
    return model, enc, dev, plan


def load_data(cfg: LLMConfig) -> tuple[PreferenceLists, PreferenceLists]:
    """(train, held-out) lists: a separate held-out file, or a split by prompt (each side must keep a list)."""
    data = load_preferences(cfg.data, cfg.source)
    if cfg.heldout:
        held = read_lists(cfg.heldout)
        train = data
        if len(held) == 0:
            raise DataError(f"{cfg.heldout}: no lists to evaluate on (config key 'heldout')")
    else:
        train, held = data.split(cfg.heldout_fraction, cfg.seed)
        if len(train) == 0 or len(held) == 0:
            raise DataError(f"{cfg.data}: {len(data)} list(s) cannot be split into training and held-out lists at "
                            f"heldout_fraction {cfg.heldout_fraction} (each side needs one); give more lists or a "
                            f"held-out file (config key 'heldout')")
    if cfg.max_train_lists:
        train = train.subset(range(min(cfg.max_train_lists, len(train))))
    return train, held


def sample_list(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``size`` responses (all when fewer), sorted."""
    return np.sort(rng.choice(n, size=min(size, n), replace=False))


@dataclass
class ListBatch:
    """Responses of a few lists: ``labels`` ``[lists, responses, objectives]``, ``mask`` ``[lists, responses]``."""

    pairs: list[tuple[Prompt, str]]
    labels: torch.Tensor
    mask: torch.Tensor


def list_batch(data: PreferenceLists, lists: list[int], picks: list[np.ndarray]) -> ListBatch:
    """The chosen responses of each list as one padded batch."""
    m = max(len(p) for p in picks)
    K = len(data.objectives)
    labels = torch.zeros(len(lists), m, K, dtype=torch.float64)
    mask = torch.zeros(len(lists), m, dtype=torch.bool)
    pairs = []
    for b, (i, pick) in enumerate(zip(lists, picks, strict=True)):
        sm = data.score_matrix(i)
        for j, r in enumerate(pick):
            pairs.append((data.prompts[i], data.responses[i][r]))
            labels[b, j] = torch.from_numpy(sm[r])
            mask[b, j] = True
    return ListBatch(pairs, labels, mask)


#: lists sorted by length together when batches are grouped by length: this many batches' worth
GROUP_BATCHES = 50


def epoch_lists(train: PreferenceLists, cfg: LLMConfig, epoch: int) -> Callable[[], Iterator[ListBatch]]:
    """The epoch's batches: lists in a seeded order, ``list_size`` responses sampled from each; with
    ``group_by_length``, batches of lists of similar length (sorted within groups of :data:`GROUP_BATCHES` batches,
    then the batches shuffled)."""
    def gen() -> Iterator[ListBatch]:
        rng = np.random.default_rng(epoch_seed(cfg.seed, LLM_STAGE_ID, epoch))
        order = rng.permutation(len(train)).tolist()
        picks = {i: sample_list(len(train.responses[i]), cfg.list_size, rng) for i in order}
        batches = [order[s:s + cfg.batch_lists] for s in range(0, len(order), cfg.batch_lists)]
        if cfg.group_by_length:
            def size(i: int) -> int:  # characters of the longest padded sequence the list contributes
                return len(str(train.prompts[i])) + max(len(train.responses[i][r]) for r in picks[i])
            group = cfg.batch_lists * GROUP_BATCHES
            grouped = []
            for s in range(0, len(order), group):
                chunk = sorted(order[s:s + group], key=size)
                grouped += [chunk[t:t + cfg.batch_lists] for t in range(0, len(chunk), cfg.batch_lists)]
            batches = [grouped[j] for j in rng.permutation(len(grouped))]
        for lists in batches:
            yield list_batch(train, lists, [picks[i] for i in lists])
    return gen


@dataclass
class LLMRunResult:
    """What an LLM run produced.

    Parameters
    ----------
    run_dir : str
        The run directory (``config.json``, ``plan.json``, ``prompt_model.pt``, ``log.jsonl``, the reference cache).
    train_seconds : float
        Wall time of the training.
    steps : int
        Optimizer steps taken.
    history : list of dict
        One record per logged step and epoch, as in ``log.jsonl``.
    truncation : dict, optional
        Sequences encoded, and how many had their response cut to the context or their prompt to
        ``max_prompt_tokens``.
    """
    run_dir: str
    train_seconds: float
    steps: int
    history: list
    #: sequences encoded, and how many had their response cut to the context or their prompt to max_prompt_tokens
    truncation: dict | None = None


def llm_train(cfg: LLMConfig, run_dir: str | Path, *, resume: bool = False,
              on_epoch: Callable[[str, dict], None] | None = None) -> LLMRunResult:
    """Train the prompt network (and LoRA adapters) with the PL-DPO loss over response lists.

    The base model stays frozen; the reference is the base model without prompts or adapters, its log-probabilities
    cached on disk in the run directory. What ``auto`` settings resolved to is written to ``RUN/plan.json``.

    Parameters
    ----------
    cfg : LLMConfig
        The run's configuration.
    run_dir : str or pathlib.Path
        A new or empty directory, or (with ``resume``) an interrupted run of the same config.
    resume : bool, default False
        Continue from the last checkpoint.
    on_epoch : callable, optional
        ``on_epoch(stage, record)`` after every epoch.

    Returns
    -------
    LLMRunResult
        Paths, timings, steps, the history and the truncation counts.

    Raises
    ------
    ConfigError
        The model cannot be found or loaded, or a setting is invalid for it.
    PreferenceFormatError
        The data file is malformed (the message names file and line).
    UserError
        The run directory is in use or holds another run, or a resume does not match it.
    """
    run_dir = Path(run_dir)
    created = not run_dir.exists()
    claimed: list[bool] = []
    check_new_or_resume(run_dir, resume)  # before the lock file: a directory not ours is left untouched
    try:
        with RunLock(run_dir):
            return _train(cfg, run_dir, resume, on_epoch, claimed)
    except BaseException:
        if created and not claimed and run_dir.is_dir() and not any(p.name != LOCK_NAME for p in run_dir.iterdir()):
            shutil.rmtree(run_dir, ignore_errors=True)
        if claimed and not resume:  # failed before its first checkpoint (a missing model...): nothing of it stays
            discard_unstarted(run_dir, created)
        raise


def llm_inputs(cfg: LLMConfig) -> dict[str, str | None]:
    """The files an LLM run reads, by config key (fingerprinted in ``inputs.json``)."""
    return {"data": cfg.data, "heldout": cfg.heldout}


def _train(cfg: LLMConfig, run_dir: Path, resume: bool, on_epoch: Callable[[str, dict], None] | None,
           claimed: list[bool]) -> LLMRunResult:
    check_new_or_resume(run_dir, resume)
    cfg_dict = cfg.to_dict()
    if resume and (run_dir / "config.json").exists():  # the same checks as an LTR run's resume
        check_resume_config(run_dir, cfg_dict, RESUME_HARMLESS_KEYS)
        check_inputs(run_dir, llm_inputs(cfg))
    claimed.append(True)
    set_threads(cfg.threads)
    train, _ = load_data(cfg)
    record_inputs(run_dir, llm_inputs(cfg))
    atomic_write_json(run_dir / "config.json", cfg_dict)
    model, enc, dev, plan = build_model(cfg, len(train.objectives))
    atomic_write_json(run_dir / "plan.json", plan.to_dict())
    ck = run_dir / "checkpoint.pt"
    state = load_latest(ck) if resume and (ck.exists() or previous_path(ck).exists()) else None
    if state is not None and state.get("stage") != "llm":
        raise RunDirError(f"{ck}: not an LLM checkpoint")
    cache = RefLogprobCache(cache_path(run_dir, cfg.model, resolve_device(cfg)[1], plan.precision))
    K = len(train.objectives)

    def loss_fn(_net: torch.nn.Module, b: ListBatch, gen: torch.Generator) -> torch.Tensor:
        # one process (the stage has no shard): ``_net`` is ``model`` itself, whose sequence_logprobs is called
        B, m = b.mask.shape
        w = sample_weights(B, K, cfg.alpha, generator=gen)
        beta = sample_beta(B, (cfg.beta_range[0], cfg.beta_range[1]), generator=gen) \
            if cfg.temperature_conditioned else cfg.beta
        ref = torch.zeros(B, m)
        ref[b.mask] = cache.get(model, enc, b.pairs, dev).float()
        ids, att, resp = enc.batch(b.pairs)
        idx = b.mask.nonzero()
        w_rows = w[idx[:, 0]]
        b_rows = beta[idx[:, 0]] if torch.is_tensor(beta) else None
        lp = model.sequence_logprobs(ids.to(dev), att.to(dev), resp.to(dev), w_rows.to(dev),
                                     b_rows.to(dev) if b_rows is not None else None).float().cpu()
        pol = torch.zeros(B, m).index_put((idx[:, 0], idx[:, 1]), lp)
        return pl_dpo_loss(pol, ref, b.labels.float(), b.mask, w, beta=beta, generator=gen)

    def tokens(b: ListBatch) -> dict[str, float]:
        return {"tokens": float(sum(len(enc.encode_pair(p, r)[0]) for p, r in b.pairs))}

    n_batches = -(-len(train) // cfg.batch_lists)
    stage = Stage(name="llm", stage_id=LLM_STAGE_ID, model=model, loss_fn=loss_fn,
                  batches=lambda e: epoch_lists(train, cfg, e)(), epochs=cfg.epochs, lr=cfg.lr,
                  weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip, clip_per_group=True,
                  grad_accum=cfg.grad_accum,
                  n_batches=n_batches,
                  param_groups=param_groups(model, plan), batch_stats=tokens,
                  get_state=model.trainable_state, set_state=model.load_trainable_state, device=dev,
                  precision=plan.precision)
    t0 = time.perf_counter()
    def after_epoch(stage_name: str, rec: dict) -> None:
        cache.save()  # reference log-probs survive a kill: a resumed run reads them back
        if on_epoch is not None:
            on_epoch(stage_name, rec)

    st = run_stage(stage, ck, cfg.seed, resume=state, progress=cfg.progress, log_path=run_dir / "log.jsonl",
                   on_epoch=after_epoch)
    cache.save()
    enc.warn_truncations("llm-train: ")
    save_atomic({"trainable": model.trainable_state(), "objectives": train.objectives, "beta": cfg.beta},
                run_dir / "prompt_model.pt")
    res = LLMRunResult(str(run_dir), time.perf_counter() - t0, st.steps, st.history,
                       {"sequences": enc.n_encoded, "responses_cut": enc.n_truncated,
                        "prompts_cut": enc.n_prompts_truncated})
    atomic_write_json(run_dir / "result.json", res.__dict__)
    return res


def param_groups(model: HyperPromptLM, plan: LLMPlan) -> list[dict]:
    """The optimizer's groups: the prompt network at its rate, the adapters (when any) at theirs."""
    net = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("prompt_net.")]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("prompt_net.")]
    groups = [{"params": net, "lr": plan.learning_rates["prompt_net"]}]
    if rest:
        groups.append({"params": rest, "lr": plan.learning_rates["adapters"]})
    return groups


def llm_run_plan(run_dir: str | Path) -> LLMPlan | None:
    """The resolved settings a run trained with (``None`` for a run written before ``plan.json``)."""
    p = Path(run_dir) / "plan.json"
    return LLMPlan(**{"learning_rates": {}, **json.loads(p.read_text())}) if p.exists() else None


def load_llm_run(run_dir: str | Path) -> tuple[HyperPromptLM, Encoder, LLMConfig, list[str], torch.device]:
    """Load a finished LLM run: the model with its trained prompts (and the adapters its ``plan.json`` records).

    Parameters
    ----------
    run_dir : str or pathlib.Path
        The run directory.

    Returns
    -------
    tuple
        (``HyperPromptLM`` model in eval mode, ``Encoder``, ``LLMConfig``, objective names, ``torch.device``).

    Raises
    ------
    UserError
        The directory holds no finished run (``RunDirError``), or a file in it is damaged.
    """
    run_dir = Path(run_dir)
    if not (run_dir / "prompt_model.pt").exists():
        raise RunDirError(f"{run_dir}: no prompt_model.pt (is the run finished?)")
    cfg = LLMConfig.load(run_dir / "config.json")
    saved = load(run_dir / "prompt_model.pt")
    plan = llm_run_plan(run_dir)
    model, enc, dev, _ = build_model(cfg, len(saved["objectives"]), plan.lora if plan is not None else "auto")
    model.load_trainable_state(saved["trainable"])
    return model.eval(), enc, cfg, saved["objectives"], dev
