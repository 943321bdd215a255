"""One sentence per group and metric family, from a comparison's entries.

The rule is the spans-zero rule and nothing else: a difference is called significant when
the 95% interval of the absolute delta excludes zero. The size quoted is the relative delta
and its interval (percentage points for the hit rate, which is already a share). Run-level
values (throughput, KV usage, preemptions) have no interval, and their sentences say so
rather than call a single observation a finding.
"""

from __future__ import annotations

from typing import Any, Mapping

# (family, statistic, name in a sentence, kind): the headline statistic of each family
HEADLINES = (
    ("ttft_s", "p50", "TTFT p50", "latency"),
    ("tpot_s", "p50", "TPOT p50", "latency"),
    ("e2e_s", "p50", "end-to-end latency p50", "latency"),
    ("hit_rate", "value", "prefix-cache hit rate", "share"),
    ("throughput", "output_tokens_per_s", "output tokens/s", "run_rate"),
    ("kv_usage", "peak", "peak KV usage", "run_share"),
    ("preemptions", "count", "preemptions", "run_count"),
)


def number(value: float) -> str:
    """A size for a sentence: 41, 4.1, 0.41."""
    size = abs(value)
    if value == 0:
        return "0"
    # thresholds just below 10 and 1, so 9.999 reads 10, not 10.0
    return f"{value:.0f}" if size >= 9.95 else f"{value:.1f}" if size >= 0.995 else f"{value:.2f}"


def seconds(value: float) -> str:
    return f"{number(value * 1000)} ms" if abs(value) < 1 else f"{number(value)} s"


def _range(low: float, high: float, unit: str) -> str:
    return f"{number(low)}-{number(high)}{unit}"


def _signed(value: float, unit: str) -> str:
    return ("+" if value >= 0 else "") + number(value) + unit


def _why(item: Mapping[str, Any]) -> str:
    """The reason an entry has no interval ('none: fewer than 2 ...' -> 'fewer than 2 ...')."""
    return item["interval"].split(": ", 1)[-1]


def latency_sentence(item: Mapping[str, Any], name: str, base: str, cand: str, level: str) -> str:
    rel, rel_ci, delta_ci = (item["relative_delta"], item["ci"]["relative_delta"],
                             item["ci"]["delta"])
    if item["significant"] is None:
        change = (_signed(rel * 100, "%") if rel is not None
                  else _signed(item["delta"], "") if item["delta"] is not None else "n/a")
        return f"{cand} vs {base}: {name} {change} (no interval: {_why(item)})"
    if not item["significant"]:
        detail = (f"{_signed(rel * 100, '%')}, {level} CI {_signed(rel_ci[0] * 100, '%')} to "
                  f"{_signed(rel_ci[1] * 100, '%')}" if rel_ci
                  else f"{level} CI {seconds(delta_ci[0])} to {seconds(delta_ci[1])}")
        return f"no significant difference in {name} between {cand} and {base} ({detail})"
    verb = "cuts" if item["delta"] < 0 else "raises"
    if rel is not None and rel_ci:
        sizes = sorted(abs(x) * 100 for x in rel_ci)
        return (f"{cand} {verb} {name} by {number(abs(rel) * 100)}% "
                f"({level} CI {_range(*sizes, '%')})")
    sizes = sorted(abs(x) for x in delta_ci)
    return (f"{cand} {verb} {name} by {seconds(abs(item['delta']))} ({level} CI "
            f"{seconds(sizes[0])}-{seconds(sizes[1])})")


def share_sentence(item: Mapping[str, Any], name: str, base: str, cand: str, level: str) -> str:
    """Hit rates: differences in percentage points, values in percent, one decimal each
    (a hit rate of 93.6% is read to the tenth)."""
    number = lambda value: f"{value:.1f}"  # noqa: E731
    values = f"{number(item['baseline'] * 100)}% -> {number(item['candidate'] * 100)}%"
    if item["significant"] is None:
        return f"{cand} vs {base}: {name} {values} (no interval: {_why(item)})"
    low, high = (x * 100 for x in item["ci"]["delta"])
    if not item["significant"]:
        return (f"no significant difference in {name} between {cand} and {base} ({values}, "
                f"{level} CI {low:+.1f} pp to {high:+.1f} pp)")
    verb = "raises" if item["delta"] > 0 else "lowers"
    sizes = sorted((abs(low), abs(high)))
    return (f"{cand} {verb} the {name} by {number(abs(item['delta']) * 100)} pp ({level} CI "
            f"{number(sizes[0])}-{number(sizes[1])} pp): {values}")


def run_level_sentence(item: Mapping[str, Any], name: str, base: str, cand: str, kind: str) -> str:
    show = {"run_rate": number, "run_count": lambda v: f"{v:.0f}",
            "run_share": lambda v: f"{number(v * 100)}%"}[kind]
    values = f"{show(item['baseline'])} -> {show(item['candidate'])}"
    relative = item["relative_delta"]
    change = f"; {_signed(relative * 100, '%')}" if relative is not None else ""
    return f"{cand} vs {base}: {name} {values}{change} (one value per run: no interval)"


def verdicts(comparison: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Sentences for overall, then each class, in HEADLINES order; families a group lacks
    (KV usage per class, preemptions of live classes) are skipped."""
    base, cand = comparison["baseline"]["label"], comparison["candidate"]["label"]
    level = f"{comparison['method']['confidence'] * 100:g}%"
    groups = {"overall": comparison["groups"]["overall"], **comparison["groups"]["classes"]}
    out = []
    for group, body in groups.items():
        for family, statistic, name, kind in HEADLINES:
            item = body["metrics"].get(family, {}).get(statistic)
            if item is None or item["baseline"] is None or item["candidate"] is None:
                continue
            if kind == "latency":
                text = latency_sentence(item, name, base, cand, level)
            elif kind == "share":
                text = share_sentence(item, name, base, cand, level)
            else:
                text = run_level_sentence(item, name, base, cand, kind)
            out.append({"group": group, "family": family, "statistic": statistic,
                        "significant": item["significant"], "text": text})
    return out
