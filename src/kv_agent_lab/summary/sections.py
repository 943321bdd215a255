"""The summary's comparison and estimate-against-live parts, and their sections of report.md.

A comparison (kv_agent_lab.compare, schemas/comparison.schema.json) is condensed to its
verdict sentences and, per class, the TTFT p50 and hit-rate entries with their intervals: what
a platform team decides on. The full comparison stays in its own file, named in the summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

KEY_METRICS = (("ttft_s", "p50"), ("ttft_s", "p90"), ("e2e_s", "p50"), ("tpot_s", "p50"))


def _entry(metrics: Mapping[str, Any], family: str, statistic: str) -> dict[str, Any] | None:
    item = (metrics.get(family) or {}).get(statistic)
    if not item:
        return None
    return {"baseline": item["baseline"], "candidate": item["candidate"], "delta": item["delta"],
            "relative_delta": item.get("relative_delta"), "ci_delta": item["ci"]["delta"],
            "ci_relative_delta": item["ci"].get("relative_delta"),
            "significant": item["significant"]}


def condense_comparison(doc: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    from .build import _field

    groups = {"overall": _field(doc, "groups.overall", path),
              **_field(doc, "groups.classes", path)}
    return {
        "path": str(path),
        "kind": _field(doc, "candidate.kind", path),
        "target": _field(doc, "candidate.target", path),
        "workload": _field(doc, "candidate.workload.name", path),
        "baseline_mode": _field(doc, "baseline.mode", path),
        "candidate_mode": _field(doc, "candidate.mode", path),
        "paired": _field(doc, "method.paired", path),
        "confidence": _field(doc, "method.confidence", path),
        "groups": {
            name: {
                "requests_compared": (group.get("requests") or {}).get("compared"),
                **{f"{family}.{stat}": _entry(group["metrics"], family, stat)
                   for family, stat in KEY_METRICS},
                "hit_rate": _entry(group["metrics"], "hit_rate", "value"),
            }
            for name, group in groups.items()
        },
        "verdicts": [{"group": v["group"], "family": v["family"], "text": v["text"],
                      "significant": v["significant"]} for v in _field(doc, "verdicts", path)],
    }


def condense_parity(doc: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    from .build import _field

    groups = {"overall": _field(doc, "groups.overall", path),
              **_field(doc, "groups.classes", path)}
    return {
        "path": str(path),
        "target": _field(doc, "live.target", path),
        "workload": _field(doc, "live.workload.name", path),
        "mode": _field(doc, "live.mode", path),
        "groups": {
            name: {
                "hit_rate_live": group["hit_rate"]["live"],
                "hit_rate_estimate": group["hit_rate"]["estimate"],
                "hit_rate_error_pp": group["hit_rate"]["error_pp"],
                "ttft_mean_error_pct": group["ttft_mean_s"]["error_pct"],
                "ttft_p50_error_pct": group["ttft_p50_s"]["error_pct"],
                "requests_per_s_error_pct": group["requests_per_s"]["error_pct"],
                "output_tokens_per_s_error_pct": group["output_tokens_per_s"]["error_pct"],
            }
            for name, group in groups.items()
        },
    }


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.0f}%"


def _ci(entry: Mapping[str, Any] | None) -> str:
    """'-41% [-47, -35]' with a star when the interval excludes zero."""
    if not entry or entry["relative_delta"] is None:
        return "–"
    text = _pct(entry["relative_delta"])
    ci = entry.get("ci_relative_delta")
    if ci:
        text += f" [{100 * ci[0]:+.0f}, {100 * ci[1]:+.0f}]"
    return text + (" *" if entry["significant"] else "")


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{1000 * value:.1f}"


def _headline_comparisons(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """prefix_reuse against baseline: live first (measured), then estimates."""
    chosen = [c for c in summary["comparisons"]
              if c["baseline_mode"] == "baseline" and c["candidate_mode"] == "prefix_reuse"]
    return sorted(chosen, key=lambda c: (c["kind"] != "live", c["target"], c["workload"]))


def render_headline(summary: Mapping[str, Any]) -> list[str]:
    from .markdown import table

    chosen = _headline_comparisons(summary)
    if not chosen:
        return []
    lines = ["## Headline: prefix reuse against no prefix cache", "",
             "prefix_reuse against baseline, all requests: the change of TTFT p50 with its 95% "
             "bootstrap confidence interval (paired per request where both ran the same "
             "workload; `*`: the interval excludes zero), and the prefix-cache hit rate "
             "achieved against the workload's ideal.", ""]
    ideal = {(r["kind"], r["target"], r["workload"]): r.get("ideal_hit_rate")
             for r in summary["runs"]}
    rows = []
    for c in chosen:
        group = c["groups"]["overall"]
        ttft, hit = group["ttft_s.p50"], group["hit_rate"]
        best = ideal.get((c["kind"], c["target"], c["workload"]))
        rows.append([c["workload"], f"{c['kind']}: {c['target']}",
                     f"{_ms(ttft and ttft['baseline'])} → {_ms(ttft and ttft['candidate'])}",
                     _ci(ttft), "–" if not hit or hit["candidate"] is None
                     else f"{100 * hit['candidate']:.1f}%",
                     "–" if best is None else f"{100 * best:.1f}%"])
    lines += table(["workload", "run", "TTFT p50 (ms)", "change [95% CI]", "hit rate",
                    "ideal"], rows, "llrrrr")
    quiet = [f"- {c['workload']} ({c['kind']}, {c['target']}): {v['text']}" for c in chosen
             for v in c["verdicts"] if v["group"] == "overall" and v["significant"] is False]
    return lines + quiet + ([""] if quiet else [])


def _groups(c: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """overall, then the classes; a lone class repeats overall and is left out."""
    groups = list(c["groups"].items())
    return groups[:1] if len(groups) == 2 else groups


def render_comparisons(comparisons: Sequence[Mapping[str, Any]]) -> list[str]:
    if not comparisons:
        return []
    from .markdown import table

    lines = ["## Comparisons per class", "",
             "Relative change of each mode against the mode it adds to (the section title "
             "names both: prefix_reuse and cpu_offload against baseline, cpu_offload against "
             "prefix_reuse for what the CPU tier adds), with the 95% bootstrap "
             "interval in brackets; `*` marks an interval that excludes zero (a significant "
             "difference). Hit rates in percentage points. Paired: requests matched by id.", ""]
    from .markdown import MODE_ORDER

    def order(c: Mapping[str, Any]) -> tuple:
        return (c["kind"] != "live", c["target"], c["workload"],
                MODE_ORDER.index(c["candidate_mode"]), MODE_ORDER.index(c["baseline_mode"]))

    for c in sorted(comparisons, key=order):
        lines += [f"### {c['workload']}: {c['candidate_mode']} vs {c['baseline_mode']} "
                  f"({c['kind']}, {c['target']}{', paired' if c['paired'] else ''})", ""]
        rows = []
        for name, group in _groups(c):
            ttft, hit = group["ttft_s.p50"], group["hit_rate"]
            hit_text = "–" if not hit or hit["delta"] is None else (
                f"{100 * hit['baseline']:.1f}% → {100 * hit['candidate']:.1f}% "
                f"({100 * hit['delta']:+.1f} pt{' *' if hit['significant'] else ''})")
            rows.append([name, str(group["requests_compared"] or "–"),
                         _ms(ttft and ttft["baseline"]), _ms(ttft and ttft["candidate"]),
                         _ci(ttft), _ci(group["ttft_s.p90"]), _ci(group["e2e_s.p50"]),
                         _ci(group["tpot_s.p50"]), hit_text])
        lines += table(["class", "requests", "TTFT p50 before (ms)", "after (ms)",
                        "TTFT p50 change", "TTFT p90 change", "e2e p50 change",
                        "TPOT p50 change", "hit rate"], rows)
        not_significant = [v["text"] for v in c["verdicts"]
                           if v["significant"] is False and v["family"] in ("ttft_s", "e2e_s")]
        lines += [f"- {text}" for text in not_significant]
        if not_significant:
            lines.append("")
    return lines


def render_parity(parity: Sequence[Mapping[str, Any]]) -> list[str]:
    if not parity:
        return []
    from .markdown import table

    lines = ["## The estimate against the live run", "",
             "The estimator set up like the live server (its block size and block count from "
             "`cache_config_info`, its model and tokenizer) against the measurement. Error = "
             "estimate − live: hit rate in percentage points, the rest relative to live.", ""]
    rows = []
    for p in sorted(parity, key=lambda p: (p["target"], p["workload"], p["mode"])):
        for name, g in _groups(p):
            live, est = g["hit_rate_live"], g["hit_rate_estimate"]
            rows.append([p["workload"], p["mode"], name,
                         "–" if live is None else f"{100 * live:.1f}%",
                         "–" if est is None else f"{100 * est:.1f}%",
                         "–" if g["hit_rate_error_pp"] is None else f"{g['hit_rate_error_pp']:+.2f} pt",
                         _pct(g["ttft_mean_error_pct"] and g["ttft_mean_error_pct"] / 100),
                         _pct(g["ttft_p50_error_pct"] and g["ttft_p50_error_pct"] / 100),
                         _pct(g["requests_per_s_error_pct"] and g["requests_per_s_error_pct"] / 100)])
    return lines + table(["workload", "mode", "class", "hit rate live", "estimate", "error",
                          "TTFT mean error", "TTFT p50 error", "req/s error"], rows, "lllrrrrrr")
