"""The serving simulator's waiting phase (step 2 and 3 of ``serving.py``'s docstring): FCFS
admission with GPU prefix lookup, CPU-tier lookup and asynchronous load, under the admission
gate. ``Admission`` holds these methods for ``serving.ServingSimulator`` (whose state they read:
``holding``, ``waiting``, ``others``, ``dec``, ``inflight``, ``mgr``, ``pool``, ``conn``, and its
``_grow``).
"""

from __future__ import annotations

from .serving_records import _Req


class Admission:
    """``Scheduler.schedule``'s WAITING loop and ``_update_waiting_for_remote_kv`` (mixed into
    ``serving.ServingSimulator``)."""

    def _admit(self, t: float, budget: int, sched: list[tuple[_Req, int]]) -> bool:
        """The waiting phase. True when it ended because nothing more can be admitted now
        (not for lack of budget); ``self.wake``: when a skipped request may go."""
        bs, mgr, pool, conn = self.bs, self.mgr, self.pool, self.conn
        holding, waiting, others = self.holding, self.waiting, self.others
        max_seqs = self.cfg.max_num_seqs
        skip_hold: list[_Req] = []
        skip_wait: list[_Req] = []
        blocked = False
        while budget > 0:
            q = holding if holding else waiting
            if not q or len(self.dec) + len(others) >= max_seqs:
                blocked = True
                break
            r = q[0]
            if r.load_done_s is not None:                   # WAITING_FOR_REMOTE_KVS
                if r.load_done_s > t:
                    skip_hold.append(q.popleft())
                    self.wake = min(self.wake, r.load_done_s)
                    continue
                self._loaded(r)
            if r.num_computed_tokens == 0:
                hit = mgr.find_longest_cache_hit(r.block_hashes, r.num_tokens)
                local, ext = len(hit) * bs, 0
                if conn is not None:
                    ext, retry = conn.lookup(r, len(hit), t)
                    if ext is None:
                        (skip_hold if q is holding else skip_wait).append(q.popleft())
                        self.wake = min(self.wake, retry)
                        continue
                first = r.num_preemptions == 0
                if ext:
                    if not self._admit_load(r, hit, ext, t):
                        blocked = True
                        break
                    self._record(r, local, ext, first)
                    skip_hold.append(q.popleft())
                    self.wake = min(self.wake, r.load_done_s)
                    continue
                n = min(r.num_tokens - local, budget)
                if not mgr.allocate(r, n, hit, full_sequence_must_fit=True):
                    blocked = True
                    break
                self._record(r, local, 0, first)
                r.num_computed_tokens = local
            else:                                           # loaded: the rest of the prompt
                n = min(r.num_tokens - r.num_computed_tokens, budget)
                if -(-r.num_tokens // bs) - len(r.blocks) > pool.num_free:
                    blocked = True
                    break
                self._grow(r, r.num_computed_tokens + n)
            q.popleft()
            others.append(r)
            self.seq += 1
            r.seq = self.seq
            if r.sched_s is None:
                r.sched_s = t
            r.computed += r.num_tokens - r.num_computed_tokens
            sched.append((r, n))
            budget -= n
        if skip_hold:
            holding.extendleft(reversed(skip_hold))
        if skip_wait:
            waiting.extendleft(reversed(skip_wait))
        return blocked

    def _record(self, r: _Req, local: int, ext: int, first: bool) -> None:
        if self.caching:
            self.mgr.stats.record(r.num_tokens, local, not first)
        if self.conn is not None:
            self.conn.stats.record(r.num_tokens - local, ext, not first)
        if first:
            r.cached, r.loaded = local + ext, ext

    def _admit_load(self, r: _Req, hit: list[int], ext: int, t: float) -> bool:
        """``allocate_slots(..., num_external_computed_tokens=ext, delay_cache_blocks=True,
        reserved_blocks=_inflight_prefill_reserved_blocks())``, then the load job."""
        bs, pool = self.bs, self.pool
        evictable = sum(1 for b in hit if pool.ref_cnt[b] == 0)
        gate = -(-r.num_tokens // bs) - len(hit) + evictable
        new = ext // bs
        reserved = sum(max(-(-q.num_tokens // bs) - len(q.blocks), 0) for q in self.inflight)
        if gate > pool.num_free or new + evictable > pool.num_free - reserved:
            return False
        pool.touch(hit)
        r.blocks.extend(hit)
        r.num_cached_blocks = len(hit)
        r.blocks.extend(pool.get_new_blocks(new))
        r.num_computed_tokens = len(hit) * bs + ext
        self.conn.start_load(r, len(hit), ext, t)
        self.inflight.add(r)
        return True

    def _loaded(self, r: _Req) -> None:
        """``_update_waiting_for_remote_kv``: cache the loaded blocks; a hit of every token
        recomputes the last one."""
        if self.caching:
            full = min(r.num_computed_tokens, r.num_tokens) // self.bs
            if full > r.num_cached_blocks:
                self.pool.cache_full_blocks(r.blocks, r.block_hashes, r.num_cached_blocks, full)
                r.num_cached_blocks = full
        if r.num_computed_tokens == r.num_tokens:
            r.num_computed_tokens -= 1
        self.conn.finish_load(r)
