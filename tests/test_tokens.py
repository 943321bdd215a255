"""Token sources: determinism, prefix sharing, special tokens, exact HF loading, chat rendering."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from jinja2.exceptions import TemplateError

from kv_agent_lab import tokens as T
from kv_agent_lab.tokens import (
    ORDINARY_VOCAB, SPECIAL_IDS, SPECIAL_TOKENS, ApproxTokenizer, ChatTemplate, HFTokenizer,
    TokenSource, load_token_source,
)

SRC = Path(__file__).resolve().parents[1] / "src"
MIXED = (
    "You are a helpful assistant. Don't guess; it's fine to say \"I don't know\".\n\n"
    "def getUserName(user_id: int) -> str:\n    return DB.lookup(user_id)['name']  # TODO\n"
    '{"type": "function", "function": {"name": "get_weather", "parameters": {}}}\n'
    "+----------+-------+\n| Café ünïcode | 東京 2024-11-28 ✅ 🚀 |\n\t\r\n   trailing   \n"
)
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
    "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
MESSAGES = [{"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "What is a KV cache?"}]
RENDERED = ("<|im_start|>system\nYou are a terse assistant.<|im_end|>\n"
            "<|im_start|>user\nWhat is a KV cache?<|im_end|>\n<|im_start|>assistant\n")


# --- ApproxTokenizer -------------------------------------------------------------------------

def test_approx_is_deterministic_across_instances() -> None:
    a, b = ApproxTokenizer(), ApproxTokenizer()
    assert a.encode(MIXED) == b.encode(MIXED) == a.encode(MIXED)
    assert a.count(MIXED) == len(a.encode(MIXED)) > 0
    assert a.encode("Cafe\u0301") == a.encode("Caf\u00e9")  # NFC first, as Qwen does
    assert a.encode("") == [] and a.count("") == 0


def test_approx_ids_are_pinned() -> None:
    # Ids are a contract (stored traces and block hashes use them): blake2b of the piece text.
    assert ApproxTokenizer().encode("Hello, world!") == [47008, 25423, 101772, 57544]
    assert ApproxTokenizer().count("The quick brown fox jumps over the lazy dog.") == 10


def test_approx_is_deterministic_across_processes() -> None:
    code = ("import json, sys; from kv_agent_lab.tokens import ApproxTokenizer; "
            "print(json.dumps(ApproxTokenizer().encode(sys.stdin.read())))")
    env = {**os.environ, "PYTHONPATH": str(SRC), "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], input=MIXED, capture_output=True,
                         text=True, env=env, check=True, encoding="utf-8")
    assert json.loads(out.stdout) == ApproxTokenizer().encode(MIXED)


def test_shared_leading_text_gives_shared_leading_ids() -> None:
    tok = ApproxTokenizer()
    shared = MIXED * 3 + "Shared instructions end here.\n\n"
    base = tok.encode(shared)
    for tail in ("Question one: what is 2+2?", "Another, quite different request."):
        assert tok.encode(shared + tail)[: len(base)] == base
    # Without a clean boundary only the last pre-token may differ.
    a, b = tok.encode(shared + "alpha"), tok.encode(shared + "beta")
    common = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    assert common >= len(base)


def test_a_local_edit_changes_ids_locally() -> None:
    tok = ApproxTokenizer()
    words = [f"word{i} sentence number {i} about caching." for i in range(300)]
    a = tok.encode(" ".join(words))
    words[150] = "word150 sentence NUMBER 150 about caching."
    b = tok.encode(" ".join(words))
    prefix = next(i for i, (x, y) in enumerate(zip(a, b)) if x != y)
    suffix = next(i for i, (x, y) in enumerate(zip(reversed(a), reversed(b))) if x != y)
    assert len(a) - prefix - suffix <= 3 and len(b) - prefix - suffix <= 3


def test_special_tokens_are_single_ids_at_the_top() -> None:
    tok = ApproxTokenizer()
    for i, special in enumerate(SPECIAL_TOKENS):
        assert tok.encode(special) == [ORDINARY_VOCAB + i] == [SPECIAL_IDS[special]]
    ids = tok.encode("<|im_start|>user\nhi there<|im_end|>\n")
    assert ids[0] == SPECIAL_IDS["<|im_start|>"] and ids[-2] == SPECIAL_IDS["<|im_end|>"]
    assert all(0 <= i < ORDINARY_VOCAB for i in tok.encode(MIXED * 5))
    assert SPECIAL_IDS["<|endoftext|>"] == 151_643  # Qwen2's id, so traces line up


def test_pieces_cover_every_pre_token_exactly() -> None:
    for pre in T._PRETOKEN_RE.findall(MIXED * 2 + "x" * 300 + "=" * 100 + " " * 130):
        pieces = T._pieces(pre)
        assert "".join(pieces) == pre and all(pieces)


def test_ascii_fast_path_matches_general_regex() -> None:
    text = MIXED.encode("ascii", "ignore").decode() + "_x __init__ a_b 'S 'LL x'\x1c\x1f y"
    assert T._ASCII_PRETOKEN_RE.findall(text) == T._PRETOKEN_RE.findall(text)


def test_pre_tokens_match_qwen2_regex() -> None:
    regex = pytest.importorskip("regex")  # only where the `regex` module happens to exist
    qwen = regex.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                         r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
    assert T._PRETOKEN_RE.findall(MIXED * 2) == qwen.findall(MIXED * 2)


def test_approx_chat_uses_builtin_chatml() -> None:
    tok = ApproxTokenizer()
    assert tok.render_chat(MESSAGES) == RENDERED
    assert tok.encode_chat(MESSAGES) == tok.encode(RENDERED)
    assert tok.count_chat(MESSAGES) == len(tok.encode(RENDERED))
    assert tok.render_chat(MESSAGES, add_generation_prompt=False) == RENDERED.rsplit(
        "<|im_start|>", 1)[0]
    # A conversation that grows keeps every earlier id: the whole point of prefix caching.
    longer = MESSAGES + [{"role": "assistant", "content": "A store of attention keys."},
                         {"role": "user", "content": "Thanks."}]
    first = tok.encode_chat(MESSAGES, add_generation_prompt=False)
    assert tok.encode_chat(longer)[: len(first)] == first


# --- ChatTemplate ----------------------------------------------------------------------------

def test_chat_template_environment_matches_transformers() -> None:
    tpl = ChatTemplate("{% if messages|length > 1 %}{{ raise_exception('one message only') }}"
                       "{% endif %}{{ bos_token }}{{ messages[0] | tojson }}",
                       {"bos_token": "<s>"})
    assert tpl.render([{"role": "user", "content": "a<b & é"}]) == (
        '<s>{"role": "user", "content": "a<b & é"}')  # json.dumps, no HTML escaping
    with pytest.raises(TemplateError, match="one message only"):
        tpl.render(MESSAGES)
    blocks = ChatTemplate("  {% for m in messages %}\n{{ m.role }}\n  {% endfor %}\n")
    assert blocks.render(MESSAGES, add_generation_prompt=False) == "system\nuser\n"
    with pytest.raises(TemplateError, match="tools"):
        ChatTemplate.chatml().render(MESSAGES, tools=[{"type": "function"}])


# --- HFTokenizer -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small byte-level BPE trained here, with Qwen's pre-tokenizer and special tokens."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers import processors, trainers

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    split = pre_tokenizers.Split(Regex(
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
        r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"), behavior="isolated")
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [split, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([MIXED, RENDERED] * 50, trainer)
    # A BOS post-processor: vLLM's chat path must not apply it (add_special_tokens=False).
    tok.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", special_tokens=[("<|endoftext|>", 0)])
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return path


def make_model_dir(root: Path, tokenizer_json: Path, **config: object) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "tokenizer.json").write_bytes(tokenizer_json.read_bytes())
    (root / "tokenizer_config.json").write_text(json.dumps(config), "utf-8")
    return root


def test_hf_encode_chat_equals_encoding_the_rendered_chatml(
        tmp_path: Path, trained_tokenizer_json: Path) -> None:
    model = make_model_dir(tmp_path / "m", trained_tokenizer_json, chat_template=CHATML,
                           eos_token={"content": "<|im_end|>", "special": True},
                           pad_token="<|endoftext|>", bos_token=None)
    tok = load_token_source(str(model))
    assert isinstance(tok, HFTokenizer) and isinstance(tok, TokenSource)
    assert tok.render_chat(MESSAGES) == RENDERED
    ids = tok.encode_chat(MESSAGES)
    assert ids == tok.encode(RENDERED) == tok._tok.encode(RENDERED, add_special_tokens=False).ids
    assert ids[0] == 1 and ids.count(1) == 3 and ids.count(2) == 2  # <|im_start|>, <|im_end|>
    assert 0 not in ids  # no BOS from the post-processor
    assert tok.count_chat(MESSAGES) == len(ids)
    assert tok.special_tokens["eos_token"] == "<|im_end|>"
    # A bare tokenizer.json path reads the config beside it.
    assert load_token_source(model / "tokenizer.json").encode_chat(MESSAGES) == ids


def test_hf_template_sources_in_precedence_order(
        tmp_path: Path, trained_tokenizer_json: Path) -> None:
    named = [{"name": "default", "template": "D{{ bos_token }}"}, {"name": "rag", "template": "R"}]
    model = make_model_dir(tmp_path / "m", trained_tokenizer_json, chat_template=named,
                           bos_token="<|endoftext|>")
    assert HFTokenizer(model).render_chat(MESSAGES) == "D<|endoftext|>"
    (model / "chat_template.jinja").write_text("J{{ messages|length }}", "utf-8")
    assert HFTokenizer(model).render_chat(MESSAGES) == "J2"
    override = tmp_path / "override.jinja"
    override.write_text("F", "utf-8")
    assert HFTokenizer(model, chat_template=str(override)).render_chat(MESSAGES) == "F"
    assert load_token_source(model, chat_template="S{{ 1 + 1 }}").render_chat(MESSAGES) == "S2"


def test_hf_without_chat_template_refuses_chat(
        tmp_path: Path, trained_tokenizer_json: Path) -> None:
    tok = load_token_source(trained_tokenizer_json)
    assert tok.encode("hello") == tok._tok.encode("hello", add_special_tokens=False).ids
    with pytest.raises(ValueError, match="no chat template"):
        tok.encode_chat(MESSAGES)


def test_load_token_source_defaults_and_errors(tmp_path: Path) -> None:
    assert isinstance(load_token_source(None), ApproxTokenizer)
    assert load_token_source("approx").name == "approx"
    missing = tmp_path / "no-such-model"
    with pytest.raises(FileNotFoundError, match="no-such-model.*does not exist"):
        load_token_source(str(missing))
    empty = tmp_path / "empty-model"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="empty-model.*no tokenizer.json"):
        load_token_source(str(empty))
    with pytest.raises(ValueError, match="missing.jinja"):
        load_token_source(None, chat_template=str(tmp_path / "missing.jinja"))
