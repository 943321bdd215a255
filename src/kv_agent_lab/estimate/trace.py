"""Block traces: request traces that know their prompts only as chained block ids.

A production trace such as Mooncake's (Qin et al., FAST 2025) publishes no text, only the
identity of each 512-token block of each prompt, so it cannot become a text workload
(docs/workload-model.md). It keeps what a prefix cache needs: arrival time, prompt and output
lengths, and one chained id per prompt block. A **block trace** is our JSONL form of that, and
the common input of the capacity sweep (``estimate.sweep``) and the retention policies
(``estimate.policy``); a text workload becomes one by tokenizing and hashing its prompts
(``workload_block_trace``), so both kinds of input run through the same simulators.

Format (schema ``schemas/block-trace.schema.json``; docs/kv-policy.md), one JSON object a line:

line 1, the header::

    {"record": "block_trace", "schema_version": 1, "name": "conversation_trace",
     "block_size": 512, "source": {"format": "mooncake", "path": "...", "sha256": "..."}}

then one line per request, in arrival order (``arrival_s`` never decreases)::

    {"record": "request", "id": "r0", "arrival_s": 0.0, "input_tokens": 6758,
     "output_tokens": 500, "block_ids": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]}

- ``block_ids``: ``ceil(input_tokens / block_size)`` non-negative integers, one per prompt
  block, the last one covering a partial block when ``input_tokens`` is not a multiple of the
  block size. Ids are chained: the same id always has the same parent id (the id before it; none
  for the first), so two requests that share their first k ids share their first k blocks. The
  simulators drop the partial block's id (vLLM hashes full blocks only).
- ``output_block_ids`` (optional): ids of the full blocks the output fills, continuing the chain
  from the last full prompt block, when the output's tokens are known (a text workload with
  generated history: the next turn repeats the reply). Absent: output blocks match nothing.
- ``session``, ``class`` (optional): where the request came from (text workloads).

Every problem of a file is reported at once as ``FILE:LINE: FIELD: message``
(``kv_agent_lab.workload.Problem``); nothing is written when any is found.

Mooncake import (``kvlab import-trace --format mooncake``): ``timestamp`` (ms) -> ``arrival_s``
(s), ``input_length`` -> ``input_tokens``, ``output_length`` -> ``output_tokens``,
``hash_ids`` -> ``block_ids`` unchanged, block size 512, ids ``r<line - 1>``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..workload.lines import Problem, WorkloadError
from .block_hash import hash_block_tokens, hash_request_tokens
from .kv_cache_manager import SimRequest

SCHEMA_VERSION = 1
MOONCAKE_BLOCK_SIZE = 512  # one Mooncake hash id per 512 prompt tokens
MAX_INT_ID = (1 << 63) - 1
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$")
_MOONCAKE_FIELDS = ("timestamp", "input_length", "output_length", "hash_ids")
_HEADER_FIELDS = {"record", "schema_version", "name", "block_size", "description", "source"}
_REQUEST_FIELDS = {"record", "id", "arrival_s", "input_tokens", "output_tokens", "block_ids",
                   "output_block_ids", "session", "class"}


class TraceError(WorkloadError):
    """Raised with every problem found in a trace file."""


@dataclass(frozen=True, slots=True)
class BlockRequest:
    """One request of a block trace. ``block_ids``: one per prompt block (the last may be
    partial); ``output_block_ids``: the output's full blocks when their tokens are known."""

    id: str
    arrival_s: float
    input_tokens: int
    output_tokens: int
    block_ids: tuple[int, ...]
    output_block_ids: tuple[int, ...] = ()
    session: str | None = None
    cls: str | None = None
    line: int = 0

    def full_block_ids(self, block_size: int) -> tuple[int, ...]:
        """The ids a prefix cache can hit: full prompt blocks, then known output blocks."""
        return self.block_ids[: self.input_tokens // block_size] + self.output_block_ids

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": "request", "id": self.id, "arrival_s": self.arrival_s,
                               "input_tokens": self.input_tokens,
                               "output_tokens": self.output_tokens,
                               "block_ids": list(self.block_ids)}
        if self.output_block_ids:
            out["output_block_ids"] = list(self.output_block_ids)
        if self.session is not None:
            out["session"] = self.session
        if self.cls is not None:
            out["class"] = self.cls
        return out


@dataclass
class BlockTrace:
    """A checked block trace. Invariant: requests in arrival order, ids unique, block ids
    chained and of the right count for ``block_size``."""

    name: str
    block_size: int
    requests: list[BlockRequest]
    source: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    path: str | None = None

    def header(self) -> dict[str, Any]:
        out: dict[str, Any] = {"record": "block_trace", "schema_version": SCHEMA_VERSION,
                               "name": self.name, "block_size": self.block_size}
        if self.description:
            out["description"] = self.description
        if self.source:
            out["source"] = self.source
        return out

    def dumps(self) -> str:
        """The JSONL text: header, then one line per request."""
        lines = [json.dumps(self.header(), separators=(", ", ": "))]
        lines += [json.dumps(r.to_json(), separators=(", ", ": ")) for r in self.requests]
        return "\n".join(lines) + "\n"

    def sim_requests(self) -> list[SimRequest]:
        """The requests as the simulators take them (``SimRequest.from_block_ids``, plus the
        known output blocks), in trace order. Fresh objects: a replay consumes them."""
        bs, out = self.block_size, []
        for r in self.requests:
            if r.output_block_ids:
                out.append(SimRequest(r.input_tokens, r.output_tokens,
                                      r.full_block_ids(bs), bs, r.id))
            else:
                out.append(SimRequest.from_block_ids(r.input_tokens, r.output_tokens,
                                                     r.block_ids, bs, r.id))
        return out


    def serving_requests(self) -> list[Any]:
        """The requests as ``estimate.serving.ServingRequest``s (arrival times kept; session and
        class in ``info``), for the TTFT half of the sweep."""
        from .serving import ServingRequest

        bs = self.block_size
        return [ServingRequest(r.id, r.input_tokens, r.output_tokens, r.full_block_ids(bs),
                               r.arrival_s, info={k: v for k, v in (("session", r.session),
                                                                    ("class", r.cls)) if v})
                for r in self.requests]


# --- reading JSONL -------------------------------------------------------------------------

class _Invalid(ValueError):
    pass


def _reject_constant(name: str) -> float:
    raise _Invalid(f"{name} is not valid JSON; write a number")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _Invalid(f"key {key!r} appears twice in an object")
        obj[key] = value
    return obj


def _json_lines(path: str, data: bytes, problems: list[Problem]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every line that is a JSON object; problems for the rest."""
    if not data.strip():
        problems.append(Problem(path, 1, "(file)", "file is empty"))
        return
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    for number, raw in enumerate(raw_lines, start=1):
        raw = raw.removesuffix(b"\r")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            problems.append(Problem(path, 1, "(encoding)", "the file starts with a byte order "
                                    "mark (BOM); save it as UTF-8 without BOM"))
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(path, number, "(encoding)",
                                    f"invalid UTF-8 at byte {exc.start + 1} of the line"))
            continue
        if not text.strip():
            problems.append(Problem(path, number, "(line)",
                                    "blank line: JSONL holds one JSON object on every line"))
            continue
        try:
            obj = json.loads(text, object_pairs_hook=_no_duplicates,
                             parse_constant=_reject_constant)
        except json.JSONDecodeError as exc:
            problems.append(Problem(path, number, "(json)",
                                    f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        except (_Invalid, RecursionError, ValueError) as exc:
            reason = str(exc) if isinstance(exc, _Invalid) else "cannot be read"
            problems.append(Problem(path, number, "(json)", f"invalid JSON: {reason}"))
            continue
        if not isinstance(obj, dict):
            problems.append(Problem(path, number, "(line)",
                                    f"expected a JSON object, got {_describe(obj)}"))
            continue
        yield number, obj


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}" + ("..." if len(value) > 40 else "")
    return "an array" if isinstance(value, list) else "an object"


class _Line:
    """Field checks for one line; each failure becomes one Problem and returns None."""

    def __init__(self, path: str, number: int, obj: dict, problems: list[Problem]):
        self.path, self.lineno, self.obj, self.problems = path, number, obj, problems
        self.ok = True

    def fail(self, name: str, message: str) -> None:
        self.ok = False
        self.problems.append(Problem(self.path, self.lineno, name, message))

    def unknown(self, allowed: Iterable[str], hint: str) -> None:
        for name in sorted(set(self.obj) - set(allowed)):
            self.fail(name, f"unknown field ({hint})")

    def _get(self, name: str, required: bool) -> Any:
        if name not in self.obj:
            if required:
                self.fail(name, "is required")
            return None
        return self.obj[name]

    def integer(self, name: str, minimum: int, required: bool = True) -> int | None:
        value = self._get(name, required)
        if value is None and name not in self.obj:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(name, f"must be an integer, not {_describe(value)}")
            return None
        if not minimum <= value <= MAX_INT_ID:
            bound = f"at least {minimum}" if value < minimum else "at most 2**63-1"
            self.fail(name, f"{value} is out of range: must be {bound}")
            return None
        return value

    def number(self, name: str, required: bool = True) -> float | None:
        value = self._get(name, required)
        if value is None and name not in self.obj:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(name, f"must be a number, not {_describe(value)}")
            return None
        if not 0 <= value < math.inf:
            self.fail(name, f"{value!r} is out of range: must be at least 0")
            return None
        return value

    def string(self, name: str, required: bool = True, pattern: re.Pattern | None = None
               ) -> str | None:
        value = self._get(name, required)
        if value is None and name not in self.obj:
            return None
        if not isinstance(value, str):
            self.fail(name, f"must be a string, not {_describe(value)}")
            return None
        if pattern is not None and not pattern.match(value):
            self.fail(name, f"{value[:80]!r} is not a valid id: use letters, digits and "
                      ". _ : / - only, starting with a letter or digit, at most 128 characters")
            return None
        return value

    def id_list(self, name: str, required: bool = True) -> list[int] | None:
        value = self._get(name, required)
        if value is None and name not in self.obj:
            return None
        if not isinstance(value, list):
            self.fail(name, f"must be an array of block ids, not {_describe(value)}")
            return None
        good = True
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, int):
                self.fail(f"{name}[{i}]", f"must be an integer block id, not {_describe(item)}")
                good = False
            elif not 0 <= item <= MAX_INT_ID:
                self.fail(f"{name}[{i}]", f"{item} is out of range: block ids are 0 to 2**63-1")
                good = False
        return value if good else None


class _Chains:
    """Cross-line rule: an id always follows the same parent id (ids are chained hashes)."""

    def __init__(self) -> None:
        self.parent: dict[int, tuple[int | None, int]] = {}  # id -> (parent, first line)

    def check(self, line: _Line, name: str, ids: list[int], first_parent: int | None = None,
              offset: int = 0) -> None:
        seen: dict[int, int] = {}
        parent = first_parent
        for i, block in enumerate(ids):
            where = f"{name}[{i}]"
            if block in seen:
                line.fail(where, f"id {block} repeats {name}[{seen[block]}]: the ids of one "
                          "request are chained, so they are distinct")
                return
            seen[block] = i
            known = self.parent.get(block)
            if known is None:
                self.parent[block] = (parent, line.lineno)
            elif known[0] != parent:
                def says(p: int | None) -> str:
                    return "starts the prompt" if p is None else f"follows id {p}"
                line.fail(where, f"id {block} {says(parent)} here but {says(known[0])} on line "
                          f"{known[1]}: ids must be chained (the same id means the same prefix)")
                return
            parent = block


def _count_message(name: str, got: int, input_tokens: int, block_size: int,
                   input_name: str) -> str:
    need = -(-input_tokens // block_size)
    return (f"has {got} ids; {input_name} {input_tokens} needs ceil({input_tokens} / "
            f"{block_size}) = {need}, one per {block_size}-token block")


def _read_bytes(path: str | Path) -> tuple[bytes | None, list[Problem]]:
    try:
        return Path(path).read_bytes(), []
    except OSError as exc:
        return None, [Problem(str(path), 0, "(file)", f"cannot read: {exc.strerror or exc}")]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- Mooncake ------------------------------------------------------------------------------

def parse_mooncake(path: str, data: bytes, name: str | None = None
                   ) -> tuple[BlockTrace | None, list[Problem]]:
    """A Mooncake trace (``timestamp`` ms, ``input_length``, ``output_length``, ``hash_ids``)
    as a block trace of 512-token blocks; None and every problem when it is invalid."""
    problems: list[Problem] = []
    requests: list[BlockRequest] = []
    chains = _Chains()
    bs = MOONCAKE_BLOCK_SIZE
    last: tuple[float, int] | None = None
    hint = "a Mooncake trace line has " + ", ".join(_MOONCAKE_FIELDS)
    for number, obj in _json_lines(path, data, problems):
        line = _Line(path, number, obj, problems)
        line.unknown(_MOONCAKE_FIELDS, hint)
        ts = line.number("timestamp")
        inp = line.integer("input_length", 1)
        out = line.integer("output_length", 1)
        ids = line.id_list("hash_ids")
        if ts is not None:
            if last is not None and ts < last[0]:
                line.fail("timestamp", f"{ts!r} ms is earlier than line {last[1]}'s {last[0]!r} "
                          "ms: requests must be in arrival order")
            else:
                last = (ts, number)
        if ids is not None and inp is not None and len(ids) != -(-inp // bs):
            line.fail("hash_ids", _count_message("hash_ids", len(ids), inp, bs, "input_length"))
        elif ids is not None:
            chains.check(line, "hash_ids", ids)
        if line.ok:
            requests.append(BlockRequest(f"r{number - 1}", ts / 1000.0, inp, out, tuple(ids),
                                         line=number))
    if problems:
        return None, problems
    stem = Path(path).stem
    trace = BlockTrace(name or (stem if _ID.match(stem) else "trace"), bs, requests,
                       {"format": "mooncake", "path": path, "sha256": _sha256(data),
                        "requests": len(requests)}, path=path)
    return trace, []


def check_mooncake(path: str | Path, name: str | None = None
                   ) -> tuple[BlockTrace | None, list[Problem]]:
    data, problems = _read_bytes(path)
    if data is None:
        return None, problems
    return parse_mooncake(str(path), data, name)


# --- block trace ---------------------------------------------------------------------------

def parse_block_trace(path: str, data: bytes) -> tuple[BlockTrace | None, list[Problem]]:
    """Read and check a block trace; None and every problem when it is invalid."""
    problems: list[Problem] = []
    header: dict[str, Any] | None = None
    requests: list[BlockRequest] = []
    chains = _Chains()
    ids_seen: dict[str, int] = {}
    last: tuple[float, int] | None = None
    bs: int | None = None
    header_ok = False
    for number, obj in _json_lines(path, data, problems):
        line = _Line(path, number, obj, problems)
        record = obj.get("record")
        if record == "block_trace":
            if number != 1:
                line.fail("record", "the block_trace header must be line 1, and only line 1")
                continue
            header = obj
            line.unknown(_HEADER_FIELDS, "not in the block-trace schema")
            version = obj.get("schema_version")
            if "schema_version" not in obj:
                line.fail("schema_version", "is required")
            elif version != SCHEMA_VERSION or isinstance(version, bool):
                line.fail("schema_version", f"must be {SCHEMA_VERSION}, not {version!r}")
            line.string("name", pattern=_ID)
            bs = line.integer("block_size", 1)
            line.string("description", required=False)
            if "source" in obj and not isinstance(obj["source"], dict):
                line.fail("source", f"must be an object, not {_describe(obj['source'])}")
            header_ok = line.ok
            continue
        if number == 1:
            problems.append(Problem(path, 1, "record", "line 1 must be the header "
                                    '{"record": "block_trace", ...}'))
        if record != "request":
            line.fail("record", "is required" if "record" not in obj else
                      f"{record!r} is not one of: block_trace, request")
            continue
        line.unknown(_REQUEST_FIELDS, "not in the block-trace schema")
        rid = line.string("id", pattern=_ID)
        arrival = line.number("arrival_s")
        inp = line.integer("input_tokens", 1)
        out = line.integer("output_tokens", 1)
        ids = line.id_list("block_ids")
        out_ids = line.id_list("output_block_ids", required=False)
        session = line.string("session", required=False, pattern=_ID)
        cls = line.string("class", required=False)
        if rid is not None:
            if rid in ids_seen:
                line.fail("id", f"{rid!r} is also the id of line {ids_seen[rid]}")
            else:
                ids_seen[rid] = number
        if arrival is not None:
            if last is not None and arrival < last[0]:
                line.fail("arrival_s", f"{arrival!r} is earlier than line {last[1]}'s "
                          f"{last[0]!r}: requests must be in arrival order")
            else:
                last = (arrival, number)
        if bs is not None and ids is not None and inp is not None:
            if len(ids) != -(-inp // bs):
                line.fail("block_ids", _count_message("block_ids", len(ids), inp, bs,
                                                      "input_tokens"))
            else:
                full = inp // bs
                chains.check(line, "block_ids", ids)
                if out_ids and out is not None and line.ok:
                    most = (inp + out - 1) // bs - full
                    if len(out_ids) > most:
                        line.fail("output_block_ids", f"has {len(out_ids)} ids; the output "
                                  f"fills at most {most} full blocks ((input_tokens + "
                                  f"output_tokens - 1) // {bs} - input_tokens // {bs})")
                    elif set(out_ids) & set(ids):
                        line.fail("output_block_ids", "repeats an id of block_ids")
                    else:
                        chains.check(line, "output_block_ids", out_ids,
                                     ids[full - 1] if full else None)
        if line.ok and header_ok:
            requests.append(BlockRequest(rid, float(arrival), inp, out, tuple(ids),
                                         tuple(out_ids or ()), session, cls, number))
    if header is None and not any(p.line == 1 for p in problems):
        problems.append(Problem(path, 1, "record", "line 1 must be the header "
                                '{"record": "block_trace", ...}'))
    if not problems and not requests:
        problems.append(Problem(path, 1, "(file)", "a block trace needs at least one request"))
    if problems:
        return None, sorted(problems, key=lambda p: (p.line, p.field))
    assert header is not None and bs is not None
    return BlockTrace(header["name"], bs, requests, dict(header.get("source", {})),
                      header.get("description"), path), []


def check_block_trace(path: str | Path) -> tuple[BlockTrace | None, list[Problem]]:
    data, problems = _read_bytes(path)
    if data is None:
        return None, problems
    return parse_block_trace(str(path), data)


def read_block_trace(path: str | Path) -> BlockTrace:
    """Read a block trace or raise TraceError listing every problem."""
    trace, problems = check_block_trace(path)
    if trace is None:
        raise TraceError(problems)
    return trace


# --- text workloads ------------------------------------------------------------------------

class _DenseIds(dict):
    """Hash -> 0, 1, 2 ... in first-seen order (Mooncake numbers its ids the same way)."""

    def __missing__(self, key: Any) -> int:
        value = self[key] = len(self)
        return value


def nominal_send_times(workload: Any) -> dict[str, float]:
    """Send time of each request if the server answered instantly (``stats.nominal_order``'s
    clock: session start, then each dependency's send time plus ``think_time_s``)."""
    starts = workload.session_start_times()
    send: dict[str, float] = {}
    pending = list(workload.requests)
    while pending:
        rest = []
        for request in pending:
            deps = workload.dependencies(request)
            if all(d in send for d in deps):
                ready = max((send[d] for d in deps), default=starts[request.session])
                send[request.id] = ready + request.think_time_s
            else:
                rest.append(request)
        pending = rest
    return send


def workload_block_trace(workload: Any, tokens: Any, block_size: int) -> BlockTrace:
    """A text workload as a block trace: requests in nominal send order (``stats.nominal_order``),
    ``arrival_s`` their nominal send time, prompts tokenized as the server does and hashed into
    chained blocks of ``block_size`` tokens the way vLLM does (``hash_request_tokens``), the
    hashes renumbered 0, 1, 2 ... ``output_tokens`` is ``max_tokens``. With generated history
    the stand-in reply's tokens are known, so the full blocks of prompt + reply that hold KV
    (``input + output - 1`` tokens) become ``output_block_ids``; with replayed history the
    server's own reply is unknown and its blocks match nothing."""
    from ..stats import nominal_order
    from ..workload.render import PromptRenderer

    renderer = PromptRenderer(workload)
    send = nominal_send_times(workload)
    dense = _DenseIds()
    requests = []
    for request in nominal_order(workload):
        messages = renderer.messages(request)
        prompt = tokens.encode_chat(messages)
        hashes = hash_request_tokens(prompt, block_size)
        full = len(hashes)
        ids = [dense[h] for h in hashes]
        if len(prompt) % block_size:  # the partial block: named, never hit (full blocks only)
            ids.append(dense[("partial", hash_block_tokens(hashes[-1] if hashes else None,
                                                           prompt[full * block_size:]))])
        out_ids: list[int] = []
        output_tokens = request.max_tokens
        if workload.sessions[request.session].history == "generated":
            reply = renderer.reply_text(request)
            whole = tokens.encode_chat(messages + [{"role": "assistant", "content": reply}],
                                       add_generation_prompt=False)
            if whole[:len(prompt)] == prompt:  # else the reply's blocks cannot be matched
                kv = whole[:len(prompt) + output_tokens - 1]
                out_ids = [dense[h] for h in hash_request_tokens(kv, block_size)[full:]]
        requests.append(BlockRequest(request.id, round(send[request.id], 6), len(prompt),
                                     output_tokens, tuple(ids), tuple(out_ids), request.session,
                                     request.cls, request.line))
    source = {"format": "workload", "path": workload.path, "tokenizer": tokens.name}
    return BlockTrace(workload.name, block_size, requests, source, path=workload.path)


# --- any input -----------------------------------------------------------------------------

FORMATS = ("auto", "block-trace", "workload", "mooncake")


def sniff_format(path: str | Path) -> str:
    """``block-trace``, ``workload`` or ``mooncake`` from the first line; ``block-trace`` when
    it cannot tell (its reader then says what is wrong)."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline(1 << 20)
        obj = json.loads(first.decode("utf-8-sig"))
    except (OSError, ValueError):
        return "block-trace"
    if isinstance(obj, dict):
        if obj.get("record") == "workload":
            return "workload"
        if "hash_ids" in obj or "input_length" in obj:
            return "mooncake"
    return "block-trace"


def load_trace(path: str | Path, fmt: str = "auto", block_size: int | None = None,
               tokenizer: str | None = None,
               token_source: Callable[[str | None], Any] | None = None) -> BlockTrace:
    """Any supported input as a block trace, or TraceError/WorkloadError with every problem.
    ``block_size`` is required for a text workload and must agree with a trace's own
    (ValueError otherwise)."""
    fmt = sniff_format(path) if fmt == "auto" else fmt
    name = str(path)
    if fmt == "workload":
        from ..tokens import load_token_source
        from ..workload import read_workload

        if block_size is None:
            raise ValueError(f"{name}: a text workload needs a block size (--block-size)")
        workload = read_workload(path)
        tokens = (token_source or load_token_source)(tokenizer)
        return workload_block_trace(workload, tokens, block_size)
    if fmt == "mooncake":
        trace, problems = check_mooncake(path)
    elif fmt == "block-trace":
        trace, problems = check_block_trace(path)
    else:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    if trace is None:
        raise TraceError(problems)
    if block_size is not None and block_size != trace.block_size:
        raise ValueError(f"{name}: the trace's ids name {trace.block_size}-token blocks; it "
                         f"cannot be replayed with block size {block_size} (leave --block-size "
                         "out)")
    return trace


def import_trace(path: str | Path, out: str | Path, fmt: str = "mooncake",
                 name: str | None = None, **kwargs: Any) -> BlockTrace:
    """Convert ``path`` to a block trace written atomically to ``out`` (nothing written on
    error: TraceError/WorkloadError carry every problem)."""
    from ..atomic import write_atomic

    if fmt == "mooncake":
        trace, problems = check_mooncake(path, name)
        if trace is None:
            raise TraceError(problems)
    else:
        trace = load_trace(path, fmt, **kwargs)
        if name:
            trace.name = name
    write_atomic(out, trace.dumps())
    return trace


# --- command line --------------------------------------------------------------------------

MAX_PRINTED_PROBLEMS = 50


def print_problems(problems: list[Problem], stream: Any = None) -> None:
    """Print ``FILE:LINE: FIELD: message`` lines (the first 50, then how many more)."""
    import sys

    stream = stream or sys.stderr
    for problem in problems[:MAX_PRINTED_PROBLEMS]:
        print(problem, file=stream)
    if len(problems) > MAX_PRINTED_PROBLEMS:
        print(f"... and {len(problems) - MAX_PRINTED_PROBLEMS:,} more problems", file=stream)


def cmd_import_trace(args: Any) -> int:
    """``kvlab import-trace``: 0, or 2 with every problem printed and nothing written."""
    import sys

    try:
        trace = import_trace(args.file, args.out, args.format, args.name,
                             **({} if args.format == "mooncake" else
                                {"block_size": args.block_size or (
                                    16 if args.format == "workload" else None),
                                 "tokenizer": args.tokenizer}))
    except WorkloadError as exc:  # TraceError too
        print_problems(exc.problems)
        print(f"kvlab import-trace: {args.file} is invalid; nothing written", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"kvlab import-trace: {exc}", file=sys.stderr)
        return 2
    blocks = len({b for r in trace.requests for b in r.full_block_ids(trace.block_size)})
    print(f"{args.out}: {len(trace.requests):,} requests, {blocks:,} distinct full blocks of "
          f"{trace.block_size} tokens")
    return 0
