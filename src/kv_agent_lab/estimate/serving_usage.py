"""The serving simulator's KV-usage samples and its run summary (counters in vLLM's names, KV
capacity and usage): ``UsageReport``, mixed into ``serving.ServingSimulator``.
"""

from __future__ import annotations

import math

from .kv_cache_manager import PrefixCacheStats
from .serving_records import ServingResult, _Req


class UsageReport:
    """``_sample``: a KV-usage / running / waiting sample at most every ``sample_interval_s``;
    ``_result``: the ``ServingResult`` of a finished run."""

    def _sample(self, t: float) -> None:
        if t < self.next_sample:
            return
        pool = self.pool
        self.samples.append({
            "t_s": round(t, 6),
            "kv_cache_usage": round(1.0 - pool.num_free / (pool.num_blocks - 1), 6),
            "running": len(self.dec) + len(self.others),
            "waiting": len(self.waiting) + len(self.holding)})
        step = self.cfg.sample_interval_s
        self.next_sample = (math.floor(t / step) + 1) * step if step > 0 else t

    def _result(self, reqs: list[_Req]) -> ServingResult:
        s, conn = self.mgr.stats, self.conn
        ext = conn.stats if conn is not None else PrefixCacheStats()
        counters = {
            "prefix_cache_queries": s.queries, "prefix_cache_hits": s.hits,
            "prompt_tokens_cached": sum(r.cached for r in reqs),
            "prompt_tokens": sum(r.num_prompt_tokens for r in reqs),
            "generation_tokens": sum(r.num_output_tokens for r in reqs),
            "preemptions": self.preemptions, "requests_success": len(reqs),
            "external_prefix_cache_queries": ext.queries,
            "external_prefix_cache_hits": ext.hits,
            "preempted_prefix_cache_queries": s.preempted_queries,
            "preempted_prefix_cache_hits": s.preempted_hits, "steps": self.steps}
        if conn is not None:
            counters.update(conn.counters())
        start = min((r.arrival_s for r in reqs), default=0.0)
        duration = max((r.finish_s for r in reqs), default=0.0) - start
        usable = self.pool.num_blocks - 1
        kv = {"num_blocks": self.pool.num_blocks, "block_size": self.bs,
              "peak_usage": round(self.kv_peak / usable, 6),
              "mean_usage": round(self.kv_area / usable / duration, 6) if duration > 0 else 0.0,
              "cpu_chunks": conn.tier.capacity if conn is not None else None,
              "duration_s": duration}
        if not self.samples or self.samples[-1]["t_s"] < round(self.t, 6):
            self.next_sample = 0.0
            self._sample(self.t)
        return ServingResult(reqs, counters, kv, self.samples)
