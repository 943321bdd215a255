"""Tools in prompts: resolve and render catalogue tools, choose a persona's tools to a token
budget, and write example ``<tool_call>`` snippets with plausible arguments.

The catalogue itself (names, descriptions, JSON Schemas) is :mod:`.corpus_tools`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from typing import Any

from .corpus_pasted import CODE_RESOURCES, PROMQL_TEMPLATES, SQL_TEMPLATES
from .corpus_records import Persona
from .corpus_slots import SLOTS
from .corpus_tools import (
    EXAMPLE_ARG_SLOTS, EXAMPLE_ARG_VALUES, TOOL_NAMES, TOOL_NAMESPACES, TOOLS_BY_NAME,
    TOOLS_POSTAMBLE, TOOLS_PREAMBLE, Tool,
)
from .deck import shuffled
from .fit import TOLERANCE, CountTokens
from .pasted import code_fill
from .slots import fill, slot_value
from .tasks import task_title


def resolve_tool(name: str) -> Tool:
    if name in TOOLS_BY_NAME:
        return TOOLS_BY_NAME[name]
    ns, sep, base = name.partition("__")
    if sep and ns in TOOL_NAMESPACES and base in TOOLS_BY_NAME:
        t = TOOLS_BY_NAME[base]
        return Tool(name, t.category, f"{t.description} Provided by the {ns} connector.",
                    t.parameters)
    raise ValueError(f"unknown tool {name!r}; valid names are TOOL_NAMES or "
                     f"'<namespace>__<name>'")


def tool_schema(name: str) -> dict[str, Any]:
    """``{"name", "description", "parameters"}`` for a catalogue (or namespaced) tool."""
    return resolve_tool(name).schema()


def _tool_json(name: str) -> str:
    return json.dumps({"type": "function", "function": tool_schema(name)}, indent=2,
                      sort_keys=True, ensure_ascii=False)


def render_tools(tool_names: Sequence[str]) -> str:
    """The "# Tools" section (Qwen/Hermes style) for these tools, in the given order."""
    if not tool_names:
        return ""
    return TOOLS_PREAMBLE + "\n".join(_tool_json(n) for n in tool_names) + TOOLS_POSTAMBLE


def _namespaced(rng: random.Random) -> list[str]:
    return [f"{ns}__{t}" for ns in shuffled(rng, TOOL_NAMESPACES)
            for t in shuffled(rng, TOOL_NAMES)]


def pick_tools(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct tool names in random order; beyond the catalogue, namespaced copies."""
    names = shuffled(rng, TOOL_NAMES)
    if n > len(names):
        names += _namespaced(rng)
    if n > len(names):
        raise ValueError(f"at most {len(names)} distinct tools are available, asked for {n}")
    return names[: max(0, n)]


def select_tools(rng: random.Random, persona: Persona, tool_tokens: int,
                 count: CountTokens) -> list[str]:
    """Tools relevant to the persona first, then others, then namespaced copies, until
    ``tool_tokens`` is reached; one swap or addition corrects a greedy miss."""
    preferred = shuffled(rng, persona.tools)
    others = shuffled(rng, [t for t in TOOL_NAMES if t not in persona.tools])
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


def _example_value(rng: random.Random, tool: str, key: str, spec: dict[str, Any],
                   persona: Persona) -> Any:
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
        return [_example_value(rng, tool, key.rstrip("s"), item, persona)
                for _ in range(rng.randint(1, 2))]
    if fmt == "email" or key in ("to", "cc", "attendee", "attendees"):
        return slot_value(rng, "email")
    if fmt == "date-time" or key in ("start", "end"):
        return f"{slot_value(rng, 'date')}T{slot_value(rng, 'time')}:00Z"
    if fmt == "date" or key == "since":
        return slot_value(rng, "date")
    if key in EXAMPLE_ARG_VALUES:
        return rng.choice(EXAMPLE_ARG_VALUES[key])
    if key in EXAMPLE_ARG_SLOTS:
        value = slot_value(rng, EXAMPLE_ARG_SLOTS[key])
        return value.lower() if key in ("reviewer", "mention_user") else value
    if key == "query":
        if tool == "sql_query":
            return " ".join(code_fill(rng, rng.choice(SQL_TEMPLATES)).split("\n")[1:])
        if tool == "get_metrics":
            return code_fill(rng, PROMQL_TEMPLATES[rng.randint(0, 1)]).replace("\n", " ")
        if tool == "query_logs":
            return f'level:error AND msg:"{rng.choice(SLOTS["error"])}"'
        if tool == "search_code":
            return rng.choice(SLOTS["func"])
        return fill(rng, rng.choice(persona.topics)).replace("`", "")
    if key in ("url", "source"):
        return (f"https://docs.example.com/{rng.choice(SLOTS['project'])}"
                f"/{rng.choice(CODE_RESOURCES)}")
    if key == "command":
        return f"pytest -x -q tests/ -k {rng.choice(SLOTS['test'])}"
    if key == "customer_id":
        return f"cus_{rng.getrandbits(40):010x}"
    if key == "channel":
        return f"#inc-{rng.choice(SLOTS['service'])}"
    if key == "title":
        return task_title(rng)[:72]
    if key == "head_branch":
        return f"fix/{rng.choice(SLOTS['func']).lower()}"
    if key == "patch":
        f = rng.choice(SLOTS["file"])
        return (f"--- a/{f}\n+++ b/{f}\n@@ -41,3 +41,4 @@\n     total = compute(items)\n"
                f"+    total = round(total, 2)\n     return total\n")
    return fill(rng, rng.choice(persona.reply_body)).replace("`", "")


def tool_call(rng: random.Random, persona: Persona, tools: Sequence[str]) -> str:
    name = rng.choice(tools)
    params = resolve_tool(name).parameters
    props: dict[str, Any] = params["properties"]
    optional = [k for k in props if k not in params["required"] and rng.random() < 0.3]
    keys = list(params["required"]) + optional
    args = {k: _example_value(rng, name.rpartition("__")[2], k, props[k], persona) for k in keys}
    call = json.dumps({"name": name, "arguments": args}, ensure_ascii=False)
    lead = rng.choice(("I'll check that first.", "Let me look that up.",
                       f"I'll start with `{name}`.", "One moment while I verify this."))
    return f"{lead}\n\n<tool_call>\n{call}\n</tool_call>"
