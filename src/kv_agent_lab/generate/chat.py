"""Chat turns for a persona: topics, user messages (first turns and follow-ups that refer
back) and assistant replies (plans, snippets, tool calls, pasted material)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence

from .corpus_chat import (
    FOLLOWUP_OPENERS, GENERIC_REPLY_SENTENCES, REFERENCE_OPENERS, REPLY_CLOSERS, REPLY_OPENERS,
    SHARED_FOLLOWUPS, SHARED_USER_CONTEXT, USER_CLOSERS,
)
from .corpus_pasted import USER_ARTEFACT_LEADS
from .corpus_personas import PERSONA_DATA, PERSONAS, PERSONAS_BY_NAME
from .corpus_records import Persona
from .corpus_slots import SLOTS
from .deck import Deck
from .fit import TOLERANCE, Block, Budget, CountTokens, compose
from .pasted import artefact, snippet
from .slots import SLOT_RE, fill, slot_value
from .tools import resolve_tool, tool_call


def persona_by_name(name: str) -> Persona:
    try:
        return PERSONAS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown persona {name!r}; choose from {PERSONAS}") from None


def pick_topic(rng: random.Random, persona: str) -> str:
    """A concrete conversation topic for ``persona`` (pass it to later turns as
    previous_topic)."""
    return fill(rng, rng.choice(persona_by_name(persona).topics))


_DYNAMIC_SLOT_RES = {
    "date": r"\d{4}-\d{2}-\d{2}", "time": r"\d{2}:\d{2}", "num": r"\d+", "pct": r"\d+",
    "version": r"v\d+\.\d+\.\d+", "ticket": r"SUP-\d+", "order": r"ord_\d+",
    "incident": r"INC-\d+", "sha": r"[0-9a-f]{7}",
}


def _topic_regex(template: str) -> re.Pattern[str]:
    def slot(name: str) -> str:
        if name in SLOTS:
            values = sorted(SLOTS[name], key=len, reverse=True)
            return "(?:" + "|".join(re.escape(v) for v in values) + ")"
        return _DYNAMIC_SLOT_RES[name]

    parts = SLOT_RE.split(template)  # literal, slot, literal, ...
    return re.compile("".join(re.escape(p) if i % 2 == 0 else slot(p)
                              for i, p in enumerate(parts)))


_TOPIC_RES = tuple(_topic_regex(t) for p in PERSONA_DATA for t in p.topics)


def _topic_phrase(text: str) -> str:
    """``text`` itself when it is short; otherwise the topic a generated message was about
    (so callers may pass a whole earlier message as ``previous_topic``)."""
    text = text.strip()
    if len(text.split()) <= 14 and "\n" not in text:
        return text.rstrip(".?!")
    hits = [(m.start(), -len(m.group()), m.group())
            for pattern in _TOPIC_RES if (m := pattern.search(text))]
    return min(hits)[2] if hits else "what I asked earlier"


class Pools:
    """Per-persona decks, shared across the turns of one composition (e.g. all the worked
    examples of a system prompt) so sentences are not repeated verbatim."""

    def __init__(self, rng: random.Random, p: Persona, tools: Sequence[str] | None = None):
        self.tools = tuple(p.tools if tools is None else tools)  # what tool-call snippets may call
        self.body = Deck(rng, p.reply_body)
        self.context = Deck(rng, p.context + SHARED_USER_CONTEXT)
        self.followups = Deck(rng, p.followups + SHARED_FOLLOWUPS)
        self.requests = Deck(rng, p.requests)
        self.openers, self.closers = Deck(rng, REPLY_OPENERS), Deck(rng, REPLY_CLOSERS)
        self.user_closers = Deck(rng, USER_CLOSERS)
        self.followup_openers = Deck(rng, FOLLOWUP_OPENERS)


def _user_blocks(rng: random.Random, p: Persona, pools: Pools, target: int, count: CountTokens,
                 turn: int, previous_topic: str | None, topic: str | None) -> Iterator[Block]:
    b = Budget(target, count)
    if turn > 1 and previous_topic:
        opener = fill(rng, pools.followup_openers.draw(),
                      previous_topic=_topic_phrase(previous_topic))
        question = fill(rng, pools.followups.draw())
        if opener.endswith("—"):  # the question continues the opener's sentence
            question = question[0].lower() + question[1:]
        yield b.emit(opener + " " + question)
    else:
        yield b.emit(fill(rng, pools.requests.draw(), topic=topic or pick_topic(rng, p.name),
                          email=slot_value(rng, "email")))
    seen: list[str] = []
    # follow-ups carry less context
    for _ in range(rng.randint(1, 3) if turn <= 1 else rng.randint(0, 2)):
        if (ctx := pools.context.fresh(seen)) is not None:
            yield b.emit(" " + fill(rng, ctx), optional=True)
    while True:
        ctx, question = pools.context.fresh(seen), pools.followups.fresh(seen)
        # paste material when there is room; also once the sentences run out
        if b.left > 120 or ctx is None and question is None:
            lead = rng.choice(USER_ARTEFACT_LEADS)
            paste = artefact(rng, p, max(60, int(b.left * rng.uniform(0.5, 0.7))), count)
            yield b.emit("\n\n" + lead + "\n\n" + paste, atomic=True)
        sep = "\n\n"
        for sentence in (ctx, question):
            if sentence is not None:
                yield b.emit(sep + fill(rng, sentence), optional=True)
                sep = " "


def compose_user_message(rng: random.Random, p: Persona, pools: Pools, target: int,
                         count: CountTokens, turn: int, previous_topic: str | None,
                         topic: str | None, tol: float) -> str:
    closer = pools.user_closers.draw()
    c = count(closer)
    if target >= 6 * c and rng.random() < 0.35:
        body = target - c - 1  # the closer and its blank line take the rest
        blocks = _user_blocks(rng, p, pools, body, count, turn, previous_topic, topic)
        return compose(blocks, body, count, tol) + "\n\n" + closer
    blocks = _user_blocks(rng, p, pools, target, count, turn, previous_topic, topic)
    return compose(blocks, target, count, tol)


def user_message(rng: random.Random, persona: str, target_tokens: int, count_tokens: CountTokens,
                 turn: int = 1, previous_topic: str | None = None, topic: str | None = None, *,
                 tolerance: float = TOLERANCE) -> str:
    """A user chat message.  Turn 1 asks about ``topic`` (picked if None); later turns with
    ``previous_topic`` open by referring back to it (a topic from :func:`pick_topic`, or a
    whole earlier message, whose topic is recovered).  Large targets include pasted logs,
    code, tables or email text, as real users paste them."""
    p = persona_by_name(persona)
    return compose_user_message(rng, p, Pools(rng, p), target_tokens, count_tokens, turn,
                                previous_topic, topic, tolerance)


_REF_POOLS = ("service", "project", "file", "func", "test", "table", "metric", "customer",
              "research_area", "vendor")


def _references(user_text: str | None) -> dict[str, str]:
    """Slot values named in ``user_text`` (first hit per slot), so a reply talks about them."""
    found: dict[str, tuple[int, int, str]] = {}
    for kind in _REF_POOLS:
        for v in SLOTS[kind]:
            pos = user_text.find(v) if user_text else -1
            if pos >= 0 and (kind not in found or (pos, -len(v)) < found[kind][:2]):
                found[kind] = (pos, -len(v), v)
    return {k: v for k, (_, _, v) in sorted(found.items(), key=lambda kv: kv[1])}


def _reply_blocks(rng: random.Random, p: Persona, pools: Pools, target: int, count: CountTokens,
                  user_text: str | None) -> Iterator[Block]:
    b, refs = Budget(target, count), _references(user_text)

    seen: list[str] = []
    generic = Deck(rng, GENERIC_REPLY_SENTENCES)

    def fill_refs(template: str) -> str:
        return fill(rng, template, **refs)

    def body() -> str:  # persona sentences first, then generic ones, repeats only as a last resort
        return fill_refs(pools.body.fresh(seen) or generic.fresh(seen) or pools.body.draw())

    first = pools.openers.draw()
    if refs and rng.random() < 0.7:
        kind, value = next(iter(refs.items()))
        ref = f"`{value}`" if kind in ("file", "func", "test", "table", "service") else value
        first = fill(rng, rng.choice(REFERENCE_OPENERS), ref=ref) + " " + first
    yield b.emit(first)
    for _ in range(rng.randint(1, 2)):
        yield b.emit(" " + body(), optional=True)
    extras = ["steps", "snippet", "tool", "artefact"]
    while True:
        # each extra at most once per reply, in random order; then pasted material only
        kind = extras.pop(rng.randrange(len(extras))) if extras else "artefact"
        if kind == "steps":  # a few steps of the persona's procedure, in their natural order
            picked = sorted(rng.sample(range(len(p.steps)),
                                       min(len(p.steps), rng.randint(3, 5))))
            lead = rng.choice(("Here's what I'd do:", "Next steps:", "Plan:"))
            for k, idx in enumerate(picked, 1):
                yield b.emit((f"\n\n{lead}\n\n" if k == 1 else "\n") + f"{k}. "
                             + fill_refs(p.steps[idx]))
        elif kind == "tool" and pools.tools and rng.random() < 0.6:
            yield b.emit("\n\n" + tool_call(rng, p, pools.tools), atomic=True)
        elif (kind == "snippet" and b.left > 60
              and (s := snippet(rng, p, min(b.left // 2, 400), count))):
            yield b.emit("\n\n" + s, atomic=True)
        elif kind == "artefact" and (b.left > 300 or len(seen) >= len(p.reply_body)):
            paste = artefact(rng, p, max(60, int(b.left * 0.5)), count, reply=True)
            yield b.emit("\n\n" + paste, atomic=True)
        yield b.emit("\n\n" + body(), optional=True)
        yield b.emit(" " + body(), optional=True)


def compose_reply(rng: random.Random, p: Persona, pools: Pools, target: int, count: CountTokens,
                  user_text: str | None, tol: float) -> str:
    closer = pools.closers.draw()
    c = count(closer)
    if target >= 6 * c and rng.random() < 0.6:
        body = target - c - 1  # the closer and its blank line take the rest
        blocks = _reply_blocks(rng, p, pools, body, count, user_text)
        return compose(blocks, body, count, tol) + "\n\n" + closer
    return compose(_reply_blocks(rng, p, pools, target, count, user_text), target, count, tol)


def assistant_reply(rng: random.Random, persona: str, target_tokens: int,
                    count_tokens: CountTokens, user_text: str | None = None, *,
                    tool_names: Sequence[str] | None = None,
                    tolerance: float = TOLERANCE) -> str:
    """A plausible assistant answer; may contain a numbered plan, a code/query block or a
    ``<tool_call>`` JSON snippet (calling one of ``tool_names``, default: the persona's tools;
    ``[]`` for none).  Refers to entities named in ``user_text`` when it finds them."""
    p = persona_by_name(persona)
    if tool_names is not None:
        for n in tool_names:
            resolve_tool(n)
    return compose_reply(rng, p, Pools(rng, p, tool_names), target_tokens, count_tokens,
                         user_text, tolerance)
