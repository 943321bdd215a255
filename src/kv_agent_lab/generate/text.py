"""Compose realistic agent-workload text to a token budget: the public API.

Every function takes a ``random.Random`` (all randomness comes from it, so the same
seed gives byte-identical text), a target size in tokens and ``count_tokens``, the
caller's token counter.  Text is built from blocks of corpus prose and fitted to the
target by :mod:`.fit`; results land within ``TOLERANCE`` of the target, or slightly
over when the smallest possible unit (one tool schema) is larger than the target.

This module holds system prompts and re-exports the rest of the API from the modules
that implement it: :mod:`.chat` (user messages, assistant replies, topics), :mod:`.tasks`
(task descriptions and titles), :mod:`.roles` (role templates, subtask assignments,
aggregation requests) and :mod:`.tools` (tool schemas, rendering, picking).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence

from .chat import (
    Pools, assistant_reply, compose_reply, compose_user_message, persona_by_name, pick_topic,
    user_message,
)
from .corpus_personas import (
    PERSONAS, SAFETY_RULES, SHARED_CLAUSES, SHARED_FORMAT_RULES, SHARED_POLICIES, TOOL_USE_RULES,
)
from .corpus_records import Persona
from .corpus_roles import ROLES
from .corpus_tools import TOOL_NAMES
from .deck import Deck, shuffled
from .fit import LOOSE, TOLERANCE, Block, CountTokens, compose, list_blocks
from .roles import aggregation_request, role_template, subtask_assignment
from .slots import fill
from .tasks import task_description, task_title, title_of
from .tools import pick_tools, render_tools, resolve_tool, select_tools, tool_schema

__all__ = [
    "PERSONAS", "ROLES", "TOOL_NAMES", "TOLERANCE", "CountTokens", "aggregation_request",
    "assistant_reply", "pick_tools", "pick_topic", "render_tools", "role_template",
    "subtask_assignment", "system_prompt", "task_description", "task_title", "title_of",
    "tool_schema", "user_message",
]


def _clause(situation: str, response: str) -> str:
    return f"When {situation}, {response}."


def _instruction_blocks(rng: random.Random, p: Persona, tool_names: Sequence[str],
                        count: CountTokens) -> Iterator[Block]:
    # Drawn first, so that distinct deployments of one persona differ from the third token.
    org, name = rng.choice(p.organizations), rng.choice(p.assistant_names)
    yield Block(f"You are {name}, " + fill(rng, f"{p.role_line}. {p.paragraphs[0]}", org=org))
    for para in p.paragraphs[1:]:
        yield Block("\n\n" + fill(rng, para, org=org), optional=True)
    yield from list_blocks("## Policies", list(p.policies) + shuffled(rng, SHARED_POLICIES))
    yield from list_blocks("## Response format",
                           list(p.format_rules) + shuffled(rng, SHARED_FORMAT_RULES))
    if tool_names:
        shown = ", ".join(f"`{n}`" for n in tool_names[:10])
        if len(tool_names) > 10:
            shown += f" and {len(tool_names) - 10} more"
        yield Block(f"\n\n## Using tools\n\nYou can call the functions described in the Tools "
                    f"section: {shown}.")
        yield from (Block("\n- " + r, optional=True) for r in shuffled(rng, TOOL_USE_RULES))
    yield from list_blocks("## Safety and escalation", shuffled(rng, SAFETY_RULES))
    clauses = list(p.clauses) + shuffled(rng, SHARED_CLAUSES)
    yield from list_blocks("## Situations", [_clause(s, r) for s, r in clauses], numbered=True)
    yield Block("\n\n## Examples\n\nThe exchanges below show the expected tone, length and "
                "level of detail. They are illustrations, not real conversations.")
    # The examples call only the tools this prompt offers.
    pools, topics = Pools(rng, p, tool_names), Deck(rng, p.topics)
    for k in range(1, 10**6):
        topic = fill(rng, topics.draw())
        user = compose_user_message(rng, p, pools, rng.randint(30, 90), count, 1, None, topic,
                                    LOOSE)
        yield Block(f"\n\n### Example {k}\n\nUser: {user}")
        reply = compose_reply(rng, p, pools, rng.randint(70, 200), count, user, LOOSE)
        yield Block("\n\nAssistant: " + reply)


def system_prompt(rng: random.Random, persona: str, tool_names: list[str] | None,
                  target_tokens: int, tool_tokens: int, count_tokens: CountTokens, *,
                  tolerance: float = TOLERANCE) -> tuple[str, str]:
    """``(instructions_text, tools_text)`` for an agent of ``persona``.

    ``tools_text`` renders ``tool_names`` when given (``tool_tokens`` is then ignored);
    otherwise tools relevant to the persona are chosen first, then others, then
    namespaced copies, until ``tool_tokens`` is reached (empty when ``tool_tokens <= 0``).
    ``instructions_text`` is ``target_tokens`` long: persona paragraphs, policies, format
    rules, tool-use and safety rules, situational clauses, then worked examples."""
    p = persona_by_name(persona)
    if tool_names is None:
        names = select_tools(rng, p, tool_tokens, count_tokens) if tool_tokens > 0 else []
    else:
        names = list(tool_names)
        for n in names:
            resolve_tool(n)
    tools_text = render_tools(names)
    blocks = _instruction_blocks(rng, p, names, count_tokens)
    return compose(blocks, target_tokens, count_tokens, tolerance), tools_text
