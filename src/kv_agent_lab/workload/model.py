"""Plain records of a workload and the one class that owns their relations.

A workload file is JSONL: a ``workload`` header, ``prompt`` records (shared text
stored once), ``session`` records (units of arrival) and ``request`` records (one
request to the server each). See docs/workload-model.md for the full model.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

CLASSES = ("shared_prompt_chat", "planner", "subagent", "session_continuity")
DEFAULT_THREAD = "main"

PartKind = Literal["text", "ref", "reply_of"]


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of message text: literal ``text``, a shared prompt ``ref``, or the
    reply of an earlier request of the same session (``reply_of``)."""

    kind: PartKind
    value: str

    @classmethod
    def from_json(cls, obj: dict[str, str]) -> "Part":
        (kind, value), = obj.items()
        return cls(kind, value)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, str]:
        return {self.kind: self.value}


@dataclass(frozen=True, slots=True)
class Prompt:
    id: str
    text: str
    kind: str = "other"
    line: int = 0


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    history: Literal["replay", "generated"] = "replay"
    start_s: float | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class Request:
    id: str
    session: str
    turn: int
    cls: str
    user: tuple[Part, ...]
    max_tokens: int
    thread: str = DEFAULT_THREAD
    system: tuple[Part, ...] | None = None
    reply: str | None = None
    after: tuple[str, ...] = ()
    think_time_s: float = 0.0
    line: int = 0

    @property
    def thread_key(self) -> tuple[str, str]:
        return (self.session, self.thread)


@dataclass
class Workload:
    """A validated workload. Invariant: every reference resolves, turns of each
    thread are 1..n, and the dependency graph is acyclic (``kvlab validate``
    guarantees it before a Workload is built)."""

    path: str
    header: dict[str, Any]
    prompts: dict[str, Prompt]
    sessions: dict[str, Session]  # in file order: arrival processes number them so
    requests: list[Request]       # in file order
    _by_id: dict[str, Request] = field(default_factory=dict, repr=False)
    _threads: dict[tuple[str, str], list[Request]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_id = {r.id: r for r in self.requests}
        threads: dict[tuple[str, str], list[Request]] = {}
        for request in self.requests:
            threads.setdefault(request.thread_key, []).append(request)
        for turns in threads.values():
            turns.sort(key=lambda r: r.turn)
        self._threads = threads

    @property
    def name(self) -> str:
        return self.header["name"]

    def request(self, request_id: str) -> Request:
        return self._by_id[request_id]

    def thread_turns(self, request: Request) -> list[Request]:
        """Every turn of the request's thread, turn 1 first."""
        return self._threads[request.thread_key]

    def earlier_turns(self, request: Request) -> list[Request]:
        return self._threads[request.thread_key][: request.turn - 1]

    def dependencies(self, request: Request) -> tuple[str, ...]:
        """Ids whose replies must arrive before ``request`` is sent: the previous
        turn of its thread (implied) and its explicit ``after`` list."""
        deps = list(request.after)
        if request.turn > 1:
            previous = self._threads[request.thread_key][request.turn - 2].id
            if previous not in deps:
                deps.insert(0, previous)
        return tuple(deps)

    def session_requests(self) -> Iterator[tuple[Session, list[Request]]]:
        grouped: dict[str, list[Request]] = {sid: [] for sid in self.sessions}
        for request in self.requests:
            grouped[request.session].append(request)
        for sid, session in self.sessions.items():
            yield session, grouped[sid]

    def session_start_times(self) -> dict[str, float]:
        """Start time of every session in seconds, from the header's arrival process."""
        return session_start_times(self.header["arrival"], list(self.sessions.values()))


def session_start_times(arrival: dict[str, Any], sessions: list[Session]) -> dict[str, float]:
    """fixed_rate: the i-th session (0-based, file order) starts at i / rate.
    poisson: exponential gaps from ``random.Random(seed)``, the first session at 0.
    trace: each session's own ``start_s``."""
    process = arrival["process"]
    if process == "trace":
        return {s.id: float(s.start_s or 0.0) for s in sessions}
    rate = float(arrival["rate_per_s"])
    if process == "fixed_rate":
        return {s.id: i / rate for i, s in enumerate(sessions)}
    rng = random.Random(arrival["seed"])
    starts, clock = {}, 0.0
    for i, session in enumerate(sessions):
        if i:
            clock += rng.expovariate(rate)
        starts[session.id] = round(clock, 6)
    return starts
