"""Cross-record rules of a workload: ids, references, turn order, history and
dependencies. Runs after every line passed (or failed) its own schema check, and
reports all findings at once; lines that failed the schema are skipped here except
for their ids, so one bad line does not cascade into "unknown id" reports.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from .lines import Line, Problem
from .model import DEFAULT_THREAD, Part, Prompt, Request, Session, Workload

# A prompt beyond this many characters (~1M tokens) is a mistake, not a workload.
MAX_PROMPT_CHARS = 4_000_000


class _Checker:
    def __init__(self, path: str, lines: list[Line]):
        self.path = path
        self.lines = lines
        self.problems: list[Problem] = []
        self.header: dict[str, Any] | None = None
        self.prompts: dict[str, Prompt] = {}
        self.sessions: dict[str, Session] = {}
        self.requests: dict[str, Request] = {}
        self.known_ids: dict[str, set[str]] = defaultdict(set)  # ids on any line, valid or not
        self.first_line: dict[tuple[str, str], int] = {}
        # Request lines left out of self.requests (schema errors, duplicate ids): their
        # session and turns still count, so they do not cascade into "has no requests"
        # or "turn gap" reports. A turn of None means "some turn, unreadable".
        self.unchecked_sessions: set[str] = set()
        self.unchecked_turns: dict[tuple[str, str], set[int | None]] = defaultdict(set)

    def report(self, line: int, field: str, message: str) -> None:
        self.problems.append(Problem(self.path, line, field, message))

    # -- pass 1: records and ids ---------------------------------------------------
    def collect(self) -> None:
        for line in self.lines:
            record, kind = line.record, line.record.get("record")
            if line.number == 1 and kind != "workload":
                self.report(1, "record", "the first line must be the workload header "
                            '({"record": "workload", ...})')
            if kind == "workload":
                if line.number != 1:
                    first = self.lines[0].number == 1 and self.lines[0].record.get("record")
                    self.report(line.number, "record", "only one workload header is allowed, "
                                "on line 1" if first == "workload" else
                                "the workload header must be on line 1")
                elif line.schema_ok:
                    self.header = record
                continue
            if kind == "request" and not line.schema_ok:
                self._note_unchecked(record)
            rid = record.get("id")
            if not isinstance(rid, str) or kind not in ("prompt", "session", "request"):
                continue
            key = (kind, rid)
            if key in self.first_line:
                self.report(line.number, "id", f"duplicate {kind} id {rid!r} "
                            f"(first defined on line {self.first_line[key]})")
                if kind == "request" and line.schema_ok:
                    self._note_unchecked(record)
                continue
            self.first_line[key] = line.number
            self.known_ids[kind].add(rid)
            if not line.schema_ok:
                continue
            if kind == "prompt":
                self.prompts[rid] = Prompt(rid, record["text"], record.get("kind", "other"),
                                           line.number)
            elif kind == "session":
                self.sessions[rid] = Session(rid, record.get("history", "replay"),
                                             record.get("start_s"), line.number)
            else:
                self.requests[rid] = _request(record, line.number)

    def _note_unchecked(self, record: dict[str, Any]) -> None:
        session, thread, turn = (record.get("session"), record.get("thread", DEFAULT_THREAD),
                                 record.get("turn"))
        if not isinstance(session, str):
            return
        self.unchecked_sessions.add(session)
        usable = isinstance(turn, int) and not isinstance(turn, bool) and turn >= 1
        self.unchecked_turns[(session, thread if isinstance(thread, str) else "")].add(
            turn if usable else None)

    # -- pass 2: references and per-request rules -----------------------------------
    def check_sessions(self) -> None:
        process = (self.header or {}).get("arrival", {}).get("process")
        used = {r.session for r in self.requests.values()} | self.unchecked_sessions
        for session in self.sessions.values():
            if process == "trace" and session.start_s is None:
                self.report(session.line, "start_s", "is required when arrival.process is trace")
            if process in ("fixed_rate", "poisson") and session.start_s is not None:
                self.report(session.line, "start_s", f"is only allowed when arrival.process is "
                            f"trace; {process} derives start times itself")
            if session.id not in used and self.known_ids["request"]:  # none at all: one report
                self.report(session.line, "id", f"session {session.id!r} has no requests")

    def check_requests(self) -> None:
        for request in self.requests.values():
            session = self.sessions.get(request.session)
            if session is None:
                if request.session not in self.known_ids["session"]:
                    self.report(request.line, "session", f"unknown session {request.session!r}")
            for field, parts in (("system", request.system or ()), ("user", request.user)):
                for index, part in enumerate(parts):
                    self._check_part(request, f"{field}[{index}]", part)
            if request.system is not None and request.turn > 1:
                self.report(request.line, "system", "only turn 1 of a thread sets the system "
                            "message; later turns inherit it")
            for index, dep in enumerate(request.after):
                other = self.requests.get(dep)
                if dep == request.id:
                    self.report(request.line, f"after[{index}]", "a request cannot wait for itself")
                elif other is None:
                    if dep not in self.known_ids["request"]:
                        self.report(request.line, f"after[{index}]", f"unknown request {dep!r}")
                elif other.session != request.session:
                    self.report(request.line, f"after[{index}]", f"request {dep!r} belongs to "
                                f"session {other.session!r}, not {request.session!r}")
            if session is not None:
                self._check_history(request, session)
            resolved = all(d in self.requests for d in request.after)
            if request.cls == "subagent" and request.turn == 1 and resolved and not any(
                    self.requests[d].cls == "planner" for d in request.after):
                self.report(request.line, "after", "a subagent request must wait for a planner "
                            "request (name it in after)")

    def _check_part(self, request: Request, field: str, part: Part) -> None:
        if part.kind == "ref" and part.value not in self.prompts:
            if part.value not in self.known_ids["prompt"]:
                self.report(request.line, f"{field}.ref", f"unknown prompt {part.value!r}")
        elif part.kind == "reply_of":
            if part.value not in request.after and part.value not in self.known_ids["request"]:
                self.report(request.line, f"{field}.reply_of", f"unknown request {part.value!r}")
            elif part.value not in request.after:
                self.report(request.line, f"{field}.reply_of", f"{part.value!r} must also be "
                            "listed in after: its reply has to exist before this request is sent")
            target = self.requests.get(part.value)
            target_session = self.sessions.get(target.session) if target else None
            if target and target_session and target_session.history == "replay" and not target.reply:
                self.report(request.line, f"{field}.reply_of", f"request {part.value!r} has no "
                            "scripted reply, and its session replays history")

    def _check_history(self, request: Request, session: Session) -> None:
        if session.history == "generated" and request.reply is not None:
            self.report(request.line, "reply", f"session {session.id!r} has generated history, "
                        "so a scripted reply would never be used; remove it or use replay")

    # -- pass 3: threads -----------------------------------------------------------
    def check_threads(self) -> None:
        threads: dict[tuple[str, str], list[Request]] = defaultdict(list)
        for request in self.requests.values():
            threads[request.thread_key].append(request)
        for (session_id, thread), turns in threads.items():
            turns.sort(key=lambda r: (r.turn, r.line))
            expected = 1
            for request in turns:
                where = f"thread {thread!r} of session {session_id!r}"
                if request.turn < expected:
                    first = next(r for r in turns if r.turn == request.turn)
                    self.report(request.line, "turn", f"turn {request.turn} of {where} is given "
                                f"twice (also on line {first.line})")
                    continue
                unchecked = (self.unchecked_turns.get((session_id, thread), set())
                             | self.unchecked_turns.get((session_id, ""), set()))
                missing = [t for t in range(expected, request.turn) if t not in unchecked]
                if missing and None not in unchecked:
                    self.report(request.line, "turn", f"turn gap: {where} has turn "
                                f"{request.turn} but no {_turns(missing)}")
                expected = request.turn + 1
            session = self.sessions.get(session_id)
            if session and session.history == "replay":
                for request in turns[:-1]:
                    if request.reply is None:
                        self.report(request.line, "reply", f"turn {request.turn} of {where} has a "
                                    "later turn and the session replays history, so it needs a "
                                    "scripted reply")
            self._check_prompt_size(turns, session)

    def _check_prompt_size(self, turns: list[Request], session: Session | None) -> None:
        system = sum(self._part_chars(p) for p in (turns[0].system or ()))
        history = 0
        for request in turns:
            user = sum(self._part_chars(p) for p in request.user)
            total = system + history + user
            if total > MAX_PROMPT_CHARS:
                self.report(request.line, "user", f"the prompt of {request.id!r} would be "
                            f"{total:,} characters (more than {MAX_PROMPT_CHARS:,}, about 1M tokens)")
                return
            # replay resends the scripted reply; generated, the server's reply (estimated
            # as max_tokens words of about 4 characters, like the offline stand-in)
            replay = session is None or session.history == "replay"
            history += user + (len(request.reply or "") if replay else 4 * request.max_tokens)

    def _part_chars(self, part: Part) -> int:
        if part.kind == "text":
            return len(part.value)
        if part.kind == "ref":
            prompt = self.prompts.get(part.value)
            return len(prompt.text) if prompt else 0
        target = self.requests.get(part.value)
        return len(target.reply) if target and target.reply else 0

    # -- pass 4: the dependency graph -------------------------------------------------
    def check_cycles(self) -> None:
        edges: dict[str, list[str]] = defaultdict(list)
        previous: dict[tuple[str, str, int], str] = {
            (r.session, r.thread, r.turn): r.id for r in self.requests.values()}
        for request in self.requests.values():
            deps = [d for d in request.after if d in self.requests and d != request.id]
            prior = previous.get((request.session, request.thread, request.turn - 1))
            if prior:
                deps.append(prior)
            edges[request.id] = deps
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        order = sorted(self.requests.values(), key=lambda r: r.line)
        for root in order:
            if root.id in state:
                continue
            stack: list[tuple[str, int]] = [(root.id, 0)]
            path: list[str] = [root.id]
            state[root.id] = 1
            while stack:
                node, index = stack[-1]
                if index < len(edges[node]):
                    stack[-1] = (node, index + 1)
                    nxt = edges[node][index]
                    if state.get(nxt) == 1:
                        self._report_cycle(path[path.index(nxt):])
                    elif nxt not in state:
                        state[nxt] = 1
                        stack.append((nxt, 0))
                        path.append(nxt)
                else:
                    state[node] = 2
                    stack.pop()
                    path.pop()

    def _report_cycle(self, nodes: list[str]) -> None:
        """Report on the first line whose ``after`` closes the cycle (a cycle cannot be
        made of implied turn order alone), starting the cycle there."""
        pairs = list(zip(nodes, nodes[1:] + nodes[:1]))
        explicit = [a for a, b in pairs if b in self.requests[a].after]
        start = min(explicit or nodes, key=lambda n: self.requests[n].line)
        i = nodes.index(start)
        nodes = nodes[i:] + nodes[:i]
        implied = [f"{a} waits for {b} as its previous turn"
                   for a, b in zip(nodes, nodes[1:] + nodes[:1]) if b not in self.requests[a].after]
        self.report(self.requests[start].line, "after", "dependency cycle: "
                    + " -> ".join(nodes + [start]) + "".join(f"; {x}" for x in implied))

    def run(self) -> Workload | None:
        self.collect()
        if not self.known_ids["request"] and self.lines:
            self.report(1, "(file)", "the workload has no request records")
        self.check_sessions()
        self.check_requests()
        self.check_threads()
        self.check_cycles()
        if self.problems or self.header is None:
            return None
        ordered_sessions = sorted(self.sessions.values(), key=lambda s: s.line)
        ordered_requests = sorted(self.requests.values(), key=lambda r: r.line)
        return Workload(self.path, self.header, self.prompts,
                        {s.id: s for s in ordered_sessions}, ordered_requests)


def _turns(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"turn {numbers[0]}"
    if len(numbers) > 2 and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"turns {numbers[0]} to {numbers[-1]}"
    if len(numbers) > 6:
        return f"{len(numbers)} of the turns from {numbers[0]} to {numbers[-1]}"
    return "turns " + ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}"


def _parts(values: list[dict[str, str]] | None) -> tuple[Part, ...] | None:
    return None if values is None else tuple(Part.from_json(v) for v in values)


def _request(record: dict[str, Any], line: int) -> Request:
    return Request(
        id=record["id"], session=record["session"], turn=record["turn"], cls=record["class"],
        user=_parts(record["user"]) or (), max_tokens=record["max_tokens"],
        thread=record.get("thread", DEFAULT_THREAD), system=_parts(record.get("system")),
        reply=record.get("reply"), after=tuple(record.get("after", ())),
        think_time_s=float(record.get("think_time_s", 0.0)), line=line)


def check_records(path: str, lines: list[Line]) -> tuple[Workload | None, list[Problem]]:
    checker = _Checker(path, lines)
    workload = checker.run()
    return workload, checker.problems
