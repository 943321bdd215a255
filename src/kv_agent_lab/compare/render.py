"""Markdown for people: a comparison's verdicts and tables, a parity table.

Pure functions of the JSON documents, so a report built later (the pipeline's report.md)
renders the same text from the stored JSON without recomputing anything.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from .verdict import number

LATENCY_NAMES = {"ttft_s": "TTFT", "tpot_s": "TPOT", "e2e_s": "end-to-end"}


def _seconds(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.3f} s"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def _plain(value: float | None) -> str:
    return "–" if value is None else number(value)


def _delta_cells(item: Mapping[str, Any], show: Callable[[float | None], str],
                 points: bool) -> list[str]:
    """Δ, Δ% and the interval: for shares the interval is in percentage points, else in %
    (or in the metric's unit when the relative delta is undefined)."""
    delta = item["delta"]
    if points:
        delta_text = "–" if delta is None else f"{delta * 100:+.1f} pp"
    else:
        delta_text = "–" if delta is None else ("+" if delta >= 0 else "-") + show(abs(delta))
    relative = item["relative_delta"]
    relative_text = "–" if relative is None else f"{relative * 100:+.1f}%"
    ci = item["ci"]
    if points and ci["delta"]:
        interval = f"{ci['delta'][0] * 100:+.1f} to {ci['delta'][1] * 100:+.1f} pp"
    elif ci["relative_delta"]:
        interval = f"{ci['relative_delta'][0] * 100:+.1f}% to {ci['relative_delta'][1] * 100:+.1f}%"
    elif ci["delta"]:
        interval = f"{show(ci['delta'][0])} to {show(ci['delta'][1])}"
    elif item["interval"].startswith("none: one value per run"):
        interval = "– (one value per run)"
    else:
        interval = item["interval"]
    mark = " *" if item["significant"] else ""
    return [delta_text, relative_text, interval + mark]


def _group_table(body: Mapping[str, Any], base: str, cand: str) -> list[str]:
    lines = [f"| metric | {base} | {cand} | Δ | Δ% | 95% CI | n |",
             "|---|---:|---:|---:|---:|---|---:|"]

    def row(name: str, item: Mapping[str, Any], show: Callable, points: bool = False) -> None:
        n = item["n"]
        n_text = "–" if n is None else (str(n["baseline"]) if n["baseline"] == n["candidate"]
                                         else f"{n['baseline']}/{n['candidate']}")
        cells = [name, show(item["baseline"]), show(item["candidate"]),
                 *_delta_cells(item, show, points), n_text]
        lines.append("| " + " | ".join(cells) + " |")

    metrics = body["metrics"]
    for field, label in LATENCY_NAMES.items():
        for statistic, item in metrics[field].items():
            row(f"{label} {statistic}", item, _seconds)
    row("hit rate", metrics["hit_rate"]["value"], _share, points=True)
    row("requests/s", metrics["throughput"]["requests_per_s"], _plain)
    row("output tokens/s", metrics["throughput"]["output_tokens_per_s"], _plain)
    if "kv_usage" in metrics:
        row("KV usage peak", metrics["kv_usage"]["peak"], _share, points=True)
        row("KV usage mean (time-weighted)", metrics["kv_usage"]["time_weighted_mean"], _share,
            points=True)
    if "preemptions" in metrics:
        row("preemptions", metrics["preemptions"]["count"], _plain)
    return lines


def _excluded(requests: Mapping[str, Any]) -> str:
    reasons = {k.replace("_", " "): v for k, v in requests["excluded"].items() if v}
    compared = requests["compared"]
    head = (f"{compared} requests ok in both runs compared" if compared is not None else
            f"{requests['baseline']['ok']} and {requests['candidate']['ok']} ok requests compared")
    if not reasons:
        return head + "; none excluded."
    listed = ", ".join(f"{v} {k}" for k, v in reasons.items())
    return f"{head}; excluded (status error): {listed}."


def render_markdown(comparison: Mapping[str, Any]) -> str:
    """The comparison as markdown: inputs, method, verdicts, one table per group."""
    base, cand, method = comparison["baseline"], comparison["candidate"], comparison["method"]
    lines = [f"# {cand['label']} against {base['label']}", ""]
    for role, run in (("baseline", base), ("candidate", cand)):
        lines.append(f"- {role}: `{run['path']}` ({run['kind']}, mode {run['mode']}, target "
                     f"{run['target']}, workload {run['workload']['name']} "
                     f"{run['workload']['sha256'][:12]})")
    design = "paired" if method["paired"] else "independent"
    lines += ["", f"Method: {design} percentile bootstrap, {method['resamples']} resamples, seed "
              f"{method['seed']}, {method['confidence'] * 100:g}% intervals; {method['pairing']}. "
              f"Latency and hit rate over {method['latency_requests']}; throughput, KV usage and "
              "preemptions are one value per run (no interval). `*`: the interval of the delta "
              "excludes zero.", "", "## Verdicts", ""]
    lines += [f"- **{v['group']}**: {v['text']}" for v in comparison["verdicts"]]
    groups = {"overall": comparison["groups"]["overall"], **comparison["groups"]["classes"]}
    for name, body in groups.items():
        lines += ["", f"## {name}", "", _excluded(body["requests"]), ""]
        lines += _group_table(body, base["label"], cand["label"])
    only = comparison["classes_only_in"]
    if only["baseline"] or only["candidate"]:
        lines += ["", f"Not compared (in one run only): {base['label']}: "
                  f"{', '.join(only['baseline']) or 'none'}; {cand['label']}: "
                  f"{', '.join(only['candidate']) or 'none'}."]
    return "\n".join(lines) + "\n"


def render_parity_markdown(parity: Mapping[str, Any]) -> str:
    """The estimate's error table: one row per group, estimate / live / error per column."""
    est, live = parity["estimate"], parity["live"]
    columns = (("hit_rate", "hit rate", _share, "error_pp"),
               ("ttft_mean_s", "TTFT mean", _seconds, "error_pct"),
               ("ttft_p50_s", "TTFT p50", _seconds, "error_pct"),
               ("requests_per_s", "requests/s", _plain, "error_pct"),
               ("output_tokens_per_s", "output tokens/s", _plain, "error_pct"))
    lines = [f"# Estimate against live: {est['workload']['name']}, mode {est['mode']}", "",
             f"- estimate: `{est['path']}` (target {est['target']})",
             f"- live: `{live['path']}` (target {live['target']})", "",
             "Each cell: estimate / live (error). Error = estimate - live: percentage points for "
             "the hit rate, % of the live value otherwise; positive means the estimate is too "
             "high. Hit rate and TTFT over the requests ok in both runs.", "",
             "| group | requests | " + " | ".join(c[1] for c in columns) + " |",
             "|---|---:|" + "---:|" * len(columns)]
    groups = {"overall": parity["groups"]["overall"], **parity["groups"]["classes"]}
    for name, row in groups.items():
        cells = [name, str(row["requests"]["compared"])]
        for key, _, show, error_key in columns:
            cell, error = row[key], row[key][error_key]
            unit = " pp" if error_key == "error_pp" else "%"
            error_text = "–" if error is None else f"{error:+.1f}{unit}"
            cells.append(f"{show(cell['estimate'])} / {show(cell['live'])} ({error_text})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
