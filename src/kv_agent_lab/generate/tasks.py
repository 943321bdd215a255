"""Tasks handed to a planner: titles, the task kind a title belongs to, and task descriptions
(goal, background, constraints, acceptance criteria, related tickets, discussion)."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence

from .corpus_personas import PERSONAS_BY_NAME
from .corpus_records import TaskKind
from .corpus_slots import SLOTS
from .corpus_tasks import TASK_KINDS
from .deck import Deck, shuffled
from .fit import TOLERANCE, Block, CountTokens, compose, list_blocks
from .pasted import artefact
from .slots import SLOT_RE, fill, slot_value

_ROLE_TASK_KINDS = {
    "coder": ("engineering", "operations"), "reviewer": ("engineering", "operations"),
    "tester": ("engineering", "operations"), "data_analyst": ("analysis",),
}


def task_title(rng: random.Random, role: str | None = None) -> str:
    """A concrete task title; with ``role``, one that role could plausibly work on."""
    kinds = [k for k in TASK_KINDS if k.name in _ROLE_TASK_KINDS.get(role or "", [k.name])]
    return fill(rng, rng.choice(rng.choice(kinds).titles))


def title_of(task_text: str) -> str:
    """The title of a :func:`task_description` text (its ``# Task:`` line)."""
    first = task_text.split("\n", 1)[0]
    return first.removeprefix("# Task: ").strip()


_KIND_PERSONAS: dict[str, tuple[str, ...]] = {
    "engineering": ("coding_assistant", "sre_oncall"), "analysis": ("data_analyst",),
    "research": ("research_assistant",), "operations": ("sre_oncall", "coding_assistant"),
}


def _title_pattern(template: str) -> re.Pattern[str]:
    literal = re.escape(template).replace(r"\{", "{").replace(r"\}", "}")
    return re.compile(SLOT_RE.sub(lambda m: ".+", literal) + "$")


_KIND_TITLE_RES = tuple((k, _title_pattern(t)) for k in TASK_KINDS for t in k.titles)


def kind_of(title: str) -> TaskKind | None:
    """The task kind whose title template produced ``title`` (None for foreign titles)."""
    return next((k for k, pattern in _KIND_TITLE_RES if pattern.match(title)), None)


def kind_sentences(kind: TaskKind | None, personas: Sequence[str] = ()) -> list[str]:
    """Statements that fit a discussion of a task of this kind (all kinds when None)."""
    kinds = [kind] if kind else list(TASK_KINDS)
    names = personas or [n for k in kinds for n in _KIND_PERSONAS[k.name]]
    persona_sentences = [s for n in dict.fromkeys(names)
                         for s in PERSONAS_BY_NAME[n].reply_body + PERSONAS_BY_NAME[n].context]
    return [s for k in kinds for s in k.background] + persona_sentences


def _discussion(rng: random.Random, kind: TaskKind, count: CountTokens) -> Iterator[Block]:
    pool, lead = Deck(rng, kind_sentences(kind)), PERSONAS_BY_NAME[_KIND_PERSONAS[kind.name][0]]
    head = "\n\n## Discussion so far"
    for k in range(10**6):
        who, when = rng.choice(SLOTS["person"]), slot_value(rng, "date")
        comment = " ".join(fill(rng, pool.draw()) for _ in range(rng.randint(1, 3)))
        if k % 4 == 3:  # people paste evidence into task threads
            paste = artefact(rng, lead, rng.randint(100, 300), count)
            intro = rng.choice(("Pasting what I found:", "For reference:",
                                "Here is the raw output:"))
            comment = f"{comment} {intro}\n\n{paste}"
        yield Block(f"{head}\n\n**{who}** ({when}): {comment}", optional=not head)
        head = ""


def _task_blocks(rng: random.Random, count: CountTokens) -> Iterator[Block]:
    kind = rng.choice(TASK_KINDS)
    yield Block(f"# Task: {fill(rng, rng.choice(kind.titles))}")
    yield Block(fill(rng, "\n\nProject: {project}, owned by the {team} team."))
    yield Block(fill(rng, " Requested by {person} on {date}."), optional=True)
    yield Block("\n\n## Goal\n\n" + rng.choice(kind.goals))
    bg = shuffled(rng, kind.background)
    yield Block("\n\n## Background\n\n" + fill(rng, bg[0]))
    yield from (Block(" " + fill(rng, s), optional=True) for s in bg[1:])
    constraints = [fill(rng, s) for s in shuffled(rng, kind.constraints)]
    yield from list_blocks("## Constraints", constraints)
    criteria = [fill(rng, s) for s in shuffled(rng, kind.criteria)]
    yield from list_blocks("## Acceptance criteria", criteria)
    related = [f"{slot_value(rng, 'ticket').replace('SUP', 'ENG')}: "
               f"{fill(rng, rng.choice(kind.titles))}" for _ in range(rng.randint(2, 4))]
    yield from list_blocks("## Related tickets", related)
    yield from _discussion(rng, kind, count)


def task_description(rng: random.Random, target_tokens: int, count_tokens: CountTokens, *,
                     tolerance: float = TOLERANCE) -> str:
    """A task handed to a planner: ``# Task: <title>`` line, project, goal, background,
    constraints, acceptance criteria, related tickets and discussion (as size allows)."""
    return compose(_task_blocks(rng, count_tokens), target_tokens, count_tokens, tolerance)
