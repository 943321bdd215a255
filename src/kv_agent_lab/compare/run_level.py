"""Values a run has once, not once per request: throughput, KV usage, preemptions.

A run is one observation of these, so resampling its requests cannot say how much they would
vary from run to run: the comparison reports their deltas without an interval (repeat the
runs for one). Each function returns None where the report does not hold the value.
"""

from __future__ import annotations

from typing import Any, Mapping

from .inputs import OVERALL


def summary_group(report: Mapping[str, Any], group: str) -> Mapping[str, Any] | None:
    summary = report["summary"]
    return summary["overall"] if group == OVERALL else summary["classes"].get(group)


def throughput(report: Mapping[str, Any], group: str) -> dict[str, float | None]:
    """requests/s and output tokens/s as the report's summary has them (ok requests over the
    run's, or the class's, first send to last completion)."""
    summary = summary_group(report, group) or {}
    return {"requests_per_s": summary.get("requests_per_s"),
            "output_tokens_per_s": summary.get("output_tokens_per_s")}


def time_weighted_mean(samples: list[tuple[float, float]]) -> float | None:
    """Mean of a sampled gauge over time, each sample holding until the next one (the last
    sample has no duration). One sample, or samples at one instant: their plain mean."""
    if not samples:
        return None
    samples = sorted(samples)
    span = samples[-1][0] - samples[0][0]
    if span <= 0:
        return sum(v for _, v in samples) / len(samples)
    area = sum(v * (t_next - t) for (t, v), (t_next, _) in zip(samples, samples[1:]))
    return area / span


def kv_usage(report: Mapping[str, Any]) -> dict[str, float | None]:
    """Peak and time-weighted mean KV-cache usage (fraction of the GPU blocks), whole run.

    Estimates carry both exactly (``provenance.estimator.kv_usage``, integrated over every
    step); live runs have vLLM's gauge sampled about once a second
    (``server_metrics.samples``), so their peak can miss a short spike."""
    exact = report["provenance"].get("estimator", {}).get("kv_usage")
    if isinstance(exact, Mapping) and exact.get("peak") is not None:
        return {"peak": float(exact["peak"]),
                "time_weighted_mean": (float(exact["time_weighted_mean"])
                                       if exact.get("time_weighted_mean") is not None else None)}
    samples = [(float(s["t_s"]), float(s["kv_cache_usage"]))
               for s in report.get("server_metrics", {}).get("samples", [])
               if s.get("kv_cache_usage") is not None]
    if not samples:
        return {"peak": None, "time_weighted_mean": None}
    return {"peak": max(v for _, v in samples), "time_weighted_mean": time_weighted_mean(samples)}


def preemptions(report: Mapping[str, Any], group: str,
                records: list[Mapping[str, Any]]) -> float | None:
    """Preemptions during the run: the server's counter delta for ``overall``; for a class
    the sum of the per-request counts, which only estimates record (vLLM does not say which
    request it preempted)."""
    if group == OVERALL:
        value = report.get("server_metrics", {}).get("delta", {}).get("preemptions")
        if value is not None:
            return float(value)
    if records and all(r.get("preemptions") is not None for r in records):
        return float(sum(r["preemptions"] for r in records))
    return None
