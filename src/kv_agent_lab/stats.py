"""Workload statistics: sizes per class and the prefix reuse an unbounded cache allows.

The ideal reuse follows vLLM's prefix-cache rules with infinite capacity: a request
hits the longest run of leading *full* blocks some earlier request computed, capped
so the last prompt token is always computed. "Earlier" is the nominal send order
(session start, dependencies and think time, with zero service time). With generated
history the server also caches the blocks its replies fill, so those count too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .estimate.prefix_cache import hash_request_tokens
from .tokens import TokenSource
from .workload import CLASSES, Request, Workload
from .workload.render import PromptRenderer

_MODULUS = (1 << 61) - 1
_BASE = 1_000_003


def nominal_order(workload: Workload) -> list[Request]:
    """Requests in the order they would be sent if the server answered instantly."""
    starts = workload.session_start_times()
    send: dict[str, tuple[float, int]] = {}
    pending = list(workload.requests)
    while pending:  # the graph is acyclic (validated), so every pass places some
        rest = []
        for request in pending:
            deps = workload.dependencies(request)
            if all(d in send for d in deps):
                ready = max((send[d] for d in deps), default=(starts[request.session], -1))
                send[request.id] = (ready[0] + request.think_time_s, ready[1] + 1)
            else:
                rest.append(request)
        pending = rest
    return sorted(workload.requests, key=lambda r: (*send[r.id], r.line))


class PrefixIndex:
    """Every token prefix seen so far, as rolling hashes: the longest prefix a new
    sequence shares with any earlier one is found by binary search, because a set of
    all prefixes is closed under taking shorter prefixes."""

    def __init__(self) -> None:
        self._seen: set[int] = set()

    @staticmethod
    def _prefix_hashes(tokens: list[int]) -> list[int]:
        out, value = [], 0
        for token in tokens:
            value = (value * _BASE + token + 1) % _MODULUS
            out.append(value)
        return out

    def longest_shared(self, tokens: list[int]) -> int:
        hashes = self._prefix_hashes(tokens)
        low, high = 0, len(hashes)
        while low < high:
            mid = (low + high + 1) // 2
            if hashes[mid - 1] in self._seen:
                low = mid
            else:
                high = mid - 1
        self._seen.update(hashes)
        return low


@dataclass(frozen=True, slots=True)
class RequestTokens:
    id: str
    cls: str
    prompt_tokens: int
    shared_prefix_tokens: int
    ideal_cached_tokens: int


def request_tokens(workload: Workload, tokens: TokenSource, block_size: int) -> list[RequestTokens]:
    renderer = PromptRenderer(workload)
    cached_blocks: set[int] = set()
    prefixes = PrefixIndex()
    out = []
    for request in nominal_order(workload):
        messages = renderer.messages(request)
        prompt = tokens.encode_chat(messages)
        hashes = hash_request_tokens(prompt, block_size)
        hit_blocks = 0
        for value in hashes[: (len(prompt) - 1) // block_size]:
            if value not in cached_blocks:
                break
            hit_blocks += 1
        cached_blocks.update(hashes)
        if workload.sessions[request.session].history == "generated":
            # The server holds KV for the prompt and every output token but the last
            # (vLLM computes no KV for the final sampled token).
            reply = tokens.encode(renderer.reply_text(request))
            cached_blocks.update(hash_request_tokens(prompt + reply[:-1], block_size))
        out.append(RequestTokens(request.id, request.cls, len(prompt),
                                 prefixes.longest_shared(prompt), hit_blocks * block_size))
    return out


def _summary(rows: list[RequestTokens], sessions: int) -> dict[str, Any]:
    prompt = np.array([r.prompt_tokens for r in rows], dtype=float)
    total = int(prompt.sum())
    cached = sum(r.ideal_cached_tokens for r in rows)
    return {
        "requests": len(rows),
        "sessions": sessions,
        "prompt_tokens": {
            "total": total,
            "mean": round(float(prompt.mean()), 1),
            "p50": round(float(np.percentile(prompt, 50)), 1),
            "p90": round(float(np.percentile(prompt, 90)), 1),
            "max": int(prompt.max()),
        },
        "shared_prefix_tokens": sum(r.shared_prefix_tokens for r in rows),
        "ideal_cached_tokens": cached,
        "ideal_prefix_reuse_ratio": round(cached / total, 4) if total else 0.0,
    }


def workload_stats(workload: Workload, rows: list[RequestTokens], tokenizer: str,
                   block_size: int) -> dict[str, Any]:
    """Per-class and overall summary of ``rows`` (from ``request_tokens``)."""
    by_class: dict[str, Any] = {}
    for cls in CLASSES:
        members = [r for r in rows if r.cls == cls]
        if members:
            ids = {r.id for r in members}
            sessions = len({q.session for q in workload.requests if q.id in ids})
            by_class[cls] = _summary(members, sessions)
    return {
        "workload": workload.name,
        "path": workload.path,
        "tokenizer": tokenizer,
        "block_size": block_size,
        "cache": "unbounded",
        "overall": _summary(rows, len(workload.sessions)),
        "classes": by_class,
    }
