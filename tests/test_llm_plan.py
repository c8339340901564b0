"""The LLM run's ``auto`` rules (adapters, their learning rate, precision), the length-grouped batches and the
response-only output layer: each rule tested at both sides of its threshold, each behaviour against a plain
computation."""
from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ltr_hyperdpo import defaults  # noqa: E402
from ltr_hyperdpo.llm import plan as llm_plan  # noqa: E402
from ltr_hyperdpo.llm.config import LLMConfig  # noqa: E402
from ltr_hyperdpo.llm.data import PreferenceLists  # noqa: E402
from ltr_hyperdpo.llm.train import epoch_lists  # noqa: E402


def test_lora_auto_follows_the_size_rule():
    cfg = LLMConfig(model="m", data="d")
    assert cfg.lora == "auto"
    assert llm_plan.resolve_lora(cfg, defaults.LLM_LORA_MIN_PARAMETERS - 1) is None
    assert llm_plan.resolve_lora(cfg, defaults.LLM_LORA_MIN_PARAMETERS) == defaults.LLM_LORA
    assert llm_plan.resolve_lora(LLMConfig(model="m", data="d", lora=None), 10 ** 9) is None
    given = llm_plan.resolve_lora(LLMConfig(model="m", data="d", lora={"r": 2}), 10)
    assert given is not None and given["r"] == 2 and given["target_modules"] == defaults.LLM_LORA["target_modules"]
    assert given["per_objective"] is True  # completed from the defaults: one block per objective
    shared = llm_plan.resolve_lora(LLMConfig(model="m", data="d", lora={"per_objective": False}), 10)
    assert shared is not None and shared["per_objective"] is False


@pytest.mark.parametrize(("lora", "key", "says"), [
    ({"per_objective": "yes"}, "lora.per_objective", "expected true or false, got 'yes'"),
    ({"r": 0}, "lora.r", "expected an integer >= 1, got 0"),
    ({"r": 2.5}, "lora.r", "expected an integer >= 1, got 2.5"),
    ({"lora_alpha": -1}, "lora.lora_alpha", "expected a number > 0, got -1"),
    ({"lora_dropout": 1.0}, "lora.lora_dropout", r"expected a number in \[0, 1\), got 1.0"),
    ({"target_modules": []}, "lora.target_modules", "expected a list of module names or a pattern, got \\[\\]"),
])
def test_a_bad_lora_mapping_is_refused_by_name_when_the_config_is_loaded(tmp_path, lora, key, says):
    from ltr_hyperdpo.errors import ConfigError

    with pytest.raises(ConfigError, match=f"config key '{key}': {says}"):
        LLMConfig(model="m", data="d", lora=lora)
    path = tmp_path / "llm.json"
    path.write_text(json.dumps({"model": "m", "data": "d", "lora": lora}))
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        LLMConfig.load(path)
    assert LLMConfig(model="m", data="d", lora={"r": 4, "target_modules": "q_proj|v_proj"}).lora["r"] == 4


def test_adapters_learn_at_a_tenth_unless_told():
    cfg = LLMConfig(model="m", data="d", lr=0.002)
    assert llm_plan.resolve_learning_rates(cfg, None) == {"prompt_net": 0.002}
    rates = llm_plan.resolve_learning_rates(cfg, defaults.LLM_LORA)
    assert rates["adapters"] == pytest.approx(0.002 * defaults.LLM_LORA_LR_SCALE)
    assert llm_plan.resolve_learning_rates(LLMConfig(model="m", data="d", lora_lr=1e-5), {"r": 1})["adapters"] == 1e-5


def test_precision_auto_follows_native_bf16(monkeypatch):
    cfg = LLMConfig(model="m", data="d")
    cpu = torch.device("cpu")
    monkeypatch.setattr(llm_plan, "native_bf16", lambda d: True)
    assert llm_plan.resolve_precision(cfg, cpu) == "bf16"
    monkeypatch.setattr(llm_plan, "native_bf16", lambda d: False)
    assert llm_plan.resolve_precision(cfg, cpu) == "fp32"
    assert llm_plan.resolve_precision(LLMConfig(model="m", data="d", precision="bf16"), cpu) == "bf16"
    monkeypatch.undo()
    assert llm_plan.native_bf16(torch.device("cuda")) is True
    assert llm_plan.native_bf16(cpu) == bool(torch.cpu._is_avx512_bf16_supported()
                                             or torch.cpu._is_amx_tile_supported())


def lists_of_lengths(n: int, seed: int = 0) -> PreferenceLists:
    rng = np.random.default_rng(seed)
    responses = [["x" * int(rng.integers(1, 400)) for _ in range(4)] for _ in range(n)]
    return PreferenceLists([f"p{i}" for i in range(n)], responses,
                           {"a": [rng.normal(size=4) for _ in range(n)]})


def batches(data: PreferenceLists, **cfg) -> list[list[str]]:
    c = LLMConfig(model="m", data="d", batch_lists=2, list_size=3, **cfg)
    return [[p for p, _ in b.pairs] for b in epoch_lists(data, c, 0)()]


def test_length_grouped_batches_cover_the_epoch_with_less_padding():
    """Grouping keeps the epoch's lists and each list's sampled responses, and cuts the padding (max length in a
    batch times its sequences, minus the real characters); without it the order is the plain seeded one."""
    data = lists_of_lengths(400)
    cfg = LLMConfig(model="m", data="d", batch_lists=2, list_size=3)

    def padding(group: bool) -> tuple[int, list]:
        c = LLMConfig(**{**cfg.to_dict(), "group_by_length": group})
        pad, seen = 0, []
        for b in epoch_lists(data, c, 0)():
            lens = [len(r) for _, r in b.pairs]
            pad += max(lens) * len(lens) - sum(lens)
            seen += sorted(b.pairs)
        return pad, sorted(seen)

    grouped, seen_g = padding(True)
    plain, seen_p = padding(False)
    assert seen_g == seen_p  # the same lists, the same sampled responses
    assert grouped < 0.8 * plain  # the padding between lists goes; within a list responses still differ
    assert batches(data, group_by_length=True) != batches(data, group_by_length=False)
    assert batches(data, group_by_length=True) == batches(data, group_by_length=True)  # seeded


def test_response_only_output_layer_equals_the_full_softmax():
    """The log-probabilities from the output layer at response positions equal a full forward's log-softmax summed
    over the response tokens (a wrong shift or mask would differ)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from ltr_hyperdpo.llm.model import HyperPromptLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=2))
    model = HyperPromptLM(base, 2, n_prompts=2, hidden=8)
    ids = torch.randint(3, 50, (3, 9))
    att = torch.ones(3, 9, dtype=torch.bool)
    att[2, 7:] = False
    resp = torch.zeros(3, 9, dtype=torch.bool)
    resp[0, 4:] = True
    resp[1, 2:6] = True
    resp[2, 5:7] = True
    with torch.no_grad():
        ours = model.sequence_logprobs(ids, att, resp)
        logp = torch.log_softmax(base(input_ids=ids, attention_mask=att.long()).logits, -1)
    want = torch.stack([sum(logp[b, t - 1, ids[b, t]] for t in range(1, 9) if resp[b, t]) for b in range(3)])
    assert ours == pytest.approx(want, abs=1e-5)


def test_gradient_clipping_per_group_leaves_a_small_group_alone():
    """Per group, a huge gradient in one group (the adapters) does not shrink another's (the prompt network); a
    joint clip does."""
    from ltr_hyperdpo.runs.loop import _step

    def grads_after(per_group: bool) -> tuple[float, float]:
        small, big = torch.nn.Parameter(torch.zeros(3)), torch.nn.Parameter(torch.zeros(3))
        opt = torch.optim.SGD([{"params": [small]}, {"params": [big]}], lr=1.0)
        small.grad = torch.full((3,), 0.1)
        big.grad = torch.full((3,), 100.0)
        _step(opt, [small, big], 1.0, None, per_group)
        return float(small.detach().abs().sum()), float(big.detach().norm())

    small_step, big_step = grads_after(True)
    assert small_step == pytest.approx(0.3) and big_step == pytest.approx(1.0)
    joint_small, _ = grads_after(False)
    assert joint_small < 0.01
