"""Speed of the vLLM-exact prefix-cache accounting on the Mooncake conversation trace.

Sequential replay (``replay_sequential``: each request alone, to completion) of the 12,031
requests of ``conversation_trace.jsonl``, accounting only: the JSON parsing and the building of
``SimRequest``s are timed apart. Target: >= 100,000 requests/s on one core.

Block size and capacity: the trace names one chained id per 512 prompt tokens, so one trace id
is one vLLM block of 512 tokens (a finer block size cannot be reconstructed: the ids do not say
which parts of two differing 512-token blocks agree). The partial last prompt block's id is
dropped (vLLM hashes full blocks only); output blocks get ids nothing else matches. A capacity
of C tokens is ``num_gpu_blocks = C // 512`` (vLLM floors bytes / page size the same way), of
which one is vLLM's null block: 3,000,000 tokens -> 5,859 blocks -> 5,858 hold KV.

    .venv/bin/python benchmarks/prefix_cache_speed.py [--capacity-tokens 3000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from kv_agent_lab.estimate.prefix_cache import SimRequest, replay_sequential

TRACE = Path(__file__).resolve().parents[2] / "shared/data/mooncake/conversation_trace.jsonl"
TRACE_BLOCK = 512


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", type=Path, default=TRACE)
    ap.add_argument("--capacity-tokens", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=5, help="best of N timed replays")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):  # one core, literally: the highest one, since vLLM's
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # CPU worker binds from core 0

    rows = [json.loads(line) for line in args.trace.open()]
    t0 = time.perf_counter()
    reqs = [SimRequest.from_block_ids(r["input_length"], r["output_length"], r["hash_ids"],
                                      TRACE_BLOCK, i) for i, r in enumerate(rows)]
    t_build = time.perf_counter() - t0
    num_blocks = args.capacity_tokens // TRACE_BLOCK
    print(f"trace: {len(reqs):,} requests; block size {TRACE_BLOCK}; capacity "
          f"{args.capacity_tokens:,} tokens -> num_gpu_blocks {num_blocks:,} "
          f"({num_blocks - 1:,} hold KV, one is vLLM's null block)")
    print(f"building SimRequests: {len(reqs) / t_build:,.0f} requests/s (not part of accounting)")
    for caching in (True, False):
        best, res = float("inf"), None
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            res = replay_sequential(reqs, num_blocks, TRACE_BLOCK, enable_caching=caching)
            best = min(best, time.perf_counter() - t0)
        s = res.stats
        cached = sum(c for _, c in res.per_request)
        prompt = sum(p for p, _ in res.per_request)
        label = "prefix caching on " if caching else "prefix caching off"
        print(f"{label}: {len(reqs) / best:,.0f} requests/s (best of {args.repeat}, "
              f"{best * 1e3:.1f} ms); hit rate {cached / prompt:.4f} = {cached:,} cached / "
              f"{prompt:,} prompt tokens; vLLM counters queries={s.queries:,} hits={s.hits:,}")


if __name__ == "__main__":
    main()
