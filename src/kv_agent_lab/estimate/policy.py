"""Retention policies: which free cached block a prefix cache gives up first.

vLLM keeps every freed block's KV until the block is needed again (lazy eviction) and then
reuses free blocks front to back of ``FreeKVCacheBlockQueue``: blocks without a hash first, then
the hashed ones in the order they were freed, least recently freed first; a request frees its
blocks tail first, so its deepest blocks go before its head (``block_pool.FreeBlockQueue``).
That is LRU with a prefix-friendly tie-break, and it is all vLLM 0.32.0 does.

This module replays requests one at a time exactly as ``prefix_cache.SequentialPrefixCache``
does (same lookup, allocation, caching of duplicate blocks, and free order), except that the
hashed part of the free queue is a pluggable ``FreeOrder``, which decides what to evict:

- ``LRUOrder``: vLLM's queue. ``replay_policy(..., LRUOrder())`` equals ``replay_sequential``
  request by request (tested); the sweep uses ``replay_sequential`` itself for ``lru``.
- ``ProtectOrder`` (policies ``shared`` and ``prefix``): two LRU segments. A freed block is
  *protected* if its hash has been used by at least ``min_uses`` requests so far (``shared``: a
  system prompt, role template or conversation history used twice is likely used again) or
  sits at depth < ``max_depth`` blocks in its chain (``prefix``: the first ``protect_tokens``
  tokens of every prompt); other blocks are evicted first, each segment in vLLM's order.
  ``protected_fraction`` caps the protected segment (at most that share of the cache's blocks):
  beyond it the oldest protected blocks are demoted to the unprotected segment's most recent
  end (segmented LRU). Use counts are kept for every hash ever seen (a
  "ghost" history), so a block evicted and recomputed is still known as shared. With neither
  criterion it is exactly LRU (tested).
- ``OracleOrder`` (policy ``oracle``): Belady's rule, offline: evict the block whose next use by
  a later request is furthest away (never: first). It knows the future, so no server can run it;
  it marks how much any retention policy could gain over LRU at that capacity (a reference, not
  a proven bound: hits count only for leading runs of blocks).

Scope as ``SequentialPrefixCache``: requests sent one at a time, each alone to completion, so
every cached block is free between requests; what changes between policies is only which free
hashed block is reused. Unhashed blocks (partial blocks) are still reused first.
"""

from __future__ import annotations

import heapq
from abc import ABC, abstractmethod
from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .prefix_cache import PrefixCacheStats, ReplayResult, SimRequest, replay_sequential

INF = float("inf")


class _Copy:
    """A cached block whose hash another cached block was given first (vLLM does not
    de-duplicate: ``CachedBlockMap``); found by a lookup only once that first block is gone."""

    __slots__ = ("h",)

    def __init__(self, h: Hashable) -> None:
        self.h = h


def _hash_of(key: Hashable) -> Hashable:
    return key.h if key.__class__ is _Copy else key


class FreeOrder(ABC):
    """The hashed part of the free queue under some retention policy. Keys are block hashes
    (the first cached block of a hash) or ``_Copy`` objects (later blocks with that hash)."""

    def prepare(self, requests: Sequence[SimRequest], block_size: int, usable: int) -> None:
        """Called once before the replay, with every request (offline policies look ahead)."""

    def start(self, index: int, hashes: Sequence[Hashable], nfull: int, maxb: int) -> None:
        """Request ``index`` is about to look up; ``hashes[:nfull]`` get KV, the first
        ``maxb`` may hit."""

    @abstractmethod
    def remove(self, key: Hashable) -> bool:
        """Take ``key`` out (a hit); False if it is not a free cached block."""

    @abstractmethod
    def __contains__(self, key: Hashable) -> bool: ...

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def evict(self) -> Hashable:
        """Remove and return the block to reuse now (the queue is not empty)."""

    @abstractmethod
    def release(self, index: int, keys: Sequence[Hashable], nfull: int) -> None:
        """Request ``index`` frees its full blocks ``keys[:nfull]``; vLLM appends them tail
        first (``keys[nfull - 1]`` first, so it is evicted before ``keys[0]``)."""


class LRUOrder(FreeOrder):
    """vLLM's ``FreeKVCacheBlockQueue`` (hashed part): least recently freed first."""

    def __init__(self) -> None:
        self.queue: OrderedDict[Hashable, bool] = OrderedDict()

    def remove(self, key: Hashable) -> bool:
        return self.queue.pop(key, None) is not None

    def __contains__(self, key: Hashable) -> bool:
        return key in self.queue

    def __len__(self) -> int:
        return len(self.queue)

    def evict(self) -> Hashable:
        return self.queue.popitem(False)[0]

    def release(self, index: int, keys: Sequence[Hashable], nfull: int) -> None:
        self.queue.update(dict.fromkeys(keys[nfull - 1::-1], True))


class ProtectOrder(FreeOrder):
    """Two LRU segments: unprotected blocks are evicted before protected ones (see the module
    docstring). ``min_uses``/``max_depth`` None: that criterion is off."""

    def __init__(self, min_uses: int | None = 2, max_depth: int | None = None,
                 protected_fraction: float = 1.0) -> None:
        if min_uses is not None and min_uses < 1:
            raise ValueError("min_uses must be at least 1")
        if max_depth is not None and max_depth < 0:
            raise ValueError("max_depth must be at least 0")
        if not 0.0 <= protected_fraction <= 1.0:
            raise ValueError("protected_fraction must be between 0 and 1")
        self.min_uses, self.max_depth = min_uses or None, max_depth or None
        self.protected_fraction = protected_fraction
        self.cold: OrderedDict[Hashable, bool] = OrderedDict()
        self.hot: OrderedDict[Hashable, bool] = OrderedDict()
        self.uses: dict[Hashable, int] = {}
        self.cap = 0
        self.demoted = 0

    def prepare(self, requests: Sequence[SimRequest], block_size: int, usable: int) -> None:
        self.cap = int(self.protected_fraction * usable)

    def start(self, index: int, hashes: Sequence[Hashable], nfull: int, maxb: int) -> None:
        if self.min_uses:
            uses = self.uses
            for h in hashes[:nfull]:
                uses[h] = uses.get(h, 0) + 1

    def remove(self, key: Hashable) -> bool:
        return (self.cold.pop(key, None) or self.hot.pop(key, None)) is not None

    def __contains__(self, key: Hashable) -> bool:
        return key in self.cold or key in self.hot

    def __len__(self) -> int:
        return len(self.cold) + len(self.hot)

    def evict(self) -> Hashable:
        return (self.cold if self.cold else self.hot).popitem(False)[0]

    def protected(self, key: Hashable, depth: int) -> bool:
        if self.max_depth is not None and depth < self.max_depth:
            return True
        return self.min_uses is not None and self.uses.get(_hash_of(key), 0) >= self.min_uses

    def release(self, index: int, keys: Sequence[Hashable], nfull: int) -> None:
        cold, hot = self.cold, self.hot
        if self.min_uses is None and self.max_depth is None:
            cold.update(dict.fromkeys(keys[nfull - 1::-1], True))
            return
        for i in range(nfull - 1, -1, -1):
            key = keys[i]
            (hot if self.protected(key, i) else cold)[key] = True
        while len(hot) > self.cap:
            cold[hot.popitem(False)[0]] = True
            self.demoted += 1


class OracleOrder(FreeOrder):
    """Belady: evict the free block whose next use (by a later request that could hit it) is
    furthest in the future; blocks never used again first, least recently freed first."""

    def __init__(self) -> None:
        self.dead: OrderedDict[Hashable, bool] = OrderedDict()
        self.heap: list[tuple[float, int, Hashable]] = []
        self.live: dict[Hashable, int] = {}
        self.uses_at: dict[Hashable, deque[int]] = {}
        self.seq = 0

    def prepare(self, requests: Sequence[SimRequest], block_size: int, usable: int) -> None:
        uses_at: dict[Hashable, deque[int]] = {}
        for i, r in enumerate(requests):
            for h in r.block_hashes[:(r.num_prompt_tokens - 1) // block_size]:
                q = uses_at.get(h)
                if q is None:
                    uses_at[h] = deque((i,))
                else:
                    q.append(i)
        self.uses_at = uses_at

    def next_use(self, h: Hashable, index: int) -> float:
        q = self.uses_at.get(h)
        while q and q[0] <= index:
            q.popleft()
        return q[0] if q else INF

    def remove(self, key: Hashable) -> bool:
        if self.dead.pop(key, None) is not None:
            return True
        return self.live.pop(key, None) is not None

    def __contains__(self, key: Hashable) -> bool:
        return key in self.dead or key in self.live

    def __len__(self) -> int:
        return len(self.dead) + len(self.live)

    def evict(self) -> Hashable:
        if self.dead:
            return self.dead.popitem(False)[0]
        while True:
            _, seq, key = heapq.heappop(self.heap)
            if self.live.get(key) == seq:
                del self.live[key]
                return key

    def release(self, index: int, keys: Sequence[Hashable], nfull: int) -> None:
        for i in range(nfull - 1, -1, -1):
            key = keys[i]
            if key.__class__ is _Copy and key.h in self:
                nxt = INF      # a second copy: lookups find the first one
            else:
                nxt = self.next_use(_hash_of(key), index)
            if nxt == INF:
                self.dead[key] = True
            else:
                self.seq += 1
                self.live[key] = self.seq
                heapq.heappush(self.heap, (-nxt, self.seq, key))
        if len(self.heap) > 4 * len(self.live) + 1024:   # drop stale entries now and then
            self.heap = [e for e in self.heap if self.live.get(e[2]) == e[1]]
            heapq.heapify(self.heap)


def replay_policy(requests: Iterable[SimRequest], num_blocks: int, block_size: int,
                  order: FreeOrder) -> ReplayResult:
    """``replay_sequential`` with the hashed free queue replaced by ``order``: requests one at a
    time, each alone to completion (lookup + touch, new blocks from the unhashed stack and then
    ``order.evict()``, full blocks cached, freed tail first)."""
    if num_blocks < 2:
        raise ValueError("num_blocks counts vLLM's null block too; it must be >= 2")
    requests = list(requests)
    bs, usable = block_size, num_blocks - 1
    order.prepare(requests, bs, usable)
    nu = usable                                 # unhashed free blocks (a stack)
    dups: dict[Hashable, list[_Copy]] = {}
    per: list[tuple[int, int]] = []
    stats = PrefixCacheStats()
    queries = hits = 0
    remove, evict, start, release = order.remove, order.evict, order.start, order.release
    for index, r in enumerate(requests):
        p = r.num_prompt_tokens
        end = p + r.num_output_tokens - 1       # tokens with KV at the end
        nblk = -(-end // bs)
        if nblk > usable:
            raise ValueError(f"request {r.request_id!r} needs {nblk} blocks, "
                             f"the cache has {usable}")
        hashes = r.block_hashes
        nfull, maxb = end // bs, (p - 1) // bs
        start(index, hashes, nfull, maxb)
        keys: list[Hashable] = list(hashes[:nfull])
        k = 0
        while k < maxb:                         # find_longest_cache_hit + touch
            if not remove(hashes[k]):
                copies = dups.get(hashes[k])
                if not copies:
                    break
                keys[k] = copies[0]
                remove(copies[0])
            k += 1
        n = nblk - k                            # get_new_blocks: the stack, then evict
        take = n if n < nu else nu
        nu -= take
        for _ in range(n - take):
            t = evict()
            if t.__class__ is _Copy:
                copies = dups[t.h]
                copies.remove(t)
                if not copies:
                    del dups[t.h]
        for i in range(k, nfull):               # cache_full_blocks: duplicates are kept
            h = hashes[i]
            if h in order or h in dups:
                keys[i] = _Copy(h)
                dups.setdefault(h, []).append(keys[i])
        if nfull < nblk:                        # the partial block: unhashed, to the front
            nu += 1
        if nfull:
            release(index, keys, nfull)
        per.append((p, k * bs))
        queries, hits = queries + p, hits + k * bs
    stats.requests, stats.queries, stats.hits = len(per), queries, hits
    return ReplayResult(per, stats)


# --- named policies ------------------------------------------------------------------------

POLICIES = {
    "lru": "vLLM 0.32.0's free queue: least recently freed first, a request's tail first",
    "shared": "protect blocks used by >= min_uses requests (shared prefixes, histories)",
    "prefix": "protect the first protect_tokens tokens of every chain (system prompts)",
    "oracle": "offline Belady reference: evict the block needed furthest in the future",
}
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "lru": {},
    "shared": {"min_uses": 2, "protected_fraction": 0.75},
    "prefix": {"protect_tokens": 4096, "protected_fraction": 0.75},
    "oracle": {},
}


@dataclass(frozen=True)
class PolicySpec:
    """A named policy with its parameters; ``make(block_size)`` builds a fresh ``FreeOrder``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def make(self, block_size: int) -> FreeOrder:
        p = self.params
        if self.name == "lru":
            return LRUOrder()
        if self.name == "shared":
            return ProtectOrder(p["min_uses"], None, p["protected_fraction"])
        if self.name == "prefix":
            return ProtectOrder(None, p["protect_tokens"] // block_size,
                                p["protected_fraction"])
        if self.name == "oracle":
            return OracleOrder()
        raise ValueError(f"unknown policy {self.name!r}; one of {', '.join(POLICIES)}")

    @property
    def online(self) -> bool:
        """False for policies that read the future (no server could run them)."""
        return self.name != "oracle"

    @property
    def label(self) -> str:
        """The name, with the parameters that differ from the defaults."""
        changed = {k: v for k, v in self.params.items() if DEFAULT_PARAMS[self.name].get(k) != v}
        return self.name + ("(" + ",".join(f"{k}={v}" for k, v in changed.items()) + ")"
                            if changed else "")

    def describe(self) -> str:
        p = self.params
        cap = (f"; the protected blocks take at most {p['protected_fraction']:.0%} of the cache"
               if p.get("protected_fraction", 1.0) < 1.0 else "")
        if self.name == "shared":
            return (f"evict blocks used by fewer than {p['min_uses']} requests before the "
                    f"others{cap}; vLLM's order within each group")
        if self.name == "prefix":
            return (f"evict blocks beyond the first {p['protect_tokens']} tokens of their "
                    f"chain before the others{cap}; vLLM's order within each group")
        return POLICIES[self.name]


def make_policy(name: str, **overrides: Any) -> PolicySpec:
    """A policy by name, its defaults updated with the given (non-None) parameters that apply
    to it (others are ignored, so one set of command-line options serves every policy)."""
    if name not in POLICIES:
        raise ValueError(f"unknown policy {name!r}; one of {', '.join(POLICIES)}")
    params = dict(DEFAULT_PARAMS[name])
    params.update({k: v for k, v in overrides.items() if v is not None and k in params})
    return PolicySpec(name, params)


def replay_with_policy(requests: Iterable[SimRequest], num_blocks: int, block_size: int,
                       policy: PolicySpec | str = "lru") -> ReplayResult:
    """Sequential replay under ``policy``; ``lru`` is vLLM's own (``replay_sequential``)."""
    spec = make_policy(policy) if isinstance(policy, str) else policy
    if spec.name == "lru":
        return replay_sequential(requests, num_blocks, block_size)
    return replay_policy(requests, num_blocks, block_size, spec.make(block_size))
