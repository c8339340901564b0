"""LLM module: converters on the real sets, tokenisation, the loss on log-probs, gradients, resume, generation."""
import json

import numpy as np
import pytest
import torch
from conftest import StopTraining, shared_path, stop_after

from ltr_hyperdpo.core import dpo_sigmoid_loss, pl_dpo_loss
from ltr_hyperdpo.llm.convert import convert_alpacaeval, convert_hh_rlhf, convert_oasst
from ltr_hyperdpo.llm.data import PreferenceFormatError, read_lists


@pytest.fixture(scope="module")
def model_dir():
    return shared_path("models", "babyllama_tok105", "hf_llama")


@pytest.fixture(scope="module")
def alpaca():
    return convert_alpacaeval(shared_path("data", "pref", "alpacaeval", "alpacaeval_805x54_lists.jsonl.gz"))


def test_converters_on_real_sets(alpaca, tmp_path):
    assert len(alpaca) == 805 and alpaca.objectives == ["preference", "brevity"]
    assert max(len(r) for r in alpaca.responses) == 54
    i = 3
    # n_chars in the AlpacaEval file equals len(output); brevity is its negation
    np.testing.assert_array_equal(alpaca.scores["brevity"][i], -np.array([len(x) for x in alpaca.responses[i]]))
    pref = alpaca.scores["preference"]
    assert 1.0 <= min(min(v) for v in pref) and max(max(v) for v in pref) <= 2.0
    oa = convert_oasst(shared_path("data", "pref", "oasst1", "en_100_message.jsonl"))
    assert len(oa) >= 200 and all(len(r) >= 2 for r in oa.responses)
    assert all(v.max() == 0 for v in oa.scores["human_rank"])  # rank 0 = best = score 0
    hh = convert_hh_rlhf(shared_path("data", "pref", "hh_rlhf", "harmless-base.test.jsonl.gz"))
    assert len(hh) > 2000 and all(p.endswith("Assistant:") for p in hh.prompts[:50])
    assert all(len(r) == 2 for r in hh.responses)
    # round trip through both storage formats
    small = alpaca.subset(range(5))
    for name in ("a.jsonl", "a.parquet"):
        small.save(tmp_path / name)
        back = read_lists(tmp_path / name)
        assert back.prompts == small.prompts and back.responses == small.responses
        np.testing.assert_array_equal(back.scores["brevity"][2], small.scores["brevity"][2])


@pytest.mark.parametrize("line,msg", [
    ('{"prompt": "p", "responses": ["a", "b"]}', "missing key 'scores'"),
    ('{"prompt": "p", "responses": ["a"], "scores": {"x": [1]}}', "list of >= 2 strings"),
    ('{"prompt": "p", "responses": ["a", "b"], "scores": {"x": [1]}}', "one value per response"),
    ('{"prompt": "p", "responses": ["a", "b"], "scores": {"x": [1, null]}}', "missing or non-finite"),
    ('{"prompt": "p", "responses": ["a", "b"], "scores": {"y": [1, 2]}}', "differ from the first"),
    ("{oops", "invalid JSON"),
])
def test_bad_list_lines(tmp_path, line, msg):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"prompt": "q", "responses": ["a", "b"], "scores": {"x": [1, 2]}}\n' + line + "\n")
    with pytest.raises(PreferenceFormatError, match=msg) as ei:
        read_lists(p)
    assert f"{p}:2" in str(ei.value)


@pytest.fixture(scope="module")
def lm(model_dir):
    from ltr_hyperdpo.llm.model import HyperPromptLM, load_causal_lm
    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    torch.manual_seed(0)
    model = HyperPromptLM(load_causal_lm(model_dir), n_objectives=2, n_prompts=3, hidden=16)
    return model, Encoder(TextTokenizer(model_dir), 256 - 3, max_prompt_tokens=8)


def test_prompt_tokens_masked_and_truncation_counted(lm):
    model, enc = lm
    ids, att, resp = enc.batch([("Tell me a story about a very long dog", "Once upon a time"), ("Hi", "x" * 500)])
    assert ids[0, 0] == enc.tok.bos_id
    start = 1 + 8  # BOS + the first 8 prompt tokens
    assert not resp[0, :start].any() and resp[0, start:att[0].sum()].all()
    assert att[1].sum() == 253 and enc.n_truncated == 1
    with pytest.warns(UserWarning, match="1 of 2 responses were truncated"):
        enc.warn_truncations()


def test_reference_logprobs_equal_plain_model(lm):
    model, enc = lm
    ids, att, resp = enc.batch([("Hello", "Once upon a time there was a cat."), ("Why?", "Because.")])
    got = model.sequence_logprobs(ids, att, resp)
    with torch.no_grad():
        logits = model.base(input_ids=ids, attention_mask=att.long()).logits
    lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
    exp = (lp * resp[:, 1:]).sum(-1)
    torch.testing.assert_close(got, exp, rtol=1e-5, atol=1e-4)
    # soft prompts change the policy's log-probs, and differently for different w
    a = model.sequence_logprobs(ids, att, resp, torch.tensor([[1.0, 0.0]] * 2))
    b = model.sequence_logprobs(ids, att, resp, torch.tensor([[0.0, 1.0]] * 2))
    assert not torch.allclose(a, got) and not torch.allclose(a, b)


def test_two_responses_loss_is_dpo_on_logprobs(lm):
    model, enc = lm
    ids, att, resp = enc.batch([("Q", "good answer"), ("Q", "bad")])
    w = torch.tensor([[0.3, 0.7], [0.3, 0.7]])
    pol = model.sequence_logprobs(ids, att, resp, w)
    ref = model.sequence_logprobs(ids, att, resp).detach()
    loss = pl_dpo_loss(pol[None], ref[None], torch.tensor([[[1.0], [0.0]]]), None, torch.ones(1, 1), beta=0.1)
    exp = dpo_sigmoid_loss(pol[0], pol[1], ref[0], ref[1], 0.1)
    torch.testing.assert_close(loss, exp)


@pytest.mark.parametrize("lora", [None, {"r": 2}])
def test_gradients_reach_only_prompt_net_and_adapters(model_dir, lora):
    from ltr_hyperdpo.llm.model import HyperPromptLM, load_causal_lm
    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    torch.manual_seed(0)
    model = HyperPromptLM(load_causal_lm(model_dir), 2, 2, 16, lora=lora)
    enc = Encoder(TextTokenizer(model_dir), 200, 8)
    base_before = {k: v.clone() for k, v in model.base.named_parameters() if "lora_" not in k}
    ids, att, resp = enc.batch([("Q", "a cat sat"), ("Q", "a dog ran fast")])
    w = torch.tensor([[0.5, 0.5], [0.5, 0.5]])
    pol = model.sequence_logprobs(ids, att, resp, w)
    ref = model.sequence_logprobs(ids, att, resp).detach()
    loss = pl_dpo_loss(pol[None], ref[None], torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]), None, w[:1], beta=0.5)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1.0)
    loss.backward()
    opt.step()
    trained = {k for k, v in model.named_parameters() if v.requires_grad}
    assert trained and all(k.startswith("prompt_net.") or "lora_" in k for k in trained)
    assert any("lora_" in k for k in trained) == bool(lora)
    for k, v in model.base.named_parameters():
        if "lora_" not in k:
            assert v.grad is None and torch.equal(v, base_before[k]), k
    # the reference (adapters off, no prompts) is the untouched base model
    torch.testing.assert_close(model.sequence_logprobs(ids, att, resp), ref)


def test_per_objective_adapters_mix_one_block_per_objective_by_w(model_dir):
    """``lora: {per_objective: true}``: the adapters at w equal one ordinary LoRA of rank K r whose block k of B is
    scaled by w_k (an oracle built from peft's own LoRA); at a vertex only that objective's block acts; every row
    of a batch gets its own w; the reference (adapters off) is untouched."""
    from ltr_hyperdpo.llm.model import HyperPromptLM, load_causal_lm
    from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer

    r, k = 2, 2
    torch.manual_seed(0)
    mixed = HyperPromptLM(load_causal_lm(model_dir), k, 2, 16, lora={"r": r, "lora_alpha": 4, "per_objective": True})
    plain = HyperPromptLM(load_causal_lm(model_dir), k, 2, 16, lora={"r": r * k, "lora_alpha": 4 * k})
    with torch.no_grad():  # adapters as if trained (peft starts B at zero)
        for name, prm in mixed.named_parameters():
            if "lora_B" in name:
                prm.normal_(0, 0.5)
    enc = Encoder(TextTokenizer(model_dir), 200, 8)
    ids, att, resp = enc.batch([("Q", "a cat sat on the mat"), ("Q", "a dog ran fast")])

    def oracle(w: list[float]) -> torch.Tensor:
        state = dict(mixed.named_parameters())
        scale = torch.tensor(w).repeat_interleave(r)
        with torch.no_grad():
            for name, prm in plain.named_parameters():
                prm.copy_(state[name] * scale if "lora_B" in name else state[name])
        return plain.sequence_logprobs(ids, att, resp, torch.tensor([w, w]))

    with torch.no_grad():
        for w in ([0.3, 0.7], [1.0, 0.0], [0.0, 1.0]):
            torch.testing.assert_close(mixed.sequence_logprobs(ids, att, resp, torch.tensor([w, w])), oracle(w))
        # rows with different weights: each row as if alone
        both = mixed.sequence_logprobs(ids, att, resp, torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
        torch.testing.assert_close(both, torch.stack([oracle([1.0, 0.0])[0], oracle([0.0, 1.0])[1]]))
        # at the vertex e_0 objective 1's block does nothing; at e_1 it does
        at = {v: mixed.sequence_logprobs(ids, att, resp, torch.tensor([v, v])) for v in ((1.0, 0.0), (0.0, 1.0))}
        for name, prm in mixed.named_parameters():
            if "lora_B" in name:
                prm[:, r:] = 0.0
        torch.testing.assert_close(mixed.sequence_logprobs(ids, att, resp, torch.tensor([[1.0, 0.0]] * 2)),
                                   at[1.0, 0.0])
        assert not torch.allclose(mixed.sequence_logprobs(ids, att, resp, torch.tensor([[0.0, 1.0]] * 2)),
                                  at[0.0, 1.0])
        reference = load_causal_lm(model_dir)
        plain_ref = HyperPromptLM(reference, k, 2, 16).sequence_logprobs(ids, att, resp)
        torch.testing.assert_close(mixed.sequence_logprobs(ids, att, resp), plain_ref)


@pytest.mark.slow
def test_train_resume_front_generate(model_dir, alpaca, tmp_path, capsys, monkeypatch):
    from ltr_hyperdpo.cli import main
    from ltr_hyperdpo.llm.config import LLMConfig
    from ltr_hyperdpo.llm.train import llm_train

    data = tmp_path / "lists.jsonl"
    alpaca.subset(range(12)).save(data)
    base = {"model": str(model_dir), "data": str(data), "heldout_fraction": 0.25, "list_size": 3, "epochs": 2,
            "batch_lists": 2, "grad_accum": 2, "max_prompt_tokens": 16, "max_length": 96, "progress": False,
            "n_prompts": 2, "prompt_hidden": 8}
    full = llm_train(LLMConfig.from_dict(base), tmp_path / "full")
    with pytest.raises(StopTraining):
        llm_train(LLMConfig.from_dict(base), tmp_path / "cut", on_epoch=stop_after(1))
    llm_train(LLMConfig.from_dict(base), tmp_path / "cut", resume=True)
    a = torch.load(tmp_path / "full" / "prompt_model.pt", weights_only=True)["trainable"]
    b = torch.load(tmp_path / "cut" / "prompt_model.pt", weights_only=True)["trainable"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert full.steps == 2 * 3  # 9 train lists, 2 a batch = 5 batches, 2 batches a step = 3 steps an epoch
    assert main(["llm-front", str(tmp_path / "full"), "--grid", "3", "--out", str(tmp_path / "f"),
                 "--list-size", "4"]) == 0
    fr = json.loads((tmp_path / "f" / "front.json").read_text())
    assert fr["front_metric"] == "pairwise_accuracy" and len(fr["points"]) == 3
    assert fr["reference"]["pairwise_accuracy"] == [0.5, 0.5]
    assert (tmp_path / "f" / "front.png").exists()
    # the reference log-probs of training and of the front sit in one cache file; a second front computes none
    caches = list((tmp_path / "full").glob("ref_logprobs.*.arrow"))
    assert len(caches) == 1
    stamp = caches[0].stat().st_mtime_ns
    assert main(["llm-front", str(tmp_path / "full"), "--grid", "3", "--out", str(tmp_path / "f2"),
                 "--list-size", "4"]) == 0
    assert caches[0].stat().st_mtime_ns == stamp
    assert json.loads((tmp_path / "f2" / "front.json").read_text())["points"] == fr["points"]
    capsys.readouterr()
    # the generated front, with a user objective function
    (tmp_path / "my_scores.py").write_text("def vowels(prompt, response):\n"
                                           "    return float(sum(c in 'aeiou' for c in response))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["llm-front", str(tmp_path / "full"), "--grid", "3", "--out", str(tmp_path / "g"), "--list-size", "4",
                 "--generate", "--objective-fn", "brevity=length", "--objective-fn", "vowels=my_scores:vowels",
                 "--prompts", "2", "--max-new-tokens", "8"]) == 0
    gf = json.loads((tmp_path / "g" / "generated" / "front.json").read_text())
    assert gf["objectives"] == ["brevity", "vowels"] and gf["weights_over"] == ["preference", "brevity"]
    assert len(gf["points"]) == 3 and set(gf["reference"]) == {"greedy", "sampled"}
    gens = [json.loads(x) for x in (tmp_path / "g" / "generated" / "generations.jsonl").read_text().splitlines()]
    assert len(gens) == (3 + 1) * 2 * 2  # (grid + reference) x prompts x (greedy, sampled)
    for g in gens:
        assert g["scores"]["brevity"] == -len(g["response"])
        assert g["scores"]["vowels"] == sum(c in "aeiou" for c in g["response"])
    ref_greedy = [g for g in gens if g["w"] is None and g["mode"] == "greedy"]
    assert gf["reference"]["greedy"][0] == pytest.approx(np.mean([g["scores"]["brevity"] for g in ref_greedy]))
    assert (tmp_path / "g" / "generated" / "front.png").exists()
    assert main(["llm-front", str(tmp_path / "full"), "--out", str(tmp_path / "h"), "--generate",
                 "--objective-fn", "x=nomodule:fn"]) == 2
    assert "nomodule" in capsys.readouterr().err and not (tmp_path / "h").exists()  # refused before any output
    assert main(["llm-generate", str(tmp_path / "full"), "--prompt", "Once upon a time", "--w", "1", "0",
                 "--max-new-tokens", "12"]) == 0
    assert capsys.readouterr().out.strip()
    # --beta on a run that is not temperature-conditioned: decoded rescaled from the trained β, and recorded
    trained = LLMConfig.from_dict(base).beta
    assert main(["llm-front", str(tmp_path / "full"), "--grid", "3", "--out", str(tmp_path / "b"), "--list-size", "4",
                 "--generate", "--prompts", "1", "--max-new-tokens", "4", "--beta", str(trained / 4)]) == 0
    settings = json.loads((tmp_path / "b" / "generated" / "front.json").read_text())["settings"]
    assert settings["beta"] == pytest.approx(trained / 4) and settings["decoding_strength"] == pytest.approx(4.0)


def test_scoring_batches_group_similar_lengths_and_return_the_callers_order(lm, alpaca):
    from ltr_hyperdpo.llm.evaluate import logprobs

    model, enc = lm
    # responses cut to lengths out of order, all within the tiny model's context
    pairs = [(alpaca.prompts[i], alpaca.responses[i][j][:(37 * (i + 3 * j)) % 200 + 5]) for i in range(4)
             for j in range(3)]
    lengths = [len(enc.encode_pair(p, r)[0]) for p, r in pairs]
    assert len(set(lengths)) > 3  # the order matters only if the lengths differ
    batches = enc.length_batches(pairs, 5)
    assert sorted(i for b in batches for i in b) == list(range(len(pairs))) and max(map(len, batches)) == 5
    flat = [lengths[i] for b in batches for i in b]
    assert flat == sorted(flat, reverse=True)  # a batch pads only to its own longest, the next one's are shorter
    w = np.array([0.3, 0.7])
    got = logprobs(model, enc, pairs, torch.device("cpu"), w, batch_size=5)
    ids, att, resp = enc.batch(pairs)
    with torch.no_grad():
        direct = model.sequence_logprobs(ids, att, resp, torch.as_tensor(w, dtype=torch.float32)[None].expand(
            len(pairs), -1))
    np.testing.assert_allclose(got, direct.numpy(), rtol=1e-5)


def test_reference_logprob_cache_on_disk(lm, model_dir, alpaca, tmp_path):
    from ltr_hyperdpo.llm.refcache import RefLogprobCache, cache_path, model_key
    from ltr_hyperdpo.llm.tokenize import Encoder

    model, enc = lm
    pairs = [(alpaca.prompts[i], alpaca.responses[i][j]) for i in range(3) for j in range(2)]
    path = cache_path(tmp_path, model_dir, torch.float32)
    c1 = RefLogprobCache(path)
    v1 = c1.get(model, enc, pairs, torch.device("cpu"))
    assert c1.computed == len(pairs)
    ids, att, resp = enc.batch(pairs)
    with torch.no_grad():
        direct = model.sequence_logprobs(ids, att, resp)
    np.testing.assert_allclose(v1.numpy(), direct.numpy(), rtol=1e-6)
    c1.save()
    c2 = RefLogprobCache(path)  # a resumed or repeated run reads them back
    assert torch.equal(c2.get(model, enc, pairs, torch.device("cpu")), v1) and c2.computed == 0
    # other tokenizer settings give other token sequences: misses, not stale values
    other = Encoder(enc.tok, enc.max_length, max_prompt_tokens=4)
    c2.get(model, other, pairs, torch.device("cpu"))
    assert c2.computed == len(pairs)
    # the file is named by the model's identity and the dtype
    assert model_key(model_dir, torch.float32) != model_key(model_dir, torch.bfloat16)
    copy = tmp_path / "copy"
    copy.mkdir()
    for f in model_dir.iterdir():
        (copy / f.name).write_bytes(f.read_bytes())
    assert model_key(copy, torch.float32) != model_key(model_dir, torch.float32)


def test_llm_device_and_dtype_selection():
    from ltr_hyperdpo.llm.config import LLMConfig
    from ltr_hyperdpo.llm.train import resolve_device

    cuda = torch.cuda.is_available()
    dev, dt = resolve_device(LLMConfig.from_dict({"device": "auto"}))
    assert (dev.type, dt) == (("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32))
    assert resolve_device(LLMConfig.from_dict({"device": "cpu", "dtype": "bfloat16"})) == (torch.device("cpu"),
                                                                                         torch.bfloat16)
    assert resolve_device(LLMConfig.from_dict({"device": "cpu"}))[1] == torch.float32
    with pytest.raises(Exception, match="device"):
        LLMConfig.from_dict({"device": "tpu"})
    if not cuda:
        with pytest.raises(Exception, match="CUDA"):
            resolve_device(LLMConfig.from_dict({"device": "cuda"}))


def _repeated_ngrams(ids: list[int], n: int) -> int:
    grams = [tuple(ids[i:i + n]) for i in range(len(ids) - n + 1)]
    return len(grams) - len(set(grams))


def test_the_loop_guard_stops_repeated_ngrams_in_generations(lm):
    """Greedy decoding of the tiny model loops on these prompts; the guard (the default) leaves no token 6-gram twice
    in a response, for the reference model and for a weight alike, and 0 turns it off."""
    from ltr_hyperdpo import defaults
    from ltr_hyperdpo.llm.generate import generate_front, length_objective

    model, enc = lm
    prompts = ["Once upon a time", "The little dog", "Tom and Sue went to the park"]
    w = np.array([[1.0, 0.0], [0.5, 0.5]])

    def repeats(no_repeat: int) -> list[int]:
        gen = generate_front(model, enc, prompts, w, {"brevity": length_objective}, torch.device("cpu"),
                             weight_names=["a", "b"], max_new_tokens=120, no_repeat_ngram=no_repeat)
        assert gen.settings["no_repeat_ngram"] == no_repeat
        return [_repeated_ngrams(enc.tok.encode(g["response"]), defaults.LLM_NO_REPEAT_NGRAM)
                for g in gen.generations if g["mode"] == "greedy"]

    off = repeats(0)
    assert sum(off) > 0  # the unguarded model does loop here, so the guard has something to stop
    assert defaults.LLM_NO_REPEAT_NGRAM > 0
    on = repeats(defaults.LLM_NO_REPEAT_NGRAM)
    assert len(on) == len(off) == (len(w) + 1) * len(prompts)
    assert sum(on) == 0


def test_a_negative_loop_guard_is_refused():
    from ltr_hyperdpo import defaults
    from ltr_hyperdpo.errors import ConfigError
    from ltr_hyperdpo.llm.generate import loop_guard

    assert loop_guard(0) == {} and loop_guard(4) == {"no_repeat_ngram_size": 4}
    assert loop_guard() == loop_guard(None) == {"no_repeat_ngram_size": defaults.LLM_NO_REPEAT_NGRAM}
    with pytest.raises(ConfigError, match="no-repeat-ngram"):
        loop_guard(-1)


@pytest.mark.parametrize("lora", [None, {"r": 2}])
def test_a_policy_decoded_at_another_beta_mixes_its_log_probs_with_the_reference_by_hand(lm, model_dir, lora):
    """``strength`` λ = β_trained/β': each greedy token is the argmax of ``log p_ref + λ (log p_θ − log p_ref)``,
    computed here by hand from full forward passes (no caches) of the policy (soft prompts, trained adapters) and
    of a separately loaded base model; λ = 0 decodes the reference model and λ = 1 the policy as trained."""
    from ltr_hyperdpo.errors import ConfigError
    from ltr_hyperdpo.llm.generate import decoding_strength, prompt_ids
    from ltr_hyperdpo.llm.model import HyperPromptLM, load_causal_lm

    model, enc = lm
    if lora:
        torch.manual_seed(0)
        model = HyperPromptLM(load_causal_lm(model_dir), n_objectives=2, n_prompts=3, hidden=16, lora=lora)
        with torch.no_grad():  # adapters as if trained (peft starts them at zero)
            for name, p in model.named_parameters():
                if "lora_B" in name:
                    p.normal_(0, 0.5)
    plain = load_causal_lm(model_dir).eval()
    model.eval()
    ids = torch.tensor([prompt_ids(enc, "Tom and Sue went to the park")])
    w = torch.tensor([[0.3, 0.7]])
    steps = 8

    def next_logp(seq: list[int], policy: bool) -> torch.Tensor:
        t = torch.tensor([seq])
        with torch.no_grad():
            if not policy:
                return torch.log_softmax(plain(input_ids=t).logits[0, -1].float(), -1)
            emb = model.embeddings()(t)
            emb = torch.cat([emb[:, :1], model.soft_prompts(w).to(emb.dtype), emb[:, 1:]], dim=1)
            return torch.log_softmax(model.base(inputs_embeds=emb).logits[0, -1].float(), -1)

    def by_hand(strength: float) -> list[int]:
        seq = ids[0].tolist()
        for _ in range(steps):
            ref = next_logp(seq, policy=False)
            seq.append(int((ref + strength * (next_logp(seq, policy=True) - ref)).argmax()))
        return seq[ids.shape[1]:]

    def decoded(strength: float, weights=w) -> list[int]:
        return model.generate(ids, weights, strength=strength, max_new_tokens=steps, min_new_tokens=steps,
                              do_sample=False, eos_token_id=None, pad_token_id=0)[0].tolist()

    policy = decoded(1.0)
    assert policy == by_hand(1.0)
    assert decoded(0.0) == decoded(1.0, weights=None) == by_hand(0.0)  # λ = 0: the reference model
    assert policy != decoded(0.0)  # the soft prompts move this prompt's tokens, so λ has something to scale
    for strength in (0.5, 2.5):
        assert decoded(strength) == by_hand(strength)
    assert decoding_strength(0.1, 0.05, False) == pytest.approx(2.0)
    assert decoding_strength(0.1, None, False) == decoding_strength(0.1, 0.05, True) == 1.0
    with pytest.raises(ConfigError, match="beta"):
        decoding_strength(0.1, 0.0, False)
