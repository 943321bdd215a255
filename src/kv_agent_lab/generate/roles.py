"""The sub-agent team's messages: role templates (shared by every sub-agent of a role), the
planner's subtask assignments, and its request to aggregate the sub-agents' reports."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence

from .corpus_pasted import SQL_TEMPLATES, TEST_MODULES, TEST_OBJECTS, TEST_VERBS
from .corpus_personas import PERSONAS, PERSONAS_BY_NAME
from .corpus_records import Role
from .corpus_roles import ROLE_CLAUSES, ROLES, ROLES_BY_NAME, SUBAGENT_PROTOCOL
from .corpus_slots import SLOTS
from .corpus_tasks import (
    AGGREGATION_INSTRUCTIONS, AGGREGATION_OPENERS, AGGREGATION_ROLE_NOTES, AGGREGATION_SECTIONS,
    ASSIGNMENT_LOGISTICS, TASK_KINDS,
)
from .deck import Deck, shuffled
from .fit import LOOSE, TOLERANCE, Block, CountTokens, compose, list_blocks
from .pasted import code_fill, references_artefact, table_artefact
from .slots import fill
from .tasks import kind_of, kind_sentences, task_title, title_of


def _role(name: str) -> Role:
    try:
        return ROLES_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown role {name!r}; choose from {ROLES}") from None


# The personas whose reply sentences a role's example reports and progress notes borrow.
_ROLE_SOURCES: dict[str, tuple[str, ...]] = {
    "researcher": ("research_assistant", "data_analyst"), "coder": ("coding_assistant",),
    "reviewer": ("coding_assistant", "sre_oncall"), "tester": ("coding_assistant", "sre_oncall"),
    "writer": ("research_assistant", "customer_support"), "data_analyst": ("data_analyst",),
}


def _source_sentences(role: str) -> list[str]:
    return [s for n in _ROLE_SOURCES.get(role, PERSONAS) for s in PERSONAS_BY_NAME[n].reply_body]


def _role_blocks(rng: random.Random, r: Role, count: CountTokens) -> Iterator[Block]:
    yield Block(f"# Role: {r.title} ({rng.choice(SLOTS['project'])} agent team)\n\n"
                f"{r.mission[0]}")
    yield from (Block("\n\n" + m) for m in r.mission[1:])
    yield from list_blocks("## How to work", r.procedure, numbered=True)
    yield from list_blocks("## Output format\n\n"
                           "Your report must contain these sections, in this order:",
                           r.output_contract)
    yield from list_blocks("## Rules", r.rules)
    yield from list_blocks("## Working with the team", shuffled(rng, SUBAGENT_PROTOCOL))
    edge_cases = [f"If {s}, {a}." for s, a in shuffled(rng, ROLE_CLAUSES)]
    yield from list_blocks("## Edge cases", edge_cases, numbered=True)
    yield Block("\n\n## Examples\n\nEach example shows an assignment you might receive and an "
                "outline of a good report for it.")
    deck = Deck(rng, _source_sentences(r.name))
    for k in range(1, 10**6):
        text = subtask_assignment(rng, r.name, task_title(rng, r.name), rng.randint(50, 130),
                                  count, tolerance=LOOSE)
        text = text.split("\n\n", 1)[-1]  # an example has no "## Assignment for ..." heading
        text = re.sub(r"\n\nDeliverable: [^\n]*", "", text)
        yield Block(f"\n\n### Example {k}\n\n{text}")
        lead = rng.choice(("A good report delivers {d}:", "Outline of a good report ({d}):",
                           "What a useful answer looks like, {d}:", "Expected report, {d}:"))
        sections = _example_report(rng, r, deck)
        yield Block("\n\n" + lead.format(d=rng.choice(r.deliverables)) + "\n\n" + sections[0])
        yield from (Block("\n\n" + sec, atomic="```" in sec) for sec in sections[1:])


def _example_report(rng: random.Random, r: Role, deck: Deck) -> list[str]:
    """An outline report in the role's output format (one string per section), for the
    examples of a role template."""
    sections = []
    for item in r.output_contract:
        name = item.split(":", 1)[0]
        if name == "Verdict":
            verdict = rng.choice(("request changes", "approve with changes", "approve"))
            sections.append(f"**{name}:** {verdict}.")
        elif name == "Diff":
            f = rng.choice([f for f in SLOTS["file"] if f.endswith(".py")])
            fn = rng.choice(SLOTS["func"])
            diff = (f"--- a/{f}\n+++ b/{f}\n"
                    f"@@ -{(n := rng.randint(20, 300))},6 +{n},8 @@ def {fn}(\n"
                    f"-    value = cache.get(key)\n+    with self._lock:\n"
                    f"+        value = cache.get(key)\n     if value is None:")
            sections.append(f"**{name}:**\n\n```diff\n{diff}\n```")
        elif name in ("Verification", "Verified", "Results"):
            runs = [_check_line(rng) for _ in range(rng.randint(2, 3))]
            sections.append(f"**{name}:**\n" + "\n".join(f"- {r}" for r in runs))
        elif name in ("Sources", "Evidence table"):
            refs = references_artefact(rng, 60, lambda t: len(t) // 4)
            sections.append(f"**{name}:**\n\n" + refs.split("\n\n", 1)[1])
        elif name == "Tables":
            sections.append(f"**{name}:**\n\n" + table_artefact(rng, 70, lambda t: len(t) // 4))
        elif name == "Method":
            query = code_fill(rng, rng.choice(SQL_TEMPLATES))
            sections.append(f"**{name}:**\n\n```sql\n" + query + "\n```")
        else:
            bullets = "\n".join("- " + fill(rng, deck.draw()) for _ in range(rng.randint(1, 2)))
            sections.append(f"**{name}:**\n{bullets}")
    return sections


def _check_line(rng: random.Random) -> str:
    module = rng.choice(TEST_MODULES)
    passed, secs = rng.randint(8, 240), rng.uniform(0.4, 60)
    # Every candidate is built (drawing its numbers) before one is chosen.
    return rng.choice((
        f"`pytest tests/test_{module}.py -q`: {passed} passed in {secs:.1f}s",
        f"`ruff check src/{module}`: no issues",
        f"`mypy src/{module}`: success, {rng.randint(3, 40)} files checked",
        f"`pytest -k {rng.choice(TEST_VERBS)}_{rng.choice(TEST_OBJECTS)}`: 1 failed, "
        f"{passed} passed (failure reproduced twice)",
        f"staging canary of {rng.choice(SLOTS['service'])}: error rate "
        f"{rng.uniform(0.01, 0.4):.2f}% over {rng.randint(10, 90)} minutes",
    ))


def role_template(rng: random.Random, role: str, target_tokens: int, count_tokens: CountTokens,
                  *, tolerance: float = TOLERANCE) -> str:
    """Instructions shared by every sub-agent of ``role`` (mission, procedure, output
    contract, rules, team protocol, edge cases, example assignments)."""
    blocks = _role_blocks(rng, _role(role), count_tokens)
    return compose(blocks, target_tokens, count_tokens, tolerance)


def _assignment_blocks(rng: random.Random, r: Role, title: str) -> Iterator[Block]:
    yield Block(f"## Assignment for the {r.title.lower()} sub-agent\n\nParent task: {title}")
    yield Block("\n\nYour subtask: " + fill(rng, rng.choice(r.assignments), task=f'"{title}"'))
    yield Block(f"\n\nDeliverable: {rng.choice(r.deliverables)}, in the output format from your "
                f"role instructions.")
    logistics = [fill(rng, s) for s in shuffled(rng, ASSIGNMENT_LOGISTICS)]
    yield from list_blocks("Logistics:", logistics)
    kind = kind_of(title)
    rules = (list(kind.constraints + kind.criteria) if kind
             else [s for k in TASK_KINDS for s in k.constraints])
    picked = rng.sample(rules, rng.randint(3, 5))
    yield from list_blocks("Relevant constraints and criteria from the parent task:",
                           [fill(rng, s) for s in picked])
    pool = Deck(rng, kind_sentences(kind, () if kind else _ROLE_SOURCES.get(r.name, ())))
    yield Block("\n\nContext from the planner: " + fill(rng, pool.draw()))
    while True:
        yield Block(" " + fill(rng, pool.draw()), optional=True)


def subtask_assignment(rng: random.Random, role: str, task_title: str, target_tokens: int,
                       count_tokens: CountTokens, *, tolerance: float = TOLERANCE) -> str:
    """What the planner sends one sub-agent: subtask, deliverable, logistics, constraints,
    context.  ``task_title`` may also be the task's ``# Task: ...`` line or whole text."""
    blocks = _assignment_blocks(rng, _role(role), title_of(task_title))
    return compose(blocks, target_tokens, count_tokens, tolerance)


def _aggregation_blocks(rng: random.Random, roles: Sequence[str]) -> Iterator[Block]:
    counts: dict[str, int] = {}
    for role in roles:
        counts[role] = counts.get(role, 0) + 1
    listing = (", ".join(f"{n} × {role}" if n > 1 else role for role, n in counts.items())
               or "none")
    yield Block(f"{rng.choice(AGGREGATION_OPENERS)} Reports received from: {listing}.")
    yield Block(" Combine them into the final answer for the task.")
    yield from list_blocks("## How to combine the reports",
                           shuffled(rng, AGGREGATION_INSTRUCTIONS))
    notes = [AGGREGATION_ROLE_NOTES.get(
                 role, f"From the {role}, keep only what its assignment asked for.")
             for role in counts]
    yield from list_blocks("## Per-role notes", notes)
    yield from list_blocks("## Final answer format\n\nUse these sections, in order:",
                           AGGREGATION_SECTIONS, numbered=True)
    decks = {role: Deck(rng, _source_sentences(role)) for role in counts or {"planner": 1}}
    names = list(decks)
    head = "\n\n## Points raised while the work was running\n"
    while True:
        role = rng.choice(names)
        yield Block(f"{head}\n- ({role}) " + fill(rng, decks[role].draw()), optional=not head)
        head = ""


def aggregation_request(rng: random.Random, roles: list[str], target_tokens: int,
                        count_tokens: CountTokens, *, tolerance: float = TOLERANCE) -> str:
    """The planner's aggregation turn after sub-agents report back."""
    return compose(_aggregation_blocks(rng, roles), target_tokens, count_tokens, tolerance)
