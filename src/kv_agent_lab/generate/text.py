"""Compose realistic agent-workload text to a token budget.

Every function takes a ``random.Random`` (all randomness comes from it, so the same
seed gives byte-identical text), a target size in tokens and ``count_tokens``, the
caller's token counter.  Text is built from *blocks* (paragraphs, list items,
sentences, atomic code/tool-call blocks) drawn from :mod:`.corpus` and
:mod:`.corpus_tools`; blocks are taken greedily while they fit, the block that
overshoots is trimmed at a sentence (or, as a last resort, word) boundary, and the
result is re-counted exactly and re-cut with a rescaled budget when the per-block
estimate was off.  Results land within ``TOLERANCE`` of the target, or slightly
over when the smallest possible unit (one tool schema) is larger than the target.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from . import corpus as C
from .corpus_tools import EXAMPLE_ARG_SLOTS, EXAMPLE_ARG_VALUES, TOOL_NAMESPACES, TOOLS_BY_NAME, TOOLS_POSTAMBLE, TOOLS_PREAMBLE, Tool
from .corpus_tools import TOOL_NAMES as _BASE_TOOL_NAMES

CountTokens = Callable[[str], int]
TOLERANCE = 0.10
_LOOSE = 0.5  # nested examples: any length near the random target, whole sentences only

PERSONAS: tuple[str, ...] = tuple(p.name for p in C.PERSONA_DATA)
ROLES: tuple[str, ...] = tuple(r.name for r in C.ROLE_DATA)
TOOL_NAMES: tuple[str, ...] = _BASE_TOOL_NAMES

__all__ = [
    "PERSONAS", "ROLES", "TOOL_NAMES", "TOLERANCE", "CountTokens", "aggregation_request",
    "assistant_reply", "pick_tools", "pick_topic", "render_tools", "role_template", "subtask_assignment",
    "system_prompt", "task_description", "task_title", "title_of", "tool_schema", "user_message",
]

# --- slots ---------------------------------------------------------------------------
_SLOT_RE = re.compile(r"\{([a-z_]+)\}")
_CODE_SLOT_RE = re.compile(r"<<([a-z_]+)>>")


def _slot_value(rng: random.Random, name: str) -> str:
    if name in C.SLOTS:
        return rng.choice(C.SLOTS[name])
    if name == "date":
        return f"{rng.randint(2023, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if name == "time":
        return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}"
    if name == "num":
        return str(rng.choice((3, 4, 6, 8, 12, 15, 20, 25, 40, 60, 120, 250, 400)))
    if name == "pct":
        return str(rng.randint(3, 38))
    if name == "version":
        return f"v{rng.randint(1, 4)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}"
    if name == "ticket":
        return f"SUP-{rng.randint(10000, 99999)}"
    if name == "order":
        return f"ord_{rng.randint(10000, 99999)}"
    if name == "incident":
        return f"INC-{rng.randint(1000, 4999)}"
    if name == "sha":
        return f"{rng.getrandbits(28):07x}"
    if name == "email":
        person = rng.choice(C.SLOTS["person"]).lower().replace("á", "a")
        return f"{person}@{rng.choice(C.CUSTOMER_DOMAINS)}"
    if name == "key":
        return rng.choice(("customer_id", "region", "plan", "currency", "account_id"))
    raise KeyError(f"unknown template slot {{{name}}}")


def _fill(rng: random.Random, template: str, pattern: re.Pattern[str] = _SLOT_RE, **fixed: str) -> str:
    """Fill ``{slot}`` placeholders; a slot repeated in one template gets one value."""
    memo: dict[str, str] = dict(fixed)

    def sub(m: re.Match[str]) -> str:
        if m[1] not in memo:
            memo[m[1]] = _slot_value(rng, m[1])
        return memo[m[1]]

    return pattern.sub(sub, template)


class _Deck:
    """Draw without replacement; reshuffle only when exhausted (avoids verbatim repeats)."""

    def __init__(self, rng: random.Random, items: Sequence[Any]):
        self._rng, self._items, self._pool, self._last = rng, list(items), [], None

    def draw(self) -> Any:
        if not self._pool:
            self._pool = list(self._items)
            self._rng.shuffle(self._pool)
            if len(self._pool) > 1 and self._pool[-1] == self._last:
                self._pool[0], self._pool[-1] = self._pool[-1], self._pool[0]  # no back-to-back repeat
        self._last = self._pool.pop()
        return self._last


def _fresh(deck: _Deck, seen: list[Any]) -> Any | None:
    """Draw an item not in ``seen`` (and record it), or None when the deck has none left."""
    for _ in range(len(deck._items)):
        item = deck.draw()
        if item not in seen:
            seen.append(item)
            return item
    return None


def _shuffled(rng: random.Random, items: Sequence[Any]) -> list[Any]:
    out = list(items)
    rng.shuffle(out)
    return out


# --- budgeted composition ------------------------------------------------------------------
@dataclass(frozen=True)
class _Block:
    text: str  # includes its leading separator ("\n\n", "\n- ", " ")
    atomic: bool = False  # code / tool-call blocks: never cut, may be skipped
    optional: bool = False  # a self-contained sentence or list item: may be skipped for a better fit


class _Stream:
    """Lazily materialised, cached block sequence with token counts."""

    def __init__(self, blocks: Iterator[_Block], count: CountTokens):
        self._blocks, self._count, self._cache = blocks, count, []

    def __getitem__(self, i: int) -> tuple[_Block, int]:
        while len(self._cache) <= i:
            b = next(self._blocks)
            self._cache.append((b, self._count(b.text)))
        return self._cache[i]


_PIECE_RE = re.compile(r"(?<=[.!?:])(?= )|(?=\n)")
_MARKER_RE = re.compile(r"\d+\.|[-*]|#+|\*\*\w+\*\*")
_FENCE_RE = re.compile(r"(\n*```.*?```|\n*<tool_call>.*?</tool_call>)", re.S)


def _pieces(text: str) -> list[str]:
    """Split at sentence ends and line starts, never inside fenced code or tool calls.
    A heading line or a lead-in ending in ':' stays glued to the piece that follows."""
    out: list[str] = []
    glue = False
    for seg in _FENCE_RE.split(text):
        for p in [seg] if _FENCE_RE.fullmatch(seg) else _PIECE_RE.split(seg):
            if not p:
                continue
            if out and glue:
                out[-1] += p
            else:
                out.append(p)
            bare = p.strip()
            glue = not bare or bare.endswith(":") or bare.startswith("#") or bool(_MARKER_RE.fullmatch(bare))
    return out


def _largest_fit(n: int, cost: Callable[[int], int], room: int) -> int:
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cost(mid) <= room:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _trim(text: str, room: int, count: CountTokens) -> tuple[str, str]:
    """(longest sentence-boundary prefix within room, word-boundary prefix within room)."""
    pieces = _pieces(text)
    k = _largest_fit(len(pieces) - 1, lambda m: count("".join(pieces[:m])), room)
    by_sentence = "".join(pieces[:k])
    rest = pieces[k] if k < len(pieces) else ""
    if "```" in rest or "<tool_call>" in rest:
        return by_sentence, by_sentence
    lead = rest[: len(rest) - len(rest.lstrip())]
    words = rest.split()
    m = _largest_fit(len(words), lambda j: count(by_sentence + lead + " ".join(words[:j]) + "."), room)
    if m < min(3, len(words)) + (1 if words and _MARKER_RE.fullmatch(words[0]) else 0):  # no one-word stubs
        return by_sentence, by_sentence
    tail = " ".join(words[:m]).rstrip(",;:—-–(")
    if tail and tail[-1] not in ".!?":
        tail += "."
    return by_sentence, by_sentence + lead + tail


def _take(stream: _Stream, budget: int, count: CountTokens, tol: float) -> str:
    """Greedy fill to ``budget`` tokens (per-block counts).  A block that overshoots is taken
    whole if that lands in the band, else cut at a sentence boundary; optional and atomic
    blocks may be skipped to find a later block that fits; a word-boundary cut is the last
    resort."""
    parts: list[str] = []
    total, i, skips = 0, 0, 0
    margin = tol * budget * 0.6  # aim inside the band: per-block counts are estimates
    fallback: tuple[int, str] | None = None  # best cut seen while skipping
    while True:
        block, c = stream[i]
        i += 1
        if total + c <= budget:
            parts.append(block.text)
            total += c
            fallback = None
            if total >= budget - margin / 4:
                return "".join(parts)
            continue
        room, head = budget - total, "".join(parts)
        if c - room <= margin:
            return head + block.text
        if room <= margin and head.strip():
            return head
        if not block.atomic:
            by_sentence, by_word = _trim(block.text, room, count)
            for cut in (by_sentence, by_word):
                if cut.strip():
                    dev = room - count(cut)
                    if cut is by_sentence and dev <= margin:
                        return head + cut
                    if fallback is None or dev < fallback[0]:
                        fallback = (dev, head + cut)
        if (block.atomic or block.optional) and skips < 6:
            skips += 1  # look for a later block that fits
            continue
        options = [(room, head)] if head.strip() else [(c - room, head + block.text)]
        if fallback is not None:
            options.append(fallback)
        return min(options, key=lambda o: o[0])[1]


def _compose(blocks: Iterator[_Block], target: int, count: CountTokens, tol: float = TOLERANCE) -> str:
    """Greedy fill, then exact re-count and re-cut with a rescaled budget (at most 4 passes)."""
    if target <= 0:
        return ""
    stream = _Stream(blocks, count)
    budget, best, best_n = target, "", -(10**9)
    for _ in range(4):
        text = _take(stream, budget, count, tol).strip()
        n = count(text)
        if abs(n - target) < abs(best_n - target):
            best, best_n = text, n
        if abs(n - target) <= tol * target * 0.6:
            break
        budget = max(1, round(budget * target / max(n, 1)))
    return best


# --- tools -------------------------------------------------------------------------------
def _resolve_tool(name: str) -> Tool:
    if name in TOOLS_BY_NAME:
        return TOOLS_BY_NAME[name]
    ns, sep, base = name.partition("__")
    if sep and ns in TOOL_NAMESPACES and base in TOOLS_BY_NAME:
        t = TOOLS_BY_NAME[base]
        return Tool(name, t.category, f"{t.description} Provided by the {ns} connector.", t.parameters)
    raise ValueError(f"unknown tool {name!r}; valid names are TOOL_NAMES or '<namespace>__<name>'")


def tool_schema(name: str) -> dict[str, Any]:
    """``{"name", "description", "parameters"}`` for a catalogue (or namespaced) tool."""
    return _resolve_tool(name).schema()


def _tool_json(name: str) -> str:
    return json.dumps({"type": "function", "function": tool_schema(name)}, indent=2, sort_keys=True, ensure_ascii=False)


def render_tools(tool_names: Sequence[str]) -> str:
    """The "# Tools" section (Qwen/Hermes style) for these tools, in the given order."""
    if not tool_names:
        return ""
    return TOOLS_PREAMBLE + "\n".join(_tool_json(n) for n in tool_names) + TOOLS_POSTAMBLE


def _namespaced(rng: random.Random) -> list[str]:
    return [f"{ns}__{t}" for ns in _shuffled(rng, TOOL_NAMESPACES) for t in _shuffled(rng, _BASE_TOOL_NAMES)]


def pick_tools(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct tool names in random order; beyond the catalogue, namespaced copies."""
    names = _shuffled(rng, _BASE_TOOL_NAMES)
    if n > len(names):
        names += _namespaced(rng)
    if n > len(names):
        raise ValueError(f"at most {len(names)} distinct tools are available, asked for {n}")
    return names[: max(0, n)]


def _select_tools(rng: random.Random, persona: C.Persona, tool_tokens: int, count: CountTokens) -> list[str]:
    """Tools relevant to the persona first, then others, then namespaced copies, until
    ``tool_tokens`` is reached; one swap or addition corrects a greedy miss."""
    preferred = _shuffled(rng, persona.tools)
    others = _shuffled(rng, [t for t in _BASE_TOOL_NAMES if t not in persona.tools])
    budget = tool_tokens - count(TOOLS_PREAMBLE + TOOLS_POSTAMBLE)
    costs: dict[str, int] = {}

    def cost(name: str) -> int:
        if name not in costs:
            costs[name] = count(_tool_json(name) + "\n")
        return costs[name]

    def candidates() -> Iterator[str]:
        yield from preferred + others
        yield from _namespaced(rng)

    chosen: list[str] = []
    total, misses = 0, 0
    for name in candidates():
        if total + cost(name) <= budget:
            chosen.append(name)
            total += cost(name)
            misses = 0
        else:
            misses += 1
        if total >= budget * (1 - TOLERANCE / 2) or misses > 20:
            break
    if not chosen:  # the smallest unit is one tool schema: slightly over
        return [min(preferred + others, key=lambda n: (cost(n), n))]
    if total >= budget * (1 - TOLERANCE / 2):
        return chosen
    spare = [n for n in preferred + others if n not in chosen]
    best = (budget - total, chosen)
    for new in spare:  # add one more (overshoot), or swap one chosen tool for another
        if abs(budget - total - cost(new)) < best[0]:
            best = (abs(budget - total - cost(new)), chosen + [new])
        for i, old in enumerate(chosen):
            if old in persona.tools and new not in persona.tools:
                continue  # never trade a persona tool for an unrelated one
            dev = abs(budget - total + cost(old) - cost(new))
            if dev < best[0]:
                best = (dev, chosen[:i] + [new] + chosen[i + 1:])
    return best[1]


# --- artefacts (pasted logs, code, tables, snippets) -------------------------------------
def _code_fill(rng: random.Random, template: str) -> str:
    extra = {"name": rng.choice(C.CODE_NAMES), "resource": rng.choice(C.CODE_RESOURCES)}
    return _fill(rng, template, _CODE_SLOT_RE, **extra)


def _sized_lines(make_line: Callable[[], str], size: int, count: CountTokens, cap: int = 400) -> list[str]:
    """Lines until about ``size`` tokens: a line that would overshoot more than it fills is dropped."""
    lines: list[str] = []
    total = 0
    while total < size and len(lines) < cap:
        line = make_line()
        c = count(line + "\n")
        if lines and total + c - size > size - total:
            break
        total += c
        lines.append(line)
    return lines


def _log_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    service, ms = rng.choice(C.SLOTS["service"]), rng.randint(0, 80_000_000)
    day = _slot_value(rng, "date")

    def line() -> str:
        nonlocal ms
        ms += rng.randint(1, 40_000)
        secs = ms // 1000
        level, msg, kv = rng.choice(C.LOG_MESSAGES)
        ts = f"{day}T{secs // 3600 % 24:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}.{ms % 1000:03d}Z"
        pod = f"{service}-{rng.getrandbits(20):05x}-{rng.getrandbits(16):04x}"
        return f'{ts} {level:<5} {service} pod={pod} trace={rng.getrandbits(32):08x} msg="{msg}" {_fill(rng, kv)}'

    return "```\n" + "\n".join(_sized_lines(line, size, count)) + "\n```"


def _code_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    """Source excerpts (at most one of each template), or a test-run log when more is needed."""
    if size > 700 and rng.random() < 0.5:
        return _test_run_artefact(rng, size, count)
    chunks: list[str] = []
    total = 0
    for template in _shuffled(rng, C.CODE_TEMPLATES):  # whole definitions that fit, at least one
        chunk = _code_fill(rng, template).rstrip("\n")
        c = count(chunk + "\n\n")
        if not chunks or total + c <= size:
            chunks.append(chunk)
            total += c
    return "```\n" + "\n\n".join(chunks) + "\n```"


def _test_run_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    total = rng.randint(150, 900)
    done = failed = 0

    def line() -> str:
        nonlocal done, failed
        done += 1
        name = f"tests/test_{rng.choice(C.TEST_MODULES)}.py::test_{rng.choice(C.TEST_VERBS)}_{rng.choice(C.TEST_OBJECTS)}"
        if rng.random() < 0.06:
            failed += 1
            return f"{name} FAILED [{min(99, 100 * done // total):3d}%]\nE   AssertionError: assert Decimal('{rng.randint(1, 999)}.{rng.randint(0, 99):02d}') == Decimal('{rng.randint(1, 999)}.00')"
        return f"{name} PASSED [{min(99, 100 * done // total):3d}%]"

    head = f"$ pytest -v tests/ -p no:cacheprovider\n============ test session starts ============\ncollected {total} items\n"
    body = "\n".join(_sized_lines(line, size - count(head) - 20, count))
    return f"```\n{head}{body}\n========= {failed} failed, {done - failed} passed in {rng.uniform(5, 90):.2f}s =========\n```"


def _table_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    week = rng.randint(1, 40)

    def row() -> str:
        nonlocal week
        week += 1
        users = rng.randint(800, 90000)
        orders = int(users * rng.uniform(0.01, 0.09))
        return f"| 2024-W{week % 52 + 1:02d} | {rng.choice(C.SLOTS['plan'])} | {rng.choice(('US', 'DE', 'GB', 'FR', 'BR', 'JP', 'IN'))} | {users:,} | {orders:,} | {100 * orders / users:.1f}% |"

    head = "| week | plan | country | users | orders | conversion |\n|---|---|---|---:|---:|---:|\n"
    return head + "\n".join(_sized_lines(row, size - count(head), count))


def _invoice_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    def row() -> str:
        amount = rng.choice((19, 49, 99, 249, 490, 1290)) * rng.randint(1, 12)
        status = rng.choice(("paid", "paid", "paid", "refunded", "failed", "pending"))
        return f"| {_slot_value(rng, 'date')} | INV-{rng.randint(100000, 999999)} | {_slot_value(rng, 'order')} | {amount:,}.00 | {rng.choice(('USD', 'EUR', 'GBP'))} | {status} |"

    head = "| date | invoice | order | amount | currency | status |\n|---|---|---|---:|---|---|\n"
    return head + "\n".join(_sized_lines(row, size - count(head), count))


def _quoted_artefact(rng: random.Random, p: C.Persona, size: int, count: CountTokens) -> str:
    """A quoted earlier email (support: explanations, then steps in order) or a draft excerpt."""
    if p.artefact == "email":
        who = f"On {_slot_value(rng, 'date')}, {rng.choice(p.organizations)} Support wrote:"
        pool = _shuffled(rng, p.reply_body)[: rng.randint(2, 4)] + list(p.steps)
    else:
        who, pool = "Current draft:", _shuffled(rng, p.reply_body + C.TASK_KINDS[2].background)
    lines = iter(pool)
    return who + "\n" + "\n".join(_sized_lines(lambda: "> " + _fill(rng, next(lines)), size, count, cap=len(pool)))


def _references_artefact(rng: random.Random, size: int, count: CountTokens) -> str:
    n = 0

    def ref() -> str:
        nonlocal n
        n += 1
        authors = ", ".join(rng.sample(C.REFERENCE_AUTHORS, 2))
        area = rng.choice(C.SLOTS["research_area"])
        kind = rng.choice(C.REFERENCE_KINDS)
        qualifier = rng.choice(C.REFERENCE_QUALIFIERS)
        venue = rng.choice(C.REFERENCE_VENUES)
        return f"[{n}] {authors} ({rng.randint(2019, 2025)}). {kind} {area}{qualifier}. {venue}. Accessed {_slot_value(rng, 'date')}."

    return "References:\n\n" + "\n".join(_sized_lines(ref, size, count))


def _artefact(rng: random.Random, p: C.Persona, size: int, count: CountTokens, reply: bool = False) -> str:
    """Pasted material sized to about ``size`` tokens: logs, code, tables, emails, references."""
    kind = p.artefact
    lead = rng.choice(C.REPLY_ARTEFACT_LEADS[kind]) + "\n\n" if reply else ""
    if kind == "log":
        return lead + _log_artefact(rng, size, count)
    if kind == "code":
        return lead + _code_artefact(rng, size, count)
    if kind == "table":
        return lead + _table_artefact(rng, size, count)
    if kind == "notes" and (reply or size > 300 or rng.random() < 0.5):
        refs = _references_artefact(rng, size, count)
        return lead + refs.split("\n\n", 1)[1] if reply else refs
    if kind == "email" and (reply or size > 300):
        return lead + _invoice_artefact(rng, size, count)
    return _quoted_artefact(rng, p, size, count)


def _snippet(rng: random.Random, persona: C.Persona, size: int, count: CountTokens) -> str | None:
    if persona.snippet == "python":
        return "Here is the change:\n\n" + _code_artefact(rng, size, count)
    if persona.snippet == "sql":
        return "This is the query I used:\n\n```sql\n" + _code_fill(rng, rng.choice(C.SQL_TEMPLATES)) + "\n```"
    if persona.snippet == "promql":
        return "You can check it yourself with:\n\n```\n" + _code_fill(rng, rng.choice(C.PROMQL_TEMPLATES)) + "\n```"
    return None


def _example_value(rng: random.Random, tool: str, key: str, spec: dict[str, Any], persona: C.Persona) -> Any:
    t, fmt = spec.get("type"), spec.get("format")
    if "enum" in spec:
        return rng.choice(spec["enum"])
    if t == "boolean":
        return not spec.get("default", False)
    if t in ("integer", "number"):
        if "default" in spec and rng.random() < 0.5:
            return spec["default"]
        lo = spec.get("minimum", spec.get("exclusiveMinimum", 0))
        hi = min(spec.get("maximum", lo + 500), lo + 500)
        if t == "integer":
            return rng.randint(int(lo) + ("exclusiveMinimum" in spec), int(hi))
        return round(rng.uniform(lo + (hi - lo) / 100, hi), 2)
    if t == "array":
        item = spec.get("items", {})
        return [_example_value(rng, tool, key.rstrip("s"), item, persona) for _ in range(rng.randint(1, 2))]
    if fmt == "email" or key in ("to", "cc", "attendee", "attendees"):
        return _slot_value(rng, "email")
    if fmt == "date-time" or key in ("start", "end"):
        return f"{_slot_value(rng, 'date')}T{_slot_value(rng, 'time')}:00Z"
    if fmt == "date" or key == "since":
        return _slot_value(rng, "date")
    if key in EXAMPLE_ARG_VALUES:
        return rng.choice(EXAMPLE_ARG_VALUES[key])
    if key in EXAMPLE_ARG_SLOTS:
        value = _slot_value(rng, EXAMPLE_ARG_SLOTS[key])
        return value.lower() if key in ("reviewer", "mention_user") else value
    if key == "query":
        if tool == "sql_query":
            return " ".join(_code_fill(rng, rng.choice(C.SQL_TEMPLATES)).split("\n")[1:])
        if tool == "get_metrics":
            return _code_fill(rng, C.PROMQL_TEMPLATES[rng.randint(0, 1)]).replace("\n", " ")
        if tool == "query_logs":
            return f'level:error AND msg:"{rng.choice(C.SLOTS["error"])}"'
        if tool == "search_code":
            return rng.choice(C.SLOTS["func"])
        return _fill(rng, rng.choice(persona.topics)).replace("`", "")
    if key in ("url", "source"):
        return f"https://docs.example.com/{rng.choice(C.SLOTS['project'])}/{rng.choice(C.CODE_RESOURCES)}"
    if key == "command":
        return f"pytest -x -q tests/ -k {rng.choice(C.SLOTS['test'])}"
    if key == "customer_id":
        return f"cus_{rng.getrandbits(40):010x}"
    if key == "channel":
        return f"#inc-{rng.choice(C.SLOTS['service'])}"
    if key == "title":
        return task_title(rng)[:72]
    if key == "head_branch":
        return f"fix/{rng.choice(C.SLOTS['func']).lower()}"
    if key == "patch":
        f = rng.choice(C.SLOTS["file"])
        return f"--- a/{f}\n+++ b/{f}\n@@ -41,3 +41,4 @@\n     total = compute(items)\n+    total = round(total, 2)\n     return total\n"
    return _fill(rng, rng.choice(persona.reply_body)).replace("`", "")


def _tool_call(rng: random.Random, persona: C.Persona, tools: Sequence[str]) -> str:
    name = rng.choice(tools)
    params = _resolve_tool(name).parameters
    props: dict[str, Any] = params["properties"]
    keys = list(params["required"]) + [k for k in props if k not in params["required"] and rng.random() < 0.3]
    args = {k: _example_value(rng, name.rpartition("__")[2], k, props[k], persona) for k in keys}
    call = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
    lead = rng.choice(("I'll check that first.", "Let me look that up.", f"I'll start with `{name}`.", "One moment while I verify this."))
    return f"{lead}\n\n<tool_call>\n{call}\n</tool_call>"


# --- personas, topics, chat turns ------------------------------------------------------------
def _persona(name: str) -> C.Persona:
    try:
        return C.PERSONAS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown persona {name!r}; choose from {PERSONAS}") from None


def pick_topic(rng: random.Random, persona: str) -> str:
    """A concrete conversation topic for ``persona`` (pass it to later turns as previous_topic)."""
    return _fill(rng, rng.choice(_persona(persona).topics))


_DYNAMIC_SLOT_RES = {
    "date": r"\d{4}-\d{2}-\d{2}", "time": r"\d{2}:\d{2}", "num": r"\d+", "pct": r"\d+", "version": r"v\d+\.\d+\.\d+",
    "ticket": r"SUP-\d+", "order": r"ord_\d+", "incident": r"INC-\d+", "sha": r"[0-9a-f]{7}",
}


def _topic_regex(template: str) -> re.Pattern[str]:
    def slot(name: str) -> str:
        if name in C.SLOTS:
            return "(?:" + "|".join(re.escape(v) for v in sorted(C.SLOTS[name], key=len, reverse=True)) + ")"
        return _DYNAMIC_SLOT_RES[name]

    parts = _SLOT_RE.split(template)  # literal, slot, literal, ...
    return re.compile("".join(re.escape(p) if i % 2 == 0 else slot(p) for i, p in enumerate(parts)))


_TOPIC_RES = tuple(_topic_regex(t) for p in C.PERSONA_DATA for t in p.topics)


def _topic_phrase(text: str) -> str:
    """``text`` itself when it is short; otherwise the topic a generated message was about
    (so callers may pass a whole earlier message as ``previous_topic``)."""
    text = text.strip()
    if len(text.split()) <= 14 and "\n" not in text:
        return text.rstrip(".?!")
    hits = [(m.start(), -len(m.group()), m.group()) for pattern in _TOPIC_RES if (m := pattern.search(text))]
    return min(hits)[2] if hits else "what I asked earlier"


class _Budget:
    """Lets a block generator size artefacts from what it has emitted so far."""

    def __init__(self, target: int, count: CountTokens):
        self.target, self.count, self.used = target, count, 0

    def emit(self, text: str, atomic: bool = False, optional: bool = False) -> _Block:
        self.used += self.count(text)
        return _Block(text, atomic, optional)

    @property
    def left(self) -> int:
        return self.target - self.used


class _Pools:
    """Per-persona decks, shared across the turns of one composition (e.g. all the worked
    examples of a system prompt) so sentences are not repeated verbatim."""

    def __init__(self, rng: random.Random, p: C.Persona, tools: Sequence[str] | None = None):
        self.tools = tuple(p.tools if tools is None else tools)  # what tool-call snippets may call
        self.body = _Deck(rng, p.reply_body)
        self.context, self.followups = _Deck(rng, p.context + C.SHARED_USER_CONTEXT), _Deck(rng, p.followups + C.SHARED_FOLLOWUPS)
        self.requests = _Deck(rng, p.requests)
        self.openers, self.closers = _Deck(rng, C.REPLY_OPENERS), _Deck(rng, C.REPLY_CLOSERS)
        self.user_closers, self.followup_openers = _Deck(rng, C.USER_CLOSERS), _Deck(rng, C.FOLLOWUP_OPENERS)


def _user_blocks(rng: random.Random, p: C.Persona, pools: _Pools, target: int, count: CountTokens, turn: int, previous_topic: str | None, topic: str | None) -> Iterator[_Block]:
    b = _Budget(target, count)
    if turn > 1 and previous_topic:
        opener = _fill(rng, pools.followup_openers.draw(), previous_topic=_topic_phrase(previous_topic))
        question = _fill(rng, pools.followups.draw())
        yield b.emit(opener + " " + (question[0].lower() + question[1:] if opener.endswith("—") else question))
    else:
        yield b.emit(_fill(rng, pools.requests.draw(), topic=topic or pick_topic(rng, p.name), email=_slot_value(rng, "email")))
    seen: list[str] = []
    for _ in range(rng.randint(1, 3) if turn <= 1 else rng.randint(0, 2)):  # follow-ups carry less context
        if (ctx := _fresh(pools.context, seen)) is not None:
            yield b.emit(" " + _fill(rng, ctx), optional=True)
    while True:
        ctx, question = _fresh(pools.context, seen), _fresh(pools.followups, seen)
        if b.left > 120 or ctx is None and question is None:  # paste material; also once sentences run out
            lead = rng.choice(C.USER_ARTEFACT_LEADS)
            yield b.emit("\n\n" + lead + "\n\n" + _artefact(rng, p, max(60, int(b.left * rng.uniform(0.5, 0.7))), count), atomic=True)
        sep = "\n\n"
        for sentence in (ctx, question):
            if sentence is not None:
                yield b.emit(sep + _fill(rng, sentence), optional=True)
                sep = " "


def _user_message(rng: random.Random, p: C.Persona, pools: _Pools, target: int, count: CountTokens, turn: int, previous_topic: str | None, topic: str | None, tol: float) -> str:
    closer = pools.user_closers.draw()
    c = count(closer)
    if target >= 6 * c and rng.random() < 0.35:
        return _compose(_user_blocks(rng, p, pools, target - c - 1, count, turn, previous_topic, topic), target - c - 1, count, tol) + "\n\n" + closer
    return _compose(_user_blocks(rng, p, pools, target, count, turn, previous_topic, topic), target, count, tol)


def user_message(rng: random.Random, persona: str, target_tokens: int, count_tokens: CountTokens, turn: int = 1, previous_topic: str | None = None, topic: str | None = None, *, tolerance: float = TOLERANCE) -> str:
    """A user chat message.  Turn 1 asks about ``topic`` (picked if None); later turns with
    ``previous_topic`` open by referring back to it (a topic from :func:`pick_topic`, or a
    whole earlier message, whose topic is recovered).  Large targets include pasted logs,
    code, tables or email text, as real users paste them."""
    p = _persona(persona)
    return _user_message(rng, p, _Pools(rng, p), target_tokens, count_tokens, turn, previous_topic, topic, tolerance)


_REF_POOLS = ("service", "project", "file", "func", "test", "table", "metric", "customer", "research_area", "vendor")


def _references(user_text: str | None) -> dict[str, str]:
    """Slot values named in ``user_text`` (first hit per slot), so a reply talks about them."""
    found: dict[str, tuple[int, int, str]] = {}
    for kind in _REF_POOLS:
        for v in C.SLOTS[kind]:
            pos = user_text.find(v) if user_text else -1
            if pos >= 0 and (kind not in found or (pos, -len(v)) < found[kind][:2]):
                found[kind] = (pos, -len(v), v)
    return {k: v for k, (_, _, v) in sorted(found.items(), key=lambda kv: kv[1])}


def _reply_blocks(rng: random.Random, p: C.Persona, pools: _Pools, target: int, count: CountTokens, user_text: str | None) -> Iterator[_Block]:
    b, refs = _Budget(target, count), _references(user_text)

    seen: list[str] = []
    generic = _Deck(rng, C.GENERIC_REPLY_SENTENCES)

    def fill(template: str) -> str:
        return _fill(rng, template, **refs)

    def body() -> str:  # persona sentences first, then generic ones, repeats only as a last resort
        return fill(_fresh(pools.body, seen) or _fresh(generic, seen) or pools.body.draw())

    first = pools.openers.draw()
    if refs and rng.random() < 0.7:
        kind, value = next(iter(refs.items()))
        ref = f"`{value}`" if kind in ("file", "func", "test", "table", "service") else value
        first = _fill(rng, rng.choice(C.REFERENCE_OPENERS), ref=ref) + " " + first
    yield b.emit(first)
    for _ in range(rng.randint(1, 2)):
        yield b.emit(" " + body(), optional=True)
    extras = ["steps", "snippet", "tool", "artefact"]
    while True:
        kind = extras.pop(rng.randrange(len(extras))) if extras else "artefact"  # one plan per reply
        if kind == "steps":  # a few steps of the persona's procedure, in their natural order
            picked = sorted(rng.sample(range(len(p.steps)), min(len(p.steps), rng.randint(3, 5))))
            lead = rng.choice(("Here's what I'd do:", "Next steps:", "Plan:"))
            for k, idx in enumerate(picked, 1):
                yield b.emit((f"\n\n{lead}\n\n" if k == 1 else "\n") + f"{k}. " + fill(p.steps[idx]))
        elif kind == "tool" and pools.tools and rng.random() < 0.6:
            yield b.emit("\n\n" + _tool_call(rng, p, pools.tools), atomic=True)
        elif kind == "snippet" and b.left > 60 and (s := _snippet(rng, p, min(b.left // 2, 400), count)):
            yield b.emit("\n\n" + s, atomic=True)
        elif kind == "artefact" and (b.left > 300 or len(seen) >= len(p.reply_body)):
            yield b.emit("\n\n" + _artefact(rng, p, max(60, int(b.left * 0.5)), count, reply=True), atomic=True)
        yield b.emit("\n\n" + body(), optional=True)
        yield b.emit(" " + body(), optional=True)


def _assistant_reply(rng: random.Random, p: C.Persona, pools: _Pools, target: int, count: CountTokens, user_text: str | None, tol: float) -> str:
    closer = pools.closers.draw()
    c = count(closer)
    if target >= 6 * c and rng.random() < 0.6:
        return _compose(_reply_blocks(rng, p, pools, target - c - 1, count, user_text), target - c - 1, count, tol) + "\n\n" + closer
    return _compose(_reply_blocks(rng, p, pools, target, count, user_text), target, count, tol)


def assistant_reply(rng: random.Random, persona: str, target_tokens: int, count_tokens: CountTokens, user_text: str | None = None, *, tool_names: Sequence[str] | None = None, tolerance: float = TOLERANCE) -> str:
    """A plausible assistant answer; may contain a numbered plan, a code/query block or a
    ``<tool_call>`` JSON snippet (calling one of ``tool_names``, default: the persona's tools;
    ``[]`` for none).  Refers to entities named in ``user_text`` when it finds them."""
    p = _persona(persona)
    if tool_names is not None:
        for n in tool_names:
            _resolve_tool(n)
    return _assistant_reply(rng, p, _Pools(rng, p, tool_names), target_tokens, count_tokens, user_text, tolerance)


# --- system prompts ----------------------------------------------------------------------------
def _list_blocks(heading: str, items: Sequence[str], numbered: bool = False) -> Iterator[_Block]:
    for k, item in enumerate(items, 1):
        bullet = f"{k}. " if numbered else "- "
        yield _Block((f"\n\n{heading}\n\n" if k == 1 else "\n") + bullet + item, optional=k > 1 and not numbered)


def _clause(situation: str, response: str) -> str:
    return f"When {situation}, {response}."


def _instruction_blocks(rng: random.Random, p: C.Persona, tool_names: Sequence[str], count: CountTokens) -> Iterator[_Block]:
    org, name = rng.choice(p.organizations), rng.choice(p.assistant_names)  # distinct deployments differ from token 3
    yield _Block(f"You are {name}, " + _fill(rng, f"{p.role_line}. {p.paragraphs[0]}", org=org))
    for para in p.paragraphs[1:]:
        yield _Block("\n\n" + _fill(rng, para, org=org), optional=True)
    yield from _list_blocks("## Policies", list(p.policies) + _shuffled(rng, C.SHARED_POLICIES))
    yield from _list_blocks("## Response format", list(p.format_rules) + _shuffled(rng, C.SHARED_FORMAT_RULES))
    if tool_names:
        shown = ", ".join(f"`{n}`" for n in tool_names[:10]) + (f" and {len(tool_names) - 10} more" if len(tool_names) > 10 else "")
        yield _Block(f"\n\n## Using tools\n\nYou can call the functions described in the Tools section: {shown}.")
        yield from (_Block("\n- " + r, optional=True) for r in _shuffled(rng, C.TOOL_USE_RULES))
    yield from _list_blocks("## Safety and escalation", _shuffled(rng, C.SAFETY_RULES))
    clauses = list(p.clauses) + _shuffled(rng, C.SHARED_CLAUSES)
    yield from _list_blocks("## Situations", [_clause(s, r) for s, r in clauses], numbered=True)
    yield _Block("\n\n## Examples\n\nThe exchanges below show the expected tone, length and level of detail. They are illustrations, not real conversations.")
    pools, topics = _Pools(rng, p, tool_names), _Deck(rng, p.topics)  # examples call only the prompt's tools
    for k in range(1, 10**6):
        topic = _fill(rng, topics.draw())
        user = _user_message(rng, p, pools, rng.randint(30, 90), count, 1, None, topic, _LOOSE)
        yield _Block(f"\n\n### Example {k}\n\nUser: {user}")
        reply = _assistant_reply(rng, p, pools, rng.randint(70, 200), count, user, _LOOSE)
        yield _Block("\n\nAssistant: " + reply)


def system_prompt(rng: random.Random, persona: str, tool_names: list[str] | None, target_tokens: int, tool_tokens: int, count_tokens: CountTokens, *, tolerance: float = TOLERANCE) -> tuple[str, str]:
    """``(instructions_text, tools_text)`` for an agent of ``persona``.

    ``tools_text`` renders ``tool_names`` when given (``tool_tokens`` is then ignored);
    otherwise tools relevant to the persona are chosen first, then others, then
    namespaced copies, until ``tool_tokens`` is reached (empty when ``tool_tokens <= 0``).
    ``instructions_text`` is ``target_tokens`` long: persona paragraphs, policies, format
    rules, tool-use and safety rules, situational clauses, then worked examples."""
    p = _persona(persona)
    if tool_names is None:
        names = _select_tools(rng, p, tool_tokens, count_tokens) if tool_tokens > 0 else []
    else:
        names = list(tool_names)
        for n in names:
            _resolve_tool(n)
    tools_text = render_tools(names)
    return _compose(_instruction_blocks(rng, p, names, count_tokens), target_tokens, count_tokens, tolerance), tools_text


# --- sub-agent roles, tasks, aggregation -------------------------------------------------------
def _role(name: str) -> C.Role:
    try:
        return C.ROLES_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown role {name!r}; choose from {ROLES}") from None


_ROLE_TASK_KINDS = {"coder": ("engineering", "operations"), "reviewer": ("engineering", "operations"), "tester": ("engineering", "operations"), "data_analyst": ("analysis",)}


def task_title(rng: random.Random, role: str | None = None) -> str:
    """A concrete task title; with ``role``, one that role could plausibly work on."""
    kinds = [k for k in C.TASK_KINDS if k.name in _ROLE_TASK_KINDS.get(role or "", [k.name])]
    return _fill(rng, rng.choice(rng.choice(kinds).titles))


def title_of(task_text: str) -> str:
    """The title of a :func:`task_description` text (its ``# Task:`` line)."""
    first = task_text.split("\n", 1)[0]
    return first.removeprefix("# Task: ").strip()


_KIND_PERSONAS: dict[str, tuple[str, ...]] = {
    "engineering": ("coding_assistant", "sre_oncall"), "analysis": ("data_analyst",),
    "research": ("research_assistant",), "operations": ("sre_oncall", "coding_assistant"),
}
_KIND_TITLE_RES = tuple(
    (k, re.compile(_SLOT_RE.sub(lambda m: ".+", re.escape(t).replace(r"\{", "{").replace(r"\}", "}")) + "$"))
    for k in C.TASK_KINDS for t in k.titles
)


def _kind_of(title: str) -> C.TaskKind | None:
    """The task kind whose title template produced ``title`` (None for foreign titles)."""
    return next((k for k, pattern in _KIND_TITLE_RES if pattern.match(title)), None)


def _kind_sentences(kind: C.TaskKind | None, personas: Sequence[str] = ()) -> list[str]:
    """Statements that fit a discussion of a task of this kind (all kinds when None)."""
    kinds = [kind] if kind else list(C.TASK_KINDS)
    names = personas or [n for k in kinds for n in _KIND_PERSONAS[k.name]]
    return [s for k in kinds for s in k.background] + [s for n in dict.fromkeys(names) for s in C.PERSONAS_BY_NAME[n].reply_body + C.PERSONAS_BY_NAME[n].context]


def _discussion(rng: random.Random, kind: C.TaskKind, count: CountTokens) -> Iterator[_Block]:
    pool, lead = _Deck(rng, _kind_sentences(kind)), C.PERSONAS_BY_NAME[_KIND_PERSONAS[kind.name][0]]
    head = "\n\n## Discussion so far"
    for k in range(10**6):
        who, when = rng.choice(C.SLOTS["person"]), _slot_value(rng, "date")
        comment = " ".join(_fill(rng, pool.draw()) for _ in range(rng.randint(1, 3)))
        if k % 4 == 3:  # people paste evidence into task threads
            paste = _artefact(rng, lead, rng.randint(100, 300), count)
            comment = f"{comment} {rng.choice(('Pasting what I found:', 'For reference:', 'Here is the raw output:'))}\n\n{paste}"
        yield _Block(f"{head}\n\n**{who}** ({when}): {comment}", optional=not head)
        head = ""


def _task_blocks(rng: random.Random, count: CountTokens) -> Iterator[_Block]:
    kind = rng.choice(C.TASK_KINDS)
    yield _Block(f"# Task: {_fill(rng, rng.choice(kind.titles))}")
    yield _Block(_fill(rng, "\n\nProject: {project}, owned by the {team} team."))
    yield _Block(_fill(rng, " Requested by {person} on {date}."), optional=True)
    yield _Block("\n\n## Goal\n\n" + rng.choice(kind.goals))
    bg = _shuffled(rng, kind.background)
    yield _Block("\n\n## Background\n\n" + _fill(rng, bg[0]))
    yield from (_Block(" " + _fill(rng, s), optional=True) for s in bg[1:])
    yield from _list_blocks("## Constraints", [_fill(rng, s) for s in _shuffled(rng, kind.constraints)])
    yield from _list_blocks("## Acceptance criteria", [_fill(rng, s) for s in _shuffled(rng, kind.criteria)])
    related = [f"{_slot_value(rng, 'ticket').replace('SUP', 'ENG')}: {_fill(rng, rng.choice(kind.titles))}" for _ in range(rng.randint(2, 4))]
    yield from _list_blocks("## Related tickets", related)
    yield from _discussion(rng, kind, count)


def task_description(rng: random.Random, target_tokens: int, count_tokens: CountTokens, *, tolerance: float = TOLERANCE) -> str:
    """A task handed to a planner: ``# Task: <title>`` line, project, goal, background,
    constraints, acceptance criteria, related tickets and discussion (as size allows)."""
    return _compose(_task_blocks(rng, count_tokens), target_tokens, count_tokens, tolerance)


def _role_blocks(rng: random.Random, r: C.Role, count: CountTokens) -> Iterator[_Block]:
    yield _Block(f"# Role: {r.title} ({rng.choice(C.SLOTS['project'])} agent team)\n\n{r.mission[0]}")
    yield from (_Block("\n\n" + m) for m in r.mission[1:])
    yield from _list_blocks("## How to work", r.procedure, numbered=True)
    yield from _list_blocks("## Output format\n\nYour report must contain these sections, in this order:", r.output_contract)
    yield from _list_blocks("## Rules", r.rules)
    yield from _list_blocks("## Working with the team", _shuffled(rng, C.SUBAGENT_PROTOCOL))
    yield from _list_blocks("## Edge cases", [f"If {s}, {a}." for s, a in _shuffled(rng, C.ROLE_CLAUSES)], numbered=True)
    yield _Block("\n\n## Examples\n\nEach example shows an assignment you might receive and an outline of a good report for it.")
    deck = _Deck(rng, [s for name in _ROLE_SOURCES.get(r.name, PERSONAS) for s in C.PERSONAS_BY_NAME[name].reply_body])
    for k in range(1, 10**6):
        text = subtask_assignment(rng, r.name, task_title(rng, r.name), rng.randint(50, 130), count, tolerance=_LOOSE)
        text = text.split("\n\n", 1)[-1]  # drop the "## Assignment for ..." heading inside an example
        text = re.sub(r"\n\nDeliverable: [^\n]*", "", text)
        yield _Block(f"\n\n### Example {k}\n\n{text}")
        lead = rng.choice(("A good report delivers {d}:", "Outline of a good report ({d}):", "What a useful answer looks like, {d}:", "Expected report, {d}:"))
        sections = _example_report(rng, r, deck)
        yield _Block("\n\n" + lead.format(d=rng.choice(r.deliverables)) + "\n\n" + sections[0])
        yield from (_Block("\n\n" + sec, atomic="```" in sec) for sec in sections[1:])


_ROLE_SOURCES: dict[str, tuple[str, ...]] = {
    "researcher": ("research_assistant", "data_analyst"), "coder": ("coding_assistant",), "reviewer": ("coding_assistant", "sre_oncall"),
    "tester": ("coding_assistant", "sre_oncall"), "writer": ("research_assistant", "customer_support"), "data_analyst": ("data_analyst",),
}


def _example_report(rng: random.Random, r: C.Role, deck: _Deck) -> list[str]:
    """An outline report in the role's output format (one string per section), for the
    examples of a role template."""
    sections = []
    for item in r.output_contract:
        name = item.split(":", 1)[0]
        if name == "Verdict":
            sections.append(f"**{name}:** {rng.choice(('request changes', 'approve with changes', 'approve'))}.")
        elif name == "Diff":
            f, fn = rng.choice([f for f in C.SLOTS["file"] if f.endswith(".py")]), rng.choice(C.SLOTS["func"])
            diff = f"--- a/{f}\n+++ b/{f}\n@@ -{(n := rng.randint(20, 300))},6 +{n},8 @@ def {fn}(\n-    value = cache.get(key)\n+    with self._lock:\n+        value = cache.get(key)\n     if value is None:"
            sections.append(f"**{name}:**\n\n```diff\n{diff}\n```")
        elif name in ("Verification", "Verified", "Results"):
            runs = [_check_line(rng) for _ in range(rng.randint(2, 3))]
            sections.append(f"**{name}:**\n" + "\n".join(f"- {r}" for r in runs))
        elif name in ("Sources", "Evidence table"):
            sections.append(f"**{name}:**\n\n" + _references_artefact(rng, 60, lambda t: len(t) // 4).split("\n\n", 1)[1])
        elif name == "Tables":
            sections.append(f"**{name}:**\n\n" + _table_artefact(rng, 70, lambda t: len(t) // 4))
        elif name == "Method":
            sections.append(f"**{name}:**\n\n```sql\n" + _code_fill(rng, rng.choice(C.SQL_TEMPLATES)) + "\n```")
        else:
            bullets = "\n".join("- " + _fill(rng, deck.draw()) for _ in range(rng.randint(1, 2)))
            sections.append(f"**{name}:**\n{bullets}")
    return sections


def _check_line(rng: random.Random) -> str:
    module = rng.choice(C.TEST_MODULES)
    passed, secs = rng.randint(8, 240), rng.uniform(0.4, 60)
    return rng.choice((
        f"`pytest tests/test_{module}.py -q`: {passed} passed in {secs:.1f}s",
        f"`ruff check src/{module}`: no issues",
        f"`mypy src/{module}`: success, {rng.randint(3, 40)} files checked",
        f"`pytest -k {rng.choice(C.TEST_VERBS)}_{rng.choice(C.TEST_OBJECTS)}`: 1 failed, {passed} passed (failure reproduced twice)",
        f"staging canary of {rng.choice(C.SLOTS['service'])}: error rate {rng.uniform(0.01, 0.4):.2f}% over {rng.randint(10, 90)} minutes",
    ))


def role_template(rng: random.Random, role: str, target_tokens: int, count_tokens: CountTokens, *, tolerance: float = TOLERANCE) -> str:
    """Instructions shared by every sub-agent of ``role`` (mission, procedure, output
    contract, rules, team protocol, edge cases, example assignments)."""
    return _compose(_role_blocks(rng, _role(role), count_tokens), target_tokens, count_tokens, tolerance)


def _assignment_blocks(rng: random.Random, r: C.Role, title: str) -> Iterator[_Block]:
    yield _Block(f"## Assignment for the {r.title.lower()} sub-agent\n\nParent task: {title}")
    yield _Block("\n\nYour subtask: " + _fill(rng, rng.choice(r.assignments), task=f'"{title}"'))
    yield _Block(f"\n\nDeliverable: {rng.choice(r.deliverables)}, in the output format from your role instructions.")
    yield from _list_blocks("Logistics:", [_fill(rng, s) for s in _shuffled(rng, C.ASSIGNMENT_LOGISTICS)])
    kind = _kind_of(title)
    rules = list(kind.constraints + kind.criteria) if kind else [s for k in C.TASK_KINDS for s in k.constraints]
    picked = rng.sample(rules, rng.randint(3, 5))
    yield from _list_blocks("Relevant constraints and criteria from the parent task:", [_fill(rng, s) for s in picked])
    pool = _Deck(rng, _kind_sentences(kind, () if kind else _ROLE_SOURCES.get(r.name, ())))
    yield _Block("\n\nContext from the planner: " + _fill(rng, pool.draw()))
    while True:
        yield _Block(" " + _fill(rng, pool.draw()), optional=True)


def subtask_assignment(rng: random.Random, role: str, task_title: str, target_tokens: int, count_tokens: CountTokens, *, tolerance: float = TOLERANCE) -> str:
    """What the planner sends one sub-agent: subtask, deliverable, logistics, constraints, context.
    ``task_title`` may also be the task's ``# Task: ...`` line or whole text."""
    return _compose(_assignment_blocks(rng, _role(role), title_of(task_title)), target_tokens, count_tokens, tolerance)


def _aggregation_blocks(rng: random.Random, roles: Sequence[str]) -> Iterator[_Block]:
    counts: dict[str, int] = {}
    for role in roles:
        counts[role] = counts.get(role, 0) + 1
    listing = ", ".join(f"{n} × {role}" if n > 1 else role for role, n in counts.items()) or "none"
    yield _Block(f"{rng.choice(C.AGGREGATION_OPENERS)} Reports received from: {listing}.")
    yield _Block(" Combine them into the final answer for the task.")
    yield from _list_blocks("## How to combine the reports", _shuffled(rng, C.AGGREGATION_INSTRUCTIONS))
    notes = [C.AGGREGATION_ROLE_NOTES.get(role, f"From the {role}, keep only what its assignment asked for.") for role in counts]
    yield from _list_blocks("## Per-role notes", notes)
    yield from _list_blocks("## Final answer format\n\nUse these sections, in order:", C.AGGREGATION_SECTIONS, numbered=True)
    decks = {role: _Deck(rng, [s for n in _ROLE_SOURCES.get(role, PERSONAS) for s in C.PERSONAS_BY_NAME[n].reply_body]) for role in counts or {"planner": 1}}
    names = list(decks)
    head = "\n\n## Points raised while the work was running\n"
    while True:
        role = rng.choice(names)
        yield _Block(f"{head}\n- ({role}) " + _fill(rng, decks[role].draw()), optional=not head)
        head = ""


def aggregation_request(rng: random.Random, roles: list[str], target_tokens: int, count_tokens: CountTokens, *, tolerance: float = TOLERANCE) -> str:
    """The planner's aggregation turn after sub-agents report back."""
    return _compose(_aggregation_blocks(rng, roles), target_tokens, count_tokens, tolerance)
