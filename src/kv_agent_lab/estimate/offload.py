"""The CPU tier of ``cpu_offload`` mode: what vLLM 0.32.0's native KV offloading keeps, and when.

``--kv-offloading-size GIB`` (``vllm/config/vllm.py: _post_init_kv_transfer_config``) selects the
``OffloadingConnector`` (``vllm/distributed/kv_transfer/kv_connector/v1/offloading_connector.py``)
with ``CPUOffloadingSpec`` (``vllm/v1/kv_offload/cpu/spec.py``) and ``cpu_bytes_to_use = GIB *
2**30``. The rules copied here, by source file:

- ``kv_offload/cpu/spec.py``: the tier holds ``cpu_bytes_to_use // round_up(bytes per chunk,
  page size)`` chunks; a chunk is ``blocks_per_chunk`` GPU blocks (default 1), so one chunk = one
  GPU block here (``cpu_chunks``), keyed by the block's hash (``make_offload_key``).
- ``kv_offload/cpu/manager.py: CPUOffloadingManager``: ``lookup`` is HIT (stored and the store
  completed), HIT_PENDING (store in flight) or MISS; ``prepare_store`` stores the offered keys
  not yet present, evicting idle chunks (store done, no load in flight) when full, never one of
  the offered keys, and fails as a whole (``None``) when not enough are idle; ``prepare_load``
  pins a chunk until ``complete_load``.
- ``kv_offload/cpu/policies/lru.py: LRUCachePolicy`` (``eviction_policy`` default "lru"): a chunk
  gets a new recency rank when inserted and, through ``on_request_finished``, for every key the
  request touched (stored, found stored, loaded), tail first so the request's first block ends
  most recent; eviction takes the idle chunk of lowest rank. Lookups do not change recency.
- ``offloading/scheduler.py: OffloadingConnectorScheduler`` (``OffloadConnector`` here):
  ``_build_store_jobs`` offers, each step, the full blocks the step computes from
  ``next_stored_chunk_idx`` on, prompt blocks only (``offload_prompt_only`` defaults to True,
  ``kv_offload/base.py``), and once more when the request finishes; ``get_num_new_matched_tokens``
  looks up from the end of the GPU prefix hit (whole chunks, up to every token of the request);
  ``update_state_after_alloc`` loads the hit asynchronously (the scheduler counts it in
  ``external_prefix_cache_hits``) and, with ``OffloadPolicy.CHUNK_LEVEL``, moves
  ``next_stored_chunk_idx`` past it, so GPU-hit blocks are offered again only when nothing was
  loaded.

``CPUTier`` is the manager, ``OffloadConnector`` the scheduler side: what is looked up, loaded,
offered for storing and refreshed, and when. Stores and loads take ``transfer_time(tokens)``
(bytes over the host link; no contention between transfers); a store starts when the step that
computed its blocks ends (``wait_for_save`` defers it to the next step's start) and a lookup
before it completes sees HIT_PENDING, as vLLM's would.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Sequence
from itertools import islice, repeat
from operator import itemgetter
from typing import Any

from .kv_cache_manager import PrefixCacheStats

PAGE_SIZE = 4096  # SharedOffloadRegion.BLOCK_SIZE_ALIGNMENT = mmap.PAGESIZE
_PINS, _STORE_DONE = itemgetter(0), itemgetter(1)     # fields of a chunk's entry
INF = float("inf")


def cpu_chunks(cpu_offload_gib: float, kv_bytes_per_block: int) -> int:
    """``CPUOffloadingSpec.__init__``: chunks of one block each in ``cpu_offload_gib`` GiB."""
    aligned = -(-kv_bytes_per_block // PAGE_SIZE) * PAGE_SIZE
    return int(cpu_offload_gib * (1 << 30)) // aligned


class CPUTier:
    """``CPUOffloadingManager`` with the LRU policy, one chunk per GPU block.

    Invariant: ``chunks`` maps each stored key to ``(pins, store_done_s, load_done_s)`` in
    recency-rank order (front = lowest rank). A chunk is readable (vLLM: its store completed,
    ref_cnt no longer -1) once ``store_done_s <= now``; ``pins`` counts loads in flight, the
    last ending at ``load_done_s``; evictable = readable and not pinned (``pinned`` counts the
    chunks with pins > 0). The keys of one store share one tuple ``(0, done_s, 0.0)`` (stored in
    one C-level update); ``pin`` gives a key its own list first, so each entry changes alone."""

    def __init__(self, num_chunks: int) -> None:
        if num_chunks < 0:
            raise ValueError("num_chunks must be >= 0")
        self.capacity = num_chunks
        self.chunks: OrderedDict[Hashable, tuple | list] = OrderedDict()
        self.stored = self.evicted = self.store_failures = self.loaded = 0
        self.pinned = 0                     # chunks with pins > 0
        # for _front_stored: rank events so far (stores and refreshes, maybe overcounted), the
        # store jobs (done_s, first rank) that may be in flight at ``clock``, their first done_s
        self.tick, self.pending, self.clock, self.next_done = 0, [], -INF, INF

    def __len__(self) -> int:
        return len(self.chunks)

    def lookup(self, keys: Sequence[Hashable], now: float) -> tuple[int, float | None]:
        """``_maximal_prefix_lookup``: the leading run of stored keys, and None or (when a key
        of the run is still being stored, or being loaded for another request, so vLLM defers
        the request: HIT_PENDING, ``_chunks_being_loaded``) the time that is over."""
        chunks, n, retry = self.chunks, 0, None
        for key in keys:
            entry = chunks.get(key)
            if entry is None:
                break
            n += 1
            if entry[1] > now or entry[0]:
                t = entry[1] if entry[1] > now else entry[2]
                retry = t if retry is None or t > retry else retry
        return n, retry

    def prepare_store(self, keys: Sequence[Hashable], now: float, done_s: float
                      ) -> tuple[list[Hashable], list[Hashable], bool]:
        """``prepare_store``: (keys not stored yet, keys stored and readable, ok). Not ok (vLLM
        returns None; nothing changes) when eviction cannot make room; else the new keys are
        stored, readable from ``done_s``, with the next recency ranks in offer order. The
        request "touched" both lists either way (``_record_request_cache_access``)."""
        chunks = self.chunks
        if chunks.keys().isdisjoint(keys):     # the usual case: every key is new
            new, existing = list(keys), []
        else:
            new, existing = [], []
            for k in keys:
                entry = chunks.get(k)
                if entry is None:
                    new.append(k)
                elif entry[1] <= now:
                    existing.append(k)
            if not new:
                return new, existing, True
        need = len(new) - (self.capacity - len(chunks))
        if need > 0 and not self._evict(need, existing, now):
            self.store_failures += 1
            return new, existing, False
        chunks.update(zip(new, repeat((0, done_s, 0.0))))
        if done_s > now:
            self.pending.append((done_s, self.tick))
            if done_s < self.next_done:
                self.next_done = done_s
        if now > self.clock:                # (a job left out is done by ``clock`` on)
            self.clock = now
        self.tick += len(new)
        self.stored += len(new)
        return new, existing, True

    def _evict(self, need: int, offered: list[Hashable], now: float) -> bool:
        """``LRUCachePolicy.evict``: the ``need`` evictable chunks of lowest rank, none of the
        offered (stored) keys; all or nothing."""
        chunks = self.chunks
        if need <= len(chunks):             # fast path: the lowest ``need`` are all evictable
            if (self._front_stored(need, now)
                    and (not self.pinned or not any(map(_PINS, islice(chunks.values(), need))))
                    and (not offered or set(offered).isdisjoint(islice(chunks, need)))):
                deque(map(chunks.popitem, repeat(False, need)), 0)
                self.evicted += need
                return True
        protected = set(offered)
        popped, kept, victims = [], [], 0
        popitem = chunks.popitem
        while victims < need and chunks:
            key, entry = item = popitem(False)
            popped.append(item)
            if entry[0] == 0 and entry[1] <= now and key not in protected:
                victims += 1
            else:
                kept.append(item)
        back = kept if victims == need else popped
        move = chunks.move_to_end
        for key, entry in reversed(back):   # the rest returns to the front, in its order
            chunks[key] = entry
            move(key, last=False)
        if victims < need:
            return False
        self.evicted += need
        return True

    def _front_stored(self, need: int, now: float) -> bool:
        """Whether the ``need`` lowest-ranked chunks are all readable at ``now``, mostly without
        reading entries: a chunk not readable yet is from a store job still in flight, so its
        rank is >= that job's first rank r; at most ``tick - r`` chunks rank above r, so at
        least ``len - (tick - r)`` rank below it."""
        if now >= self.clock:               # (jobs done by ``clock`` are done by ``now``)
            self.clock = now                # (a store call's ``now`` moves it too)
            if now >= self.next_done:       # some pending job is done: drop those
                self.pending = [job for job in self.pending if job[0] > now]
                self.next_done = min(self.pending)[0] if self.pending else INF
            if not self.pending or len(self.chunks) - (self.tick - self.pending[0][1]) >= need:
                return True
        return max(map(_STORE_DONE, islice(self.chunks.values(), need))) <= now

    def pin(self, keys: Sequence[Hashable], done_s: float) -> None:
        """``prepare_load``: each key is held until ``unpin`` (``complete_load``), due at
        ``done_s``."""
        chunks = self.chunks
        for key in keys:
            entry = chunks[key]
            if entry.__class__ is tuple:    # shared with its store's other keys: make it own
                entry = chunks[key] = list(entry)
            if not entry[0]:
                self.pinned += 1
            entry[0] += 1
            entry[2] = max(entry[2], done_s)
        self.loaded += len(keys)

    def unpin(self, keys: Sequence[Hashable]) -> None:
        chunks = self.chunks
        for key in keys:
            entry = chunks[key]
            entry[0] -= 1
            if not entry[0]:
                self.pinned -= 1

    def request_finished(self, keys_head_first: Sequence[Hashable]) -> None:
        """``LRUCachePolicy.on_request_finished``: new ranks, tail first, for the request's keys
        that are still stored (the head ends most recently used)."""
        chunks = self.chunks                # (moving a key changes no key's membership)
        deque(map(chunks.move_to_end, filter(chunks.__contains__, reversed(keys_head_first))), 0)
        self.tick += len(keys_head_first)

    def usage(self) -> float:
        return len(self.chunks) / self.capacity if self.capacity else 0.0


def _touch(r: Any, start: int, stop: int) -> None:
    """Add block indices [start, stop) to ``r.seen``: an int n stands for {0, ..., n - 1} (the
    usual case: stores go in order from block 0, so no set is built), a set for the rest."""
    seen = r.seen
    if seen.__class__ is int:
        if start <= seen and start < stop:
            r.seen = max(seen, stop)
            return
        seen = r.seen = set(range(seen))
    seen.update(range(start, stop))


class OffloadConnector:
    """``OffloadingConnectorScheduler`` for one full-attention group, ``blocks_per_chunk`` 1,
    default policy ``CHUNK_LEVEL``. Works on the simulator's requests (``SimRequest`` plus
    ``load_keys``, ``load_done_s``, ``next_store``: ``next_stored_chunk_idx``, ``seen``: the
    block indices the request touched in the tier, see ``_touch``). ``stats``: vLLM's
    ``connector_prefix_cache_stats`` (``external_prefix_cache_queries``/``hits``)."""

    def __init__(self, num_chunks: int, block_size: int,
                 transfer_time: Callable[[int], float], offload_prompt_only: bool = True):
        self.tier = CPUTier(num_chunks)
        self.bs, self.transfer_time, self.prompt_only = block_size, transfer_time, offload_prompt_only
        self.stats = PrefixCacheStats()

    def lookup(self, r: Any, local_blocks: int, now: float) -> tuple[int | None, float | None]:
        """``get_num_new_matched_tokens`` after a GPU hit of ``local_blocks``: (tokens to load,
        None) or (None, when to look again) to defer the request. Whole chunks only, at least
        one, up to every token (no last-token cap: ``_lookup_complete_chunks``)."""
        nkeys = r.num_tokens // self.bs
        if nkeys <= local_blocks or r.block_hashes[local_blocks] not in self.tier.chunks:
            return 0, None                  # (the usual miss, without a slice and a call)
        n, retry = self.tier.lookup(r.block_hashes[local_blocks:nkeys], now)
        if n and retry is not None:
            return None, max(retry, now)
        return n * self.bs, None

    def start_load(self, r: Any, local_blocks: int, ext_tokens: int, now: float) -> None:
        """``update_state_after_alloc``: the load job, from ``now``; CHUNK_LEVEL sets
        ``next_stored_chunk_idx`` past the hit."""
        n = ext_tokens // self.bs
        keys = r.load_keys = r.block_hashes[local_blocks:local_blocks + n]
        r.load_done_s = now + self.transfer_time(ext_tokens)
        self.tier.pin(keys, r.load_done_s)
        _touch(r, local_blocks, local_blocks + n)
        r.next_store = local_blocks + n

    def finish_load(self, r: Any) -> None:
        """``complete_load`` (reported with the request's ``finished_recving``)."""
        self.tier.unpin(r.load_keys)
        r.load_done_s, r.load_keys = None, ()

    def offer(self, r: Any, tokens: int, now: float, start_s: float) -> None:
        """``_build_store_jobs``: the full blocks of the first ``tokens`` (prompt blocks only by
        default) from ``next_stored_chunk_idx`` on, held by the request; the copy starts at
        ``start_s``. A failed store (no room) is offered again next time."""
        if self.prompt_only and tokens > r.num_prompt_tokens:
            tokens = r.num_prompt_tokens
        upto, start = tokens // self.bs, r.next_store
        if upto <= start:
            return
        if upto > len(r.blocks):
            upto = len(r.blocks)
            if upto <= start:
                return
        keys = r.block_hashes[start:upto]
        new, existing, ok = self.tier.prepare_store(
            keys, now, start_s + self.transfer_time(len(keys) * self.bs))
        if len(new) + len(existing) == len(keys):
            if r.seen.__class__ is int and start <= r.seen:     # (_touch's usual case)
                r.seen = max(r.seen, upto)
            else:
                _touch(r, start, upto)
        else:                               # keys another request is storing: not touched
            marked = set(new).union(existing)
            _touch(r, start, start)         # (as a set)
            r.seen.update(i for i, k in enumerate(keys, start) if k in marked)
        if ok:
            r.next_store = upto

    def request_finished(self, r: Any, now: float) -> None:
        """``request_finished`` and the next step's stores for it (its blocks up to
        ``max(prompt, num_tokens - 1)``), then ``on_request_finished``: the LRU refresh."""
        self.offer(r, max(r.num_prompt_tokens, r.num_tokens - 1), now, now)
        seen = r.seen
        self.tier.request_finished(r.block_hashes[:seen] if seen.__class__ is int else
                                   list(map(r.block_hashes.__getitem__, sorted(seen))))

    def counters(self) -> dict[str, int]:
        t = self.tier
        return {"cpu_chunks_stored": t.stored, "cpu_chunks_evicted": t.evicted,
                "cpu_chunks_loaded": t.loaded, "cpu_store_failures": t.store_failures}
