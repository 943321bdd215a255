"""``results/report.md``: the summary as a platform team reads it.

Order: the headline (what prefix reuse changes, with its interval), the workloads, the runs
per target, the comparisons per class, where the cache runs out, the estimate against live,
then provenance. Every table names its unit; every number comes from ``summary.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .sections import render_comparisons, render_headline, render_parity

MODE_ORDER = ("baseline", "prefix_reuse", "cpu_offload")


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{1000 * value:.1f}" if value < 10 else f"{1000 * value:,.0f}"


def num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}f}"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], align: str | None = None) -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    marks = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(marks) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _mode_key(run: Mapping[str, Any]) -> tuple:
    mode = run["mode"]
    return (MODE_ORDER.index(mode) if mode in MODE_ORDER else len(MODE_ORDER), mode)


def render_workloads(workloads: Sequence[Mapping[str, Any]]) -> list[str]:
    if not workloads:
        return []
    lines = ["## The workloads", "",
             "Prompt sizes in tokens; *ideal hit rate*: the share of prompt tokens an unbounded "
             "prefix cache could serve from cache (vLLM's block rules), the ceiling for every "
             "run below.", ""]
    rows = []
    for w in workloads:
        for cls, group in [("all", w["overall"]), *w["classes"].items()]:
            rows.append([w["name"] if cls == "all" else "", cls, str(group["requests"]),
                         str(group["sessions"]), num(group["prompt_tokens_p50"], 0),
                         pct(group["ideal_hit_rate"])])
    return lines + table(["workload", "class", "requests", "sessions", "prompt p50 (tokens)",
                          "ideal hit rate"], rows, "llrrrr")


def render_runs(runs: Sequence[Mapping[str, Any]], title: str) -> list[str]:
    if not runs:
        return []
    lines = [f"## {title}", "",
             "Per target and workload, one row per mode. Latencies in ms; hit rate: cached / "
             "prompt tokens; KV peak: the most of the KV cache in use at once.", ""]
    by_target: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for run in runs:
        by_target.setdefault((run["kind"], run["target"]), []).append(run)
    for (kind, target), group in sorted(by_target.items()):
        lines += [f"### {kind}: {target}", ""]
        rows = []
        for run in sorted(group, key=lambda r: (r["workload"], _mode_key(r))):
            o = run["overall"]
            rows.append([run["workload"], run["mode"], f"{o['ok']}/{o['requests']}",
                         pct(o["hit_rate"]), pct(run.get("ideal_hit_rate")),
                         ms(o["ttft_p50_s"]), ms(o["ttft_p90_s"]), ms(o["tpot_p50_s"]),
                         ms(o["e2e_p50_s"]), num(o["requests_per_s"]),
                         num(run.get("preemptions"), 0), pct(run.get("kv_usage_peak"))])
        lines += table(["workload", "mode", "ok", "hit rate", "ideal", "TTFT p50", "TTFT p90",
                        "TPOT p50", "e2e p50", "req/s", "preemptions", "KV peak"], rows, "llrrrrrrrrrr")
        lines += _offload_notes(group)
    return lines


def _offload_notes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Say why cpu_offload equals prefix_reuse where it does, so nobody reads it as a result
    about offloading: the CPU tier only serves blocks the GPU cache evicted."""
    by_key = {(r["workload"], r["mode"]): r for r in runs}
    same = []
    for (workload, mode), run in sorted(by_key.items()):
        other = by_key.get((workload, "prefix_reuse"))
        if mode != "cpu_offload" or other is None:
            continue
        if run["overall"] == other["overall"] and (run.get("kv_usage_peak") or 0) < 1:
            same.append(f"{workload} (KV peak {pct(other.get('kv_usage_peak'))})")
    if not same:
        return []
    return [f"cpu_offload = prefix_reuse for {', '.join(same)}: the GPU KV cache never filled, "
            "so nothing was evicted for the CPU tier to keep. The capacity sweeps below show "
            "where the cache runs out.", ""]


def render_capacity(capacity: Sequence[Mapping[str, Any]]) -> list[str]:
    if not capacity:
        return []
    policies = sorted({name for c in capacity for name in c["policies"]},
                      key=lambda n: (n != "lru", n == "oracle", n))
    lines = ["## Where the cache runs out", "",
             "From the capacity sweeps: the smallest KV capacity (tokens, and % of the working "
             f"set) at which each retention policy reaches 90% of the ideal hit rate. `lru` is "
             "vLLM's own eviction; `oracle` (Belady, knows the future) is a bound, not a policy "
             "a server can run. Mean gain: hit-rate points over LRU, averaged over the sweep.", ""]
    rows = []
    for c in sorted(capacity, key=lambda c: c["source"]):
        row = [c["source"], num(c["working_set_tokens"], 0), pct(c["ideal_hit_rate"])]
        for name in policies:
            policy = c["policies"].get(name)
            enough = policy and policy["enough"]
            cell = ("not reached" if policy else "–") if not enough else \
                f"{num(enough['capacity_tokens'], 0)} ({pct(enough['capacity_fraction'], 0)})"
            gain = policy and policy.get("mean_gain_over_lru")
            if gain is not None and name != "lru":
                cell += f", {100 * gain:+.1f} pt"
            row.append(cell)
        rows.append(row)
    return lines + table(["input", "working set (tokens)", "ideal hit rate",
                          *[f"{name}: enough at" for name in policies]], rows)


def render_charts(charts: Sequence[str], report_path: str | Path) -> list[str]:
    if not charts:
        return []
    base = Path(report_path).parent
    lines = ["## Charts", "", "How to read each one: [docs/reading-guide.md]"
             f"({os.path.relpath('docs/reading-guide.md', base)}).", ""]
    for chart in sorted(charts):
        lines.append(f"- [{chart}]({os.path.relpath(chart, base)})")
    return lines + [""]


def render_provenance(summary: Mapping[str, Any]) -> list[str]:
    lines = ["## Provenance", "",
             f"kv-agent-lab {summary['lab_version']}, git commit "
             f"`{summary.get('git_commit') or 'unknown'}`. Inputs (sha256):", ""]
    lines += [f"- `{i['path']}` `{i['sha256'][:16]}`" for i in summary["inputs"]]
    return lines + [""]


def render_report(summary: Mapping[str, Any], *, report_path: str | Path = "results/report.md",
                  charts: Sequence[str] = (), title: str = "What prefix reuse buys these workloads") -> str:
    lines = [f"# {title}", "",
             "Generated by `kvlab summarize` from the pipeline's outputs; do not edit by hand "
             "(`snakemake` rewrites it whenever a workload or a setting changes). The numbers "
             "are in `summary.json` beside this file.", ""]
    lines += render_headline(summary)
    lines += render_workloads(summary["workloads"])
    estimates = [r for r in summary["runs"] if r["kind"] == "estimate"]
    live = [r for r in summary["runs"] if r["kind"] == "live"]
    lines += render_runs(live, "Live runs")
    lines += render_runs(estimates, "Estimates (simulated vLLM)")
    lines += render_comparisons(summary["comparisons"])
    lines += render_capacity(summary["capacity"])
    lines += render_parity(summary["parity"])
    lines += render_charts(charts, report_path)
    lines += render_provenance(summary)
    return "\n".join(lines).rstrip() + "\n"
