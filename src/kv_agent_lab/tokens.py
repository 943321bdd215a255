"""Token sources: turn prompt text and chat messages into the token ids a vLLM server would see.

Prefix caching works on token ids, not text: vLLM hashes each full block of ``block_size``
prompt ids chained with its parent block's hash, so two requests share cached KV exactly as far
as their leading *ids* agree, in whole blocks.  Estimates are only as faithful as these ids.

How vLLM's OpenAI server tokenizes ``/v1/chat/completions`` (``OpenAIServingChat``):

1. The messages are rendered to ONE string by the model's Hugging Face Jinja chat template
   (``tokenizer.apply_chat_template(..., tokenize=False)``), with ``add_generation_prompt=True``,
   the request's ``tools`` and ``chat_template_kwargs``, and the tokenizer's special-token strings
   (``bos_token``, ``eos_token``...) as template variables.  ``--chat-template`` overrides it.
2. That string is tokenized as a whole with ``add_special_tokens=False`` (the request field's
   default for chat): the template already wrote any BOS, so none is added again.  Special-token
   strings inside the text (``<|im_start|>``) still become their single ids, since the tokenizer
   splits on added tokens before BPE.

So: always tokenize the *rendered* string, never concatenate ids of separately tokenized parts
(BPE merges across part boundaries); a shared system prompt gives shared leading ids only up to
where the renders first differ.  Sources (`load_token_source` picks one from a spec string):

* `ApproxTokenizer` (default, ``None``/``"approx"``): no files, deterministic, fast; Qwen2-style
  pre-tokenization and a length rule calibrated against Qwen2/2.5's vocabulary (docs/tokens.md),
  with the built-in ChatML template.  Ids are stable hashes of piece text.
* `HFTokenizer` (a path): exact ids from a ``tokenizer.json`` or a model directory (with its
  ``tokenizer_config.json`` / ``chat_template.jinja``) through the ``tokenizers`` library.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
import zlib
from abc import ABC, abstractmethod
from datetime import datetime
from hashlib import blake2b
from itertools import chain
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import jinja2.ext
from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

Messages = Iterable[Mapping[str, Any]]

ORDINARY_VOCAB = 151_643  # Qwen2's byte-level BPE vocabulary; approximate ids fall in [0, this)
# Qwen2.5's added tokens, in id order from ORDINARY_VOCAB: the approximate tokenizer gives them
# the same ids as the real one, so templates and traces that mention them line up.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
)
SPECIAL_IDS: dict[str, int] = {t: ORDINARY_VOCAB + i for i, t in enumerate(SPECIAL_TOKENS)}

CHATML_TEMPLATE = (  # refuses tools: their rendering is model-specific, so silence would lie
    "{% if tools %}{{ raise_exception('the built-in ChatML template does not render tools') }}"
    "{% endif %}{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    "(message['content'] or '') + '<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None,
            separators: Any = None, sort_keys: bool = False) -> str:
    # transformers overrides Jinja's HTML-escaping tojson with plain json.dumps; templates
    # that serialize tool schemas depend on it, so renders must use the same.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent,
                      separators=separators, sort_keys=sort_keys)


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _strftime_now(fmt: str) -> str:
    # Llama 3.2+ templates print today's date; the server does the same, so renders do too.
    return datetime.now().strftime(fmt)


def _template_text(spec: str) -> str:
    """A template given as text or as a file path, told apart as vLLM's --chat-template does:
    text holding any of ``{}`` or a newline is the template itself, anything else a file."""
    if any(c in spec for c in "{}\n"):
        return spec
    try:
        return Path(spec).read_text("utf-8")
    except OSError as exc:
        raise ValueError(f"chat template {spec!r} looks like a file path but cannot be read: "
                         f"{exc.strerror}") from exc


class ChatTemplate:
    """A Hugging Face chat template, rendered as transformers' ``apply_chat_template`` does.

    Invariants: same environment options as transformers (sandboxed, ``trim_blocks``,
    ``lstrip_blocks``, ``loopcontrols``, ``raise_exception``/``strftime_now`` globals, json.dumps
    ``tojson``); ``special_tokens`` (``bos_token``...) are template variables; rendering is pure
    except for ``strftime_now``.
    """

    def __init__(self, source: str, special_tokens: Mapping[str, Any] | None = None) -> None:
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                            extensions=[jinja2.ext.loopcontrols])
        env.filters["tojson"] = _tojson
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = _strftime_now
        self.source = source
        self.special_tokens = dict(special_tokens or {})
        self._template = env.from_string(source)

    @classmethod
    def chatml(cls) -> ChatTemplate:
        """The built-in ChatML template (Qwen's format, without Qwen's default system prompt)."""
        return cls(CHATML_TEMPLATE, {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"})

    def render(self, messages: Messages, add_generation_prompt: bool = True,
               tools: list[dict] | None = None, **kwargs: Any) -> str:
        """Render OpenAI-style messages (``role``/``content``) to the prompt string."""
        context = {**self.special_tokens, **kwargs}
        return self._template.render(messages=[dict(m) for m in messages], tools=tools,
                                     add_generation_prompt=add_generation_prompt, **context)


class TokenSource(ABC):
    """Text and chat messages to token ids.  Invariants: ``encode`` is a pure function of the
    text; ``encode_chat(m) == encode(render_chat(m))``; ``count*`` equal ``len(encode*)``."""

    name: str
    chat_template: ChatTemplate | None

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, adding no BOS/EOS (special-token strings in it still count)."""

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def render_chat(self, messages: Messages, add_generation_prompt: bool = True,
                    **kwargs: Any) -> str:
        """The prompt string vLLM would tokenize; ``kwargs`` go to the template (``tools``...)."""
        if self.chat_template is None:
            raise ValueError(f"token source {self.name!r} has no chat template; give one "
                             "(as vLLM's --chat-template would)")
        return self.chat_template.render(messages, add_generation_prompt, **kwargs)

    def encode_chat(self, messages: Messages, add_generation_prompt: bool = True,
                    **kwargs: Any) -> list[int]:
        return self.encode(self.render_chat(messages, add_generation_prompt, **kwargs))

    def count_chat(self, messages: Messages, add_generation_prompt: bool = True,
                   **kwargs: Any) -> int:
        return self.count(self.render_chat(messages, add_generation_prompt, **kwargs))


# Qwen2's pre-tokenizer regex, translated to stdlib `re` (the `regex` module is not a project
# dependency): \p{L} ~ [^\W\d_] (word chars minus digits and "_"), \p{N} ~ \d, and
# [^\s\p{L}\p{N}] ~ [^\s\w] plus "_" (written as two branches: faster in `re`).  Pre-tokens
# never span these boundaries, so an edit changes only the pre-tokens it touches (plus at most a
# neighbour that a space joins or leaves).
_PRETOKEN_RE = re.compile(
    r"'(?i:s|t|re|ve|m|ll|d)|[^\r\n\w]?[^\W\d_]+|_[^\W\d_]+|\d| ?(?:[^\s\w]++|_++)++[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+")
# The same regex for pure-ASCII text (str.isascii() is O(1)): plain classes instead of
# alternations make `re` twice as fast, and on ASCII input both give identical pre-tokens.
_ASCII_PRETOKEN_RE = re.compile(
    r"'(?i:s|t|re|ve|m|ll|d)|[^\r\nA-Za-z0-9]?[A-Za-z]+|[0-9]| ?[^\sA-Za-z0-9]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+")
_SPECIAL_RE = re.compile("(" + "|".join(map(re.escape, SPECIAL_TOKENS)) + ")")
# camelCase humps: BPE vocabularies hold "JSON", "Decode", "Error", rarely "JSONDecodeError".
_HUMP_RE = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
# A punctuation cluster as runs of 3+ equal characters and stretches without such runs.
_PUNCT_SEGMENT_RE = re.compile(r"(.)\1{2,}|(?:(?!(.)\2\2).)+", re.DOTALL)
_CONTRACTIONS = frozenset(("'s", "'t", "'re", "'ve", "'m", "'ll", "'d"))
# Calibration against Qwen2.5 (docs/tokens.md): a letter hump of n letters costs
# base + slope * max(0, n - free) tokens, by what precedes it (space / nothing / other char)
# and by case.  Big vocabularies hold most space-led lowercase words whole.
_LOWER = {" ": (1.0, 6, 0.05), "": (1.0, 4, 0.11), "x": (1.05, 3, 0.11)}
_UPPER = {" ": (1.0, 3, 0.22), "": (1.0, 2, 0.3), "x": (1.1, 2, 0.3)}
_PUNCT = (1.0, 1.0, 1.0, 1.2, 1.8)  # tokens by punctuation-run length 0..4, then +0.45/char
_CACHE_LIMIT = 1 << 18  # ~60 MB at most; a megabyte of text has ~15k distinct pre-tokens


def _piece_id(piece: str) -> int:
    # blake2b, not hash(): ids must agree across processes, machines and Python versions.
    digest = blake2b(piece.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % ORDINARY_VOCAB


def _split(text: str, expected: float) -> list[str]:
    """Cut ``text`` into int(expected) near-equal pieces, or one more when a hash of the text falls
    below the fractional part: the same text always splits alike, and totals match on average."""
    whole = int(expected)
    frac = expected - whole
    if frac and zlib.crc32(text.encode("utf-8", "surrogatepass")) < frac * 2**32:
        whole += 1
    k = max(1, min(whole, len(text)))
    return [text[len(text) * i // k: len(text) * (i + 1) // k] for i in range(k)]


def _letters_cost(hump: str, lead: str) -> float:
    if not hump.isascii():
        # CJK is ~1.5 chars per token in Qwen's vocabulary; other scripts ~3 chars per token.
        cjk = sum(ch >= "\u2e80" for ch in hump)
        return max(1.0, cjk / 1.5 + (len(hump) - cjk) / 3.0)
    base, free, slope = (_UPPER if len(hump) > 1 and hump.isupper() else _LOWER)[lead]
    return base + slope * max(0, len(hump) - free)


def _pieces(pre: str) -> list[str]:
    """The approximate BPE pieces of one pre-token (they concatenate back to ``pre``)."""
    if len(pre) == 1 or pre.lower() in _CONTRACTIONS:  # digits, lone chars: always one token
        return [pre]
    if pre.isspace():
        return _split(pre, -(-len(pre) // 64))  # whitespace runs are single tokens up to ~64
    if pre[-1].isalpha():
        lead = "" if pre[0].isalpha() else pre[0]
        body = pre[len(lead):]
        humps = _HUMP_RE.findall(body) if body.isascii() else [body]
        out = _split(lead + humps[0], _letters_cost(humps[0], lead if lead in ("", " ") else "x"))
        for hump in humps[1:]:
            out += _split(hump, _letters_cost(hump, ""))
        return out
    return _punct_pieces(pre)


def _punct_pieces(pre: str) -> list[str]:
    # Runs of one repeated character ("-----", "====") are in the vocabulary up to dozens of
    # characters (ASCII tables, rules); other punctuation clusters merge only up to ~3 chars.
    lead = " " if pre[0] == " " else ""
    core = pre[len(lead):].rstrip("\r\n")
    segments = [m.group() for m in _PUNCT_SEGMENT_RE.finditer(core)]
    costs = [-(-len(g) // 48) if g[0] * 3 == g[:3] else _punct_cost(g) for g in segments]
    segments[0] = lead + segments[0]
    segments[-1] += pre[len(lead) + len(core):]  # trailing newlines ride on the last piece
    return [piece for text, cost in zip(segments, costs) for piece in _split(text, cost)]


def _punct_cost(text: str) -> float:
    n = len(text)
    cost = _PUNCT[n] if n < len(_PUNCT) else _PUNCT[-1] + 0.45 * (n - len(_PUNCT) + 1)
    # Emoji and dingbats (from U+2700) are rarely whole tokens: byte-level BPE spends 2-3 each.
    return cost + sum(len(ch.encode("utf-8", "surrogatepass")) - 1.5
                      for ch in text if ch >= "\u2700")


class _PieceCache(dict):
    """pre-token -> tuple of ids; a dict with ``__missing__`` so lookups stay in C on hits."""

    def __missing__(self, pre: str) -> tuple[int, ...]:
        if len(self) >= _CACHE_LIMIT:
            self.clear()  # bounded memory; entries are pure functions of the key
        ids = self[pre] = tuple(map(_piece_id, _pieces(pre)))
        return ids


class ApproxTokenizer(TokenSource):
    """Approximate Qwen2-style BPE, needing no files.

    Invariants: ids are a pure function of the text (no process, platform or version state);
    pre-tokens are cut by Qwen2's regex and pieces never cross them, so text shared at the start
    gives shared leading ids up to the pre-token before the first difference; `SPECIAL_TOKENS`
    are one id each (``ORDINARY_VOCAB + i``), every other id is below ``ORDINARY_VOCAB``.  Text is
    NFC-normalized first, as Qwen's tokenizer does.
    """

    def __init__(self, chat_template: ChatTemplate | str | None = None) -> None:
        self.name = "approx"
        if isinstance(chat_template, str):
            chat_template = ChatTemplate(_template_text(chat_template))
        self.chat_template = chat_template or ChatTemplate.chatml()
        self._cache = _PieceCache()

    def _id_runs(self, text: str) -> Iterator[tuple[int, ...]]:
        """One id tuple per pre-token or special token, in text order."""
        if not unicodedata.is_normalized("NFC", text):
            text = unicodedata.normalize("NFC", text)
        # split() keeps the captured special tokens, at odd positions.
        for i, chunk in enumerate(_SPECIAL_RE.split(text) if "<" in text else (text,)):
            if i % 2:
                yield (SPECIAL_IDS[chunk],)
            else:
                regex = _ASCII_PRETOKEN_RE if chunk.isascii() else _PRETOKEN_RE
                yield from map(self._cache.__getitem__, regex.findall(chunk))

    def encode(self, text: str) -> list[int]:
        return list(chain.from_iterable(self._id_runs(text)))

    def count(self, text: str) -> int:
        return sum(map(len, self._id_runs(text)))


def _token_text(value: Any) -> Any:
    # tokenizer_config.json stores special tokens as strings or as AddedToken dicts.
    return value.get("content") if isinstance(value, dict) else value


class HFTokenizer(TokenSource):
    """Exact ids from a Hugging Face ``tokenizer.json`` (via the ``tokenizers`` library).

    ``path`` is a tokenizer.json file or a model directory holding one.  The chat template comes
    from, first to last: the ``chat_template`` argument (template text or a file path, like
    vLLM's --chat-template), ``chat_template.jinja``, ``chat_template.json``, then
    ``tokenizer_config.json``'s ``chat_template`` (a string, or named templates: "default").
    Invariant: ``encode`` never adds BOS/EOS (vLLM's chat default, add_special_tokens=False).
    """

    def __init__(self, path: str | os.PathLike[str], chat_template: str | None = None) -> None:
        from tokenizers import Tokenizer  # deferred: the approximate source needs no library

        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"tokenizer path {str(path)!r} does not exist")
        model_dir, tok_file = (p, p / "tokenizer.json") if p.is_dir() else (p.parent, p)
        if not tok_file.is_file():
            raise FileNotFoundError(f"tokenizer path {str(path)!r} holds no tokenizer.json")
        self.name = f"hf:{p}"
        self.path = p
        self._tok = Tokenizer.from_file(str(tok_file))
        config_file = model_dir / "tokenizer_config.json"
        config = json.loads(config_file.read_text("utf-8")) if config_file.is_file() else {}
        special = {k: _token_text(v) for k, v in config.items()
                   if k.endswith("_token") and isinstance(_token_text(v), str)}
        if isinstance(config.get("additional_special_tokens"), list):
            special["additional_special_tokens"] = [
                _token_text(t) for t in config["additional_special_tokens"]]
        self.special_tokens = special
        source = self._template_source(model_dir, config, chat_template)
        self.chat_template = ChatTemplate(source, special) if source else None

    @staticmethod
    def _template_source(model_dir: Path, config: dict, explicit: str | None) -> str | None:
        if explicit is not None:
            return _template_text(explicit)
        if (model_dir / "chat_template.jinja").is_file():
            return (model_dir / "chat_template.jinja").read_text("utf-8")
        template = config.get("chat_template")
        if (model_dir / "chat_template.json").is_file():
            template = json.loads((model_dir / "chat_template.json").read_text("utf-8"))
            template = template.get("chat_template", template)
        if isinstance(template, list):  # named templates, as transformers stores them
            named = {t["name"]: t["template"] for t in template}
            template = named.get("default")
        return template if isinstance(template, str) else None

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids


def load_token_source(spec: str | os.PathLike[str] | None = None,
                      chat_template: str | None = None) -> TokenSource:
    """``None`` or ``"approx"``: `ApproxTokenizer`; anything else is a path for `HFTokenizer`
    (a tokenizer.json or a model directory).  ``chat_template`` overrides the source's template.
    Raises FileNotFoundError naming the path when it is missing or holds no tokenizer.json."""
    if spec is None or str(spec) in ("", "approx"):
        return ApproxTokenizer(chat_template)
    return HFTokenizer(spec, chat_template)
