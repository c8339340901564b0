"""The preference formats alignment users have: trl rows (standard and conversational), long multi-attribute rows
(JSONL and Parquet), the errors of each, and how conversational prompts are rendered."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ltr_hyperdpo.cli import main
from ltr_hyperdpo.llm.convert import convert_long, convert_trl
from ltr_hyperdpo.llm.data import PreferenceFormatError, read_lists
from ltr_hyperdpo.llm.tokenize import Encoder, TextTokenizer, plain_chat

CONV = [{"role": "user", "content": "Name a colour."}]


def jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_trl_standard_and_conversational_rows(tmp_path):
    src = jsonl(tmp_path / "trl.jsonl", [
        {"prompt": "2+2?", "chosen": "4", "rejected": "5"},
        {"prompt": CONV, "chosen": [{"role": "assistant", "content": "Blue."}],
         "rejected": [{"role": "assistant", "content": "Seven."}]},
        {"chosen": CONV + [{"role": "assistant", "content": "Red."}],  # implicit prompt
         "rejected": CONV + [{"role": "assistant", "content": "No."}]},
    ])
    lists = convert_trl(src)
    assert lists.objectives == ["preference"] and len(lists) == 3
    assert lists.prompts[0] == "2+2?" and lists.responses[0] == ["4", "5"]
    assert lists.prompts[1] == CONV and lists.responses[1] == ["Blue.", "Seven."]
    assert lists.prompts[2] == CONV and lists.responses[2] == ["Red.", "No."]
    assert all(s.tolist() == [1.0, 0.0] for s in lists.scores["preference"])  # chosen first, ranked higher
    out = tmp_path / "lists.jsonl"  # the CLI writes the documented list format, which the trainer reads
    assert main(["llm-convert", "trl", str(src), str(out)]) == 0
    back = read_lists(out)
    assert back.prompts == lists.prompts and back.responses == lists.responses


@pytest.mark.parametrize("rows,msg,line", [
    ([{"prompt": "p", "chosen": "a", "rejected": "b"}, {"prompt": "p", "chosen": "a"}], "rejected", 2),
    ([{"prompt": "p", "chosen": [{"role": "assistant"}], "rejected": "b"}], "content", 1),
    ([{"chosen": CONV + [{"role": "assistant", "content": "x"}],
       "rejected": [{"role": "user", "content": "other"}, {"role": "assistant", "content": "y"}]}],
     "share every message", 1),
])
def test_trl_errors_name_file_and_line(tmp_path, rows, msg, line):
    src = jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(PreferenceFormatError, match=msg) as ei:
        convert_trl(src)
    assert f"{src}:{line}" in str(ei.value)


def test_a_converter_that_finds_nothing_fails(tmp_path, capsys):
    src = jsonl(tmp_path / "lists.jsonl", [{"prompt": "p", "responses": ["a", "b"], "scores": {"x": [1, 2]}}])
    # the list format is not trl rows: one line naming the file and line, no output written
    assert main(["llm-convert", "trl", str(src), str(tmp_path / "o.jsonl")]) == 2
    err = capsys.readouterr().err
    assert f"{src}:1" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.jsonl").exists()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(PreferenceFormatError, match="no trl preference"):
        convert_trl(empty)


def long_rows():
    return [
        {"prompt": "p1", "response": "a", "helpfulness": 3, "correctness": 2.5, "verbosity": 1},
        {"prompt": "p2", "response": "only one", "helpfulness": 1, "correctness": 1, "verbosity": 1},
        {"prompt": "p1", "response": "b", "helpfulness": 1, "correctness": 4, "verbosity": 0},
        {"prompt": "p1", "response": "c", "helpfulness": 2, "correctness": 0, "verbosity": 4},
        {"prompt": "p3", "response": "x", "helpfulness": 0, "correctness": 1, "verbosity": 2},
        {"prompt": "p3", "response": "y", "helpfulness": 4, "correctness": 1, "verbosity": 3},
    ]


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_long_rows_grouped_by_prompt(tmp_path, fmt):
    if fmt == "jsonl":
        src = jsonl(tmp_path / "helpsteer.jsonl", long_rows())
    else:
        src = tmp_path / "helpsteer.parquet"
        pq.write_table(pa.Table.from_pylist(long_rows()), src)
    objs = ["helpfulness", "correctness", "verbosity"]
    with pytest.warns(UserWarning, match="1 prompt"):  # p2 has one response: dropped and counted
        lists = convert_long(src, objectives=objs)
    assert lists.objectives == objs and lists.prompts == ["p1", "p3"]
    assert lists.responses[0] == ["a", "b", "c"]
    np.testing.assert_array_equal(lists.scores["correctness"][0], [2.5, 4, 0])
    np.testing.assert_array_equal(lists.scores["verbosity"][1], [2, 3])


def test_long_rows_errors(tmp_path, capsys):
    rows = long_rows()
    rows[3]["correctness"] = "high"
    src = jsonl(tmp_path / "bad.jsonl", rows)
    with pytest.raises(PreferenceFormatError, match="'correctness' must be a finite number") as ei:
        convert_long(src, objectives=["helpfulness", "correctness"])
    assert f"{src}:4" in str(ei.value)
    assert main(["llm-convert", "long", str(src), str(tmp_path / "o.jsonl"), "--objectives", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    with pytest.raises(PreferenceFormatError, match="needs --objectives"):
        convert_long(src)


def test_plain_chat_template():
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Colour?"}]
    assert plain_chat(msgs) == ("\n\nSystem: Be brief.\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Colour?"
                                "\n\nAssistant:")


def char_tokenizer(path, chat_template=None):
    """A character-level Hugging Face tokenizer saved to ``path`` (optionally with a chat template)."""
    import string

    transformers = pytest.importorskip("transformers")
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    chars = [c for c in string.printable if c not in "\t\r\x0b\x0c"]
    t = Tokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2, **{c: i + 3 for i, c in enumerate(chars)}},
                                   unk_token="<unk>"))
    t.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    t.decoder = decoders.Fuse()
    hf = transformers.PreTrainedTokenizerFast(tokenizer_object=t, bos_token="<s>", eos_token="</s>",
                                              unk_token="<unk>")
    if chat_template:
        hf.chat_template = chat_template
    hf.save_pretrained(path)
    return path


def test_chat_template_of_the_model_is_used(tmp_path):
    """A tokenizer with a chat template renders conversations through it (its BOS left to the encoder), and plain
    text as one user turn (``chat_template: auto``; ``off`` leaves text as it is); one without falls back to the
    plain template for conversations and leaves text alone."""
    template = ("{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}"
                "{% if add_generation_prompt %}<assistant>{% endif %}")
    tok = TextTokenizer(char_tokenizer(tmp_path / "tok", template))
    assert tok.chat_template is not None
    assert tok.render(CONV) == "<user>Name a colour.<assistant>"
    assert tok.render("plain text") == "<user>plain text<assistant>"
    assert TextTokenizer(tmp_path / "tok", chat_template="off").render("plain text") == "plain text"
    enc = Encoder(tok, 64, max_prompt_tokens=40)
    ids, n_prompt = enc.encode_pair(CONV, "Blue.")
    assert ids[0] == tok.bos_id and ids.count(tok.bos_id) == 1  # one BOS, the encoder's
    assert tok.decode(ids[1:n_prompt]) == "<user>Name a colour.<assistant>"
    assert tok.decode(ids[n_prompt:]) == "Blue."
    plain = TextTokenizer(char_tokenizer(tmp_path / "plain"))
    assert plain.chat_template is None and plain.render(CONV) == plain_chat(CONV)
    assert plain.render("plain text") == "plain text"
    assert TextTokenizer(tmp_path / "plain", chat_template="on").render("hi") == plain_chat([{"role": "user",
                                                                                             "content": "hi"}])
    # a templated text prompt is cut like a conversation: its end (the generation prompt) is kept
    ids, n_prompt = Encoder(tok, 64, max_prompt_tokens=12).encode_pair("a long instruction here", "x")
    kept = tok.decode(ids[1:n_prompt])
    assert kept.endswith("<assistant>") and not kept.startswith("<user>")


def test_reward_model_objective(tmp_path):
    """A local sequence-classification model scores (prompt, response) by its last logit."""
    transformers = pytest.importorskip("transformers")
    import torch

    from ltr_hyperdpo.llm.generate import RewardModel, distinct_ngrams, length_objective, parse_objectives

    path = char_tokenizer(tmp_path / "rm")
    cfg = transformers.LlamaConfig(vocab_size=110, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=2, num_labels=1, pad_token_id=0)
    torch.manual_seed(0)
    transformers.LlamaForSequenceClassification(cfg).save_pretrained(path)
    rm = RewardModel(path)
    a, b = rm("Name a colour.", "Blue."), rm("Name a colour.", "Blue, red and green.")
    x = rm.tok("Name a colour.", "Blue.", return_tensors="pt")
    with torch.no_grad():
        assert a == pytest.approx(float(rm.model(**x).logits[0, -1]))
    assert a != b
    fns = parse_objectives(["brevity=length"], [f"rm={path}"])
    assert list(fns) == ["brevity", "rm"] and fns["brevity"]("p", "abc") == -3.0
    assert parse_objectives(None) == {"length": length_objective, "distinct_ngrams": distinct_ngrams}
    assert distinct_ngrams("p", "a b a b") == pytest.approx(2 / 3)
