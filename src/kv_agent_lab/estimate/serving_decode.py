"""The serving simulator's decoding group and its runs of decode-only steps (``serving.py``).

Speed. Running order is admission order, so the requests that are decoding form a prefix of it
(a request admitted after a prefilling one implies that one finished its prefill in that step).
That prefix is kept as a group that advances one token a step without a per-request loop: the
step-time sums are kept incrementally, each member's next block allocation and its finish sit in
heaps keyed by step, and its computed-token count is ``c0 + (G - g0)``. A member is written back
(``_materialize``) when it finishes, is preempted, or when a step needs the exact per-request
loop (a decode cannot get its block: preemption). The blocks members fill are hashed from a third
heap, in vLLM's order, before any lookup or free can see them. Runs of decode-only steps with
nothing to admit are advanced at once (``_stretch``), their times from a few step-time
evaluations (exact when the step time is convex piecewise linear in the decode context, as the
roofline's max of two affine terms is).

``DecodeGroup`` holds these methods for ``serving.ServingSimulator`` (whose state they read:
``G``, ``dec``, ``s_dec``, the three heaps, ``pool``); ``_decode_run`` times a run of decode
steps.
"""

from __future__ import annotations

import heapq
import math

from .serving_records import INF, StepTime, _Req


class DecodeGroup:
    """The decoding prefix of the running queue, advanced without a per-request loop (mixed
    into ``serving.ServingSimulator``)."""

    def _join(self, r: _Req) -> None:
        """Add a request whose next step is a decode to the group (at the end of the order)."""
        bs, G = self.bs, self.G
        c = r.num_computed_tokens
        r.g0, r.c0 = G, c
        self.dec[r] = None
        self.s_dec += c
        heapq.heappush(self.alloc_heap, (G + len(r.blocks) * bs - c, r.seq, r.epoch, r))
        out = r.num_tokens - r.num_prompt_tokens
        heapq.heappush(self.fin_heap, (G + r.num_output_tokens - 1 - out, r.seq, r.epoch, r))
        if self.caching:                    # the step that fills its next block hashes it
            heapq.heappush(self.hash_heap,
                           (G + (r.num_cached_blocks + 1) * bs - 1 - c, r.seq, r.epoch, r))

    def _flush_hashes(self, tick: int) -> None:
        """Hash the blocks members filled up to step ``tick``, in vLLM's order (step, then
        running order): before anything can look them up or free them."""
        heap, pool, bs = self.hash_heap, self.pool, self.bs
        while heap and heap[0][0] <= tick:
            when, seq, epoch, r = heapq.heappop(heap)
            if epoch == r.epoch:
                j = r.num_cached_blocks
                pool.cache_full_blocks(r.blocks, r.block_hashes, j, j + 1)
                r.num_cached_blocks = j + 1
                heapq.heappush(heap, (when + bs, seq, epoch, r))

    def _materialize(self, r: _Req) -> None:
        """Write a member's state back and take it out of the group."""
        c = r.c0 + self.G - r.g0
        r.num_computed_tokens, r.num_tokens = c, c + 1
        if self.caching and c // self.bs > r.num_cached_blocks:
            self.pool.cache_full_blocks(r.blocks, r.block_hashes, r.num_cached_blocks,
                                        c // self.bs)
            r.num_cached_blocks = c // self.bs
        del self.dec[r]
        self.s_dec -= c
        r.epoch += 1                        # its heap entries are stale now

    def _allocs_due(self, tick: int) -> list[_Req]:
        """Members that need a new block at step ``tick`` (popped; in running order)."""
        heap, due = self.alloc_heap, []
        while heap and heap[0][0] <= tick:
            _, _, epoch, r = heapq.heappop(heap)
            if epoch == r.epoch:
                due.append(r)
        return due

    def _give_blocks(self, due: list[_Req], tick: int) -> None:
        ids = self.pool.get_new_blocks(len(due))
        bs, heap = self.bs, self.alloc_heap
        for r, b in zip(due, ids):
            r.blocks.append(b)
            heapq.heappush(heap, (tick + bs, r.seq, r.epoch, r))

    def _finishing(self, tick: int) -> list[_Req]:
        heap, out = self.fin_heap, []
        while heap and heap[0][0] <= tick:
            _, _, epoch, r = heapq.heappop(heap)
            if epoch == r.epoch:
                out.append(r)
        return out

    @staticmethod
    def _decoding(r: _Req) -> bool:
        return (r.num_tokens - r.num_computed_tokens == 1
                and r.num_tokens > r.num_prompt_tokens and r.finish_s is None)

    def _stretch(self, t: float, limit: float) -> bool:
        """Advance k >= 2 decode-only steps at once; False (nothing done) when not possible."""
        G, n = self.G, len(self.dec)
        if n > self.cfg.max_num_batched_tokens:
            return False
        fin = self.fin_heap
        while fin and fin[0][2] != fin[0][3].epoch:
            heapq.heappop(fin)
        k_cap = fin[0][0] - G + 1 if fin else 1 << 62
        if k_cap < 2:
            return False
        k, dt = _decode_run(self.step_time, n, self.s_dec, k_cap, limit - t)
        if k < 2:
            return False
        used0 = self.pool.num_blocks - 1 - self.pool.num_free
        heap, free = self.alloc_heap, self.pool.num_free
        while heap and heap[0][0] < G + k:           # the blocks the decodes fill, step by step
            tick = heap[0][0]
            due = self._allocs_due(tick)
            if len(due) > free:
                for r in due:
                    heapq.heappush(heap, (tick, r.seq, r.epoch, r))
                k = tick - G
                if k < 2:                   # step G's blocks (if k == 1) are handed out
                    if k:
                        self._step(t)
                    return bool(k)
                k, dt = _decode_run(self.step_time, n, self.s_dec, k, INF)
                break
            self._give_blocks(due, tick)
            free -= len(due)
        self.G = G + k
        self.s_dec += k * n
        used1 = self.pool.num_blocks - 1 - self.pool.num_free
        self.kv_peak = max(self.kv_peak, used1)
        self.kv_area += 0.5 * (used0 + used1) * dt
        self.steps += k
        self.t = t + dt
        finished = self._finishing(G + k - 1)
        if finished:
            self._finish_all(finished, self.t)
        self._sample(self.t)
        return True


def _decode_run(step_time: StepTime, n: int, s0: int, kmax: int,
                budget: float) -> tuple[int, float]:
    """Steps (at most ``kmax``) of ``n`` decodes from total context ``s0`` that start before
    ``budget`` seconds, and their total time. Step j's context is s0 + j n. Over a run where the
    step time is affine (tested at the midpoint: exact for a convex function) the time of i
    steps is a closed form and the cut-off a quadratic's root."""

    def f(j: int) -> float:
        return step_time(0, 0, 0, n, n, s0 + j * n, 0)

    j, elapsed = 0, 0.0
    while j < kmax and elapsed < budget:
        fa, end = f(j), kmax - 1
        fb = f(end) if end > j else fa
        while end - j > 1:
            mid = (j + end) // 2
            line = fa + (fb - fa) * (mid - j) / (end - j)
            fm = f(mid)
            if abs(fm - line) <= 1e-9 * abs(line):
                break
            end, fb = mid, fm
        length = end - j + 1
        d = (fb - fa) / (end - j) if end > j else 0.0

        def seg(i: int) -> float:             # the first i steps of this run
            return i * fa + d * i * (i - 1) / 2

        room = budget - elapsed
        if seg(length - 1) < room:            # every step of the run starts in time
            elapsed += seg(length)
            j += length
            continue
        a, b = d / 2, fa - d / 2              # first i with a i^2 + b i >= room
        if abs(a) < 1e-300:
            i = math.ceil(room / b)
        else:
            i = math.ceil((-b + math.sqrt(max(b * b + 4 * a * room, 0.0))) / (2 * a))
        i = max(1, min(i, length))
        while i > 1 and seg(i - 1) >= room:
            i -= 1
        while i < length and seg(i) < room:
            i += 1
        elapsed += seg(i)
        j += i
        break
    return j, elapsed

