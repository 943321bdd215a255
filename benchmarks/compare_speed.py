"""How long ``kvlab compare``'s bootstrap takes: 10,000 resamples, paired and independent.

    python benchmarks/compare_speed.py                       # synthetic reports, 500..4000 requests
    python benchmarks/compare_speed.py A.json B.json         # two reports of your own

Synthetic reports have three classes, so each request is resampled twice (overall and its
class). Times exclude the schema check of the inputs (``check=False``; ``load_report``
checks once). Prints wall and CPU seconds per comparison, best of three.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from kv_agent_lab.compare import compare_reports, load_report
from kv_agent_lab.report import summarize


def synthetic(n: int, scale: float, seed: int, sha: str, mode: str) -> dict:
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        ttft, tpot, out = float(rng.lognormal(-3, 0.5)) * scale, float(rng.lognormal(-5, 0.2)), 200
        records.append({"id": f"r{i}", "session": f"s{i}", "turn": 1, "class": "abc"[i % 3],
                        "status": "ok", "prompt_tokens": 3000, "cached_tokens": 2800 if scale < 1 else 0,
                        "completion_tokens": out, "send_time_s": i * 0.1, "ttft_s": ttft,
                        "tpot_s": tpot, "e2e_s": ttft + tpot * (out - 1)})
    return {"schema_version": 1, "kind": "estimate", "mode": mode, "target": "t",
            "workload": {"name": "w", "path": "w.jsonl", "sha256": sha},
            "provenance": {"lab_version": "0", "host": "h", "started_at": "", "finished_at": ""},
            "requests": records, "summary": summarize(records)}


def timed(baseline: dict, candidate: dict) -> tuple[float, float]:
    best = (float("inf"), float("inf"))
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        compare_reports(baseline, candidate, seed=0, resamples=10_000, check=False)
        best = min(best, (time.perf_counter() - wall, time.process_time() - cpu))
    return best


def main(argv: list[str]) -> None:
    if len(argv) == 2:
        baseline, candidate = load_report(argv[0]), load_report(argv[1])
        wall, cpu = timed(baseline, candidate)
        print(f"{argv[0]} vs {argv[1]} ({len(baseline['requests'])} requests): "
              f"{wall:.3f} s wall, {cpu:.3f} s CPU")
        return
    print("requests  design       wall_s  cpu_s")
    for n in (500, 1000, 2000, 4000):
        base = synthetic(n, 1.0, 1, "a" * 64, "baseline")
        for design, sha in (("paired", "a" * 64), ("independent", "b" * 64)):
            wall, cpu = timed(base, synthetic(n, 0.6, 2, sha, "prefix_reuse"))
            print(f"{n:8d}  {design:11s}  {wall:6.3f}  {cpu:5.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
