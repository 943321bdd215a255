"""Seeded generators for the four workload shapes.

Each shape writes records through a WorkloadBuilder; the same spec and seed give
byte-identical JSONL (one ``random.Random`` drives every choice, floats are rounded,
keys keep a fixed order). Shared text (system prompts, tool definitions, role
templates) is emitted once as ``prompt`` records and referenced by id.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from . import text

CountTokens = Callable[[str], int]

# Per-shape defaults, merged under the config's generator block.
DEFAULTS: dict[str, dict[str, Any]] = {
    "shared_prompt_chat": {
        "persona": "customer_support", "system_prompt_tokens": 1800,
        "tool_definition_tokens": 1200, "system_prompt_variants": 1,
        "turns": {"min": 1, "max": 1}, "user_message_tokens": {"min": 30, "max": 200},
        "reply_tokens": {"min": 64, "max": 256}, "think_time_s": {"min": 3.0, "max": 15.0},
    },
    "planner": {
        "persona": "coding_assistant", "system_prompt_tokens": 1400,
        "tool_definition_tokens": 1000, "role_template_tokens": 500,
        "task_tokens": {"min": 120, "max": 500}, "reply_tokens": {"min": 150, "max": 400},
    },
    "agent_fanout": {
        "persona": "coding_assistant", "system_prompt_tokens": 1400,
        "tool_definition_tokens": 1000, "role_template_tokens": 600,
        "roles": ["researcher", "coder", "reviewer", "tester"],
        "fanout": {"min": 3, "max": 5}, "task_tokens": {"min": 120, "max": 400},
        "subtask_tokens": {"min": 60, "max": 200}, "reply_tokens": {"min": 100, "max": 300},
        "aggregation": True,
    },
    "multi_turn": {
        "persona": "data_analyst", "system_prompt_tokens": 1000,
        "tool_definition_tokens": 800, "turns": {"min": 3, "max": 8},
        "user_message_tokens": {"min": 20, "max": 150}, "reply_tokens": {"min": 80, "max": 300},
        "think_time_s": {"min": 2.0, "max": 20.0},
    },
}


def _draw_int(rng: random.Random, span: dict[str, int]) -> int:
    return rng.randint(int(span["min"]), int(span["max"]))


def _draw_float(rng: random.Random, span: dict[str, float]) -> float:
    return round(rng.uniform(float(span["min"]), float(span["max"])), 3)


@dataclass
class WorkloadBuilder:
    """Collects records in output order. Invariant: prompt ids are unique and every
    prompt is written before the first request that references it."""

    name: str
    shape: str
    spec: dict[str, Any]
    prompts: list[dict[str, Any]] = field(default_factory=list)
    body: list[dict[str, Any]] = field(default_factory=list)
    _prompt_ids: set[str] = field(default_factory=set)

    def prompt(self, prompt_id: str, kind: str, content: str) -> dict[str, str]:
        if prompt_id not in self._prompt_ids:
            self._prompt_ids.add(prompt_id)
            self.prompts.append({"record": "prompt", "id": prompt_id, "kind": kind, "text": content})
        return {"ref": prompt_id}

    def session(self, session_id: str) -> str:
        self.body.append({"record": "session", "id": session_id,
                          "history": self.spec["history"]})
        return session_id

    def request(self, **fields: Any) -> str:
        record: dict[str, Any] = {"record": "request"}
        for key in ("id", "session", "thread", "turn", "class", "system", "user", "reply",
                    "after", "think_time_s", "max_tokens"):
            value = fields.pop(key.replace("class", "cls"), None)
            if value is not None and value != []:
                record[key] = value
        if self.spec["history"] == "generated":
            record.pop("reply", None)  # the live server writes these
        self.body.append(record)
        return record["id"]

    def header(self) -> dict[str, Any]:
        arrival = dict(self.spec["arrival"])
        if arrival["process"] == "poisson":
            arrival["seed"] = self.spec["seed"]
        header = {"record": "workload", "schema_version": 1, "name": self.name,
                  "shape": self.shape}
        if self.spec.get("description"):
            header["description"] = self.spec["description"]
        header["arrival"] = arrival
        header["source"] = {"generator": "kvlab generate", "seed": self.spec["seed"],
                            "spec_sha256": spec_digest(self.spec)}
        return header

    def jsonl(self) -> str:
        records = [self.header(), *self.prompts, *self.body]
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def _system_parts(b: WorkloadBuilder, rng: random.Random, count: CountTokens,
                  variant: int = 0) -> list[dict[str, str]]:
    spec = b.spec
    # Tools relevant to the persona first, until the tool-definition budget is filled.
    instructions, tools = text.system_prompt(
        rng, spec["persona"], None, spec["system_prompt_tokens"],
        spec["tool_definition_tokens"], count)
    parts = [b.prompt(f"system.{spec['persona']}.v{variant}", "system", instructions)]
    if tools:
        parts.append(b.prompt(f"tools.{spec['persona']}.v{variant}", "tools", tools))
    return parts


def _conversation(b: WorkloadBuilder, rng: random.Random, count: CountTokens, session: str,
                  system: list[dict[str, str]], cls: str, follow_up_on: str) -> None:
    """One thread of turns with scripted replies and think time between turns.
    Follow-ups refer back to the previous message (a chat) or to the first one (a
    session that keeps working on one topic)."""
    spec = b.spec
    topic = None
    for turn in range(1, _draw_int(rng, spec["turns"]) + 1):
        user = text.user_message(rng, spec["persona"], _draw_int(rng, spec["user_message_tokens"]),
                                 count, turn=turn, previous_topic=topic)
        topic = user if follow_up_on == "previous" else (topic or user)
        reply_tokens = _draw_int(rng, spec["reply_tokens"])
        b.request(id=f"{session}.t{turn:02d}", session=session, turn=turn, cls=cls,
                  system=system if turn == 1 else None, user=[{"text": user}],
                  reply=text.assistant_reply(rng, spec["persona"], reply_tokens, count, user),
                  think_time_s=_draw_float(rng, spec["think_time_s"]) if turn > 1 else None,
                  max_tokens=reply_tokens)


def _shared_prompt_chat(b: WorkloadBuilder, rng: random.Random, count: CountTokens) -> None:
    spec = b.spec
    variants = [_system_parts(b, rng, count, v) for v in range(spec["system_prompt_variants"])]
    for index in range(spec["sessions"]):
        session = b.session(f"chat{index:04d}")
        system = variants[rng.randrange(len(variants))]
        _conversation(b, rng, count, session, system, "shared_prompt_chat", follow_up_on="previous")


def _planner_system(b: WorkloadBuilder, rng: random.Random, count: CountTokens) -> list[dict[str, str]]:
    platform = _system_parts(b, rng, count)
    role = b.prompt("role.planner", "role_template",
                    text.role_template(rng, "planner", b.spec["role_template_tokens"], count))
    return [*platform, role]


def _planner(b: WorkloadBuilder, rng: random.Random, count: CountTokens) -> None:
    spec = b.spec
    system = _planner_system(b, rng, count)
    for index in range(spec["sessions"]):
        session = b.session(f"plan{index:04d}")
        reply_tokens = _draw_int(rng, spec["reply_tokens"])
        task = text.task_description(rng, _draw_int(rng, spec["task_tokens"]), count)
        b.request(id=f"{session}.plan", session=session, thread="planner", turn=1, cls="planner",
                  system=system, user=[{"text": task}],
                  reply=text.assistant_reply(rng, spec["persona"], reply_tokens, count, task),
                  max_tokens=reply_tokens)


def _agent_fanout(b: WorkloadBuilder, rng: random.Random, count: CountTokens) -> None:
    spec = b.spec
    planner_system = _planner_system(b, rng, count)
    platform = planner_system[:-1]
    roles = {role: b.prompt(f"role.{role}", "role_template",
                            text.role_template(rng, role, spec["role_template_tokens"], count))
             for role in spec["roles"]}
    for index in range(spec["sessions"]):
        session = b.session(f"fan{index:04d}")
        task = text.task_description(rng, _draw_int(rng, spec["task_tokens"]), count)
        title = task.split("\n", 1)[0][:120]
        plan_tokens = _draw_int(rng, spec["reply_tokens"])
        plan = b.request(id=f"{session}.plan", session=session, thread="planner", turn=1,
                         cls="planner", system=planner_system, user=[{"text": task}],
                         reply=text.assistant_reply(rng, spec["persona"], plan_tokens, count, task),
                         max_tokens=plan_tokens)
        chosen = [spec["roles"][i % len(spec["roles"])] for i in range(_draw_int(rng, spec["fanout"]))]
        workers = []
        for slot, role in enumerate(chosen):
            reply_tokens = _draw_int(rng, spec["reply_tokens"])
            assignment = text.subtask_assignment(rng, role, title, _draw_int(rng, spec["subtask_tokens"]),
                                                 count)
            workers.append(b.request(
                id=f"{session}.{role}{slot}", session=session, thread=f"{role}{slot}", turn=1,
                cls="subagent", system=[*platform, roles[role]], user=[{"text": assignment}],
                reply=text.assistant_reply(rng, spec["persona"], reply_tokens, count, assignment),
                after=[plan], max_tokens=reply_tokens))
        if spec["aggregation"]:
            ask = text.aggregation_request(rng, chosen, _draw_int(rng, spec["subtask_tokens"]), count)
            reply_tokens = _draw_int(rng, spec["reply_tokens"])
            b.request(id=f"{session}.aggregate", session=session, thread="planner", turn=2,
                      cls="planner", user=[{"text": ask}, *({"reply_of": w} for w in workers)],
                      reply=text.assistant_reply(rng, spec["persona"], reply_tokens, count, ask),
                      after=workers, max_tokens=reply_tokens)


def _multi_turn(b: WorkloadBuilder, rng: random.Random, count: CountTokens) -> None:
    spec = b.spec
    system = _system_parts(b, rng, count)
    for index in range(spec["sessions"]):
        session = b.session(f"sess{index:04d}")
        _conversation(b, rng, count, session, system, "session_continuity", follow_up_on="first")


SHAPES = {
    "shared_prompt_chat": _shared_prompt_chat,
    "planner": _planner,
    "agent_fanout": _agent_fanout,
    "multi_turn": _multi_turn,
}


def resolve_spec(generator: dict[str, Any]) -> dict[str, Any]:
    """The config's generator block over the shape's defaults."""
    spec = {"arrival": {"process": "poisson", "rate_per_s": 1.0}, "history": "replay",
            **DEFAULTS[generator["shape"]]}
    spec.update(generator)
    return spec


def spec_digest(generator: dict[str, Any]) -> str:
    """Digest of the resolved generator spec. It is written into the header so the
    pipeline can tell, even on a fresh clone with no Snakemake metadata, whether a
    committed workload still matches its configuration."""
    canonical = json.dumps(resolve_spec(generator), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def recorded_digest(path: str) -> str | None:
    """The spec digest in a workload file's header, or None if absent or unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            header = json.loads(handle.readline())
        return header.get("source", {}).get("spec_sha256")
    except (OSError, ValueError, AttributeError):
        return None


def generate_jsonl(name: str, generator: dict[str, Any], count_tokens: CountTokens) -> str:
    """JSONL text of workload ``name`` from its (checked) generator block."""
    spec = resolve_spec(generator)
    builder = WorkloadBuilder(name, spec["shape"], spec)
    SHAPES[spec["shape"]](builder, random.Random(spec["seed"]), count_tokens)
    return builder.jsonl()
