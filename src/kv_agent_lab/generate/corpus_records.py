"""The record types the prose corpus is written in: personas, sub-agent roles, task kinds.

Kept apart from the data so that the persona prose can be spread over several modules
that all build the same :class:`Persona`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    name: str
    # One name is picked per prompt; {org} in prose is one of the organizations.
    assistant_names: tuple[str, ...]
    organizations: tuple[str, ...]
    role_line: str
    paragraphs: tuple[str, ...]
    policies: tuple[str, ...]
    format_rules: tuple[str, ...]
    tools: tuple[str, ...]
    topics: tuple[str, ...]
    requests: tuple[str, ...]
    context: tuple[str, ...]
    followups: tuple[str, ...]
    reply_body: tuple[str, ...]
    steps: tuple[str, ...]
    clauses: tuple[tuple[str, str], ...]
    artefact: str  # what users paste: "code", "log", "table", "email", "notes"
    snippet: str  # what replies may include: "python", "sql", "shell", "promql", "none"


@dataclass(frozen=True)
class Role:
    name: str
    title: str
    mission: tuple[str, ...]
    procedure: tuple[str, ...]
    output_contract: tuple[str, ...]
    rules: tuple[str, ...]
    assignments: tuple[str, ...]  # what a planner asks of this role; {task} is the task title
    deliverables: tuple[str, ...]


@dataclass(frozen=True)
class TaskKind:
    name: str
    titles: tuple[str, ...]
    goals: tuple[str, ...]
    background: tuple[str, ...]
    constraints: tuple[str, ...]
    criteria: tuple[str, ...]
