"""estimate_error: how far an estimate is from a live run of the same workload in the same mode.

The estimator is deterministic; the live run is the measurement. So the error is signed as
estimate minus live: positive means the estimate is too high. Hit rates (shares already)
differ in percentage points, times and rates in percent of the live value.

Hit rate and latency are computed over the requests that are ok in both runs, matched by
id, so a request that failed live does not count against the estimate; throughput is the
reports' own (every ok request over the run's duration), since it belongs to the whole run.
Output: schemas/parity.schema.json.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .inputs import OVERALL, CompareError, Run, by_group, check_report, group_requests
from .run_level import throughput

# output key -> (request field, statistic); all in seconds
LATENCY_ROWS = {
    "ttft_mean_s": ("ttft_s", "mean"),
    "ttft_p50_s": ("ttft_s", "p50"),
    "tpot_mean_s": ("tpot_s", "mean"),
    "e2e_mean_s": ("e2e_s", "mean"),
}


def percent_error(estimate: float | None, live: float | None) -> float | None:
    if estimate is None or live is None or live == 0:
        return None
    return (estimate - live) / live * 100


def _statistic(records: list[Mapping[str, Any]], field: str, statistic: str) -> float | None:
    values = np.array([r[field] for r in records if r.get(field) is not None], dtype=float)
    if values.size == 0:
        return None
    return float(values.mean() if statistic == "mean" else np.percentile(values, 50))


def _hit_rate(records: list[Mapping[str, Any]]) -> float | None:
    counted = [r for r in records
               if r.get("prompt_tokens") is not None and r.get("cached_tokens") is not None]
    prompt = sum(r["prompt_tokens"] for r in counted)
    return sum(r["cached_tokens"] for r in counted) / prompt if prompt else None


def check_parity_inputs(estimate: Run, live: Run) -> None:
    """One workload and one mode, run once by the estimator and once live."""
    for run, kind in ((estimate, "estimate"), (live, "live")):
        if run.report["kind"] != kind:
            raise CompareError(f"{run.source}: kind: {run.report['kind']!r}, expected {kind!r}")
    if estimate.report["mode"] != live.report["mode"]:
        raise CompareError(f"{live.source}: mode: {live.report['mode']!r}, but {estimate.source} "
                           f"has mode {estimate.report['mode']!r}: compare one mode run both ways")
    if estimate.workload_sha256 != live.workload_sha256:
        raise CompareError(f"{live.source}: workload.sha256: differs from {estimate.source}'s "
                           f"({live.report['workload']['name']} vs "
                           f"{estimate.report['workload']['name']}): not the same workload")
    est_ids = {r["id"] for r in estimate.records}
    live_ids = {r["id"] for r in live.records}
    if est_ids != live_ids:
        missing = sorted(est_ids ^ live_ids)[:3]
        raise CompareError(f"{live.source}: requests: ids differ from {estimate.source}'s "
                           f"(e.g. {', '.join(missing)}): the same workload should give the same "
                           "requests")


def estimate_error(estimate: Mapping[str, Any], live: Mapping[str, Any], *,
                   estimate_source: str = "estimate", live_source: str = "live") -> dict[str, Any]:
    """The estimate's error against the live run, per class and overall (see module doc)."""
    check_report(estimate, estimate_source)
    check_report(live, live_source)
    est_run, live_run = Run(estimate_source, estimate), Run(live_source, live)
    check_parity_inputs(est_run, live_run)
    est_groups, live_groups = by_group(est_run.records), by_group(live_run.records)
    rows: dict[str, Any] = {}
    for name in est_groups:
        group = group_requests(name, est_groups[name], live_groups[name], True,
                               (estimate_source, live_source))
        est_ok, live_ok = group.baseline_ok, group.candidate_ok
        est_rate, live_rate = _hit_rate(est_ok), _hit_rate(live_ok)
        row: dict[str, Any] = {
            "requests": {"compared": group.counts["compared"],
                         "estimate_errors": group.counts["baseline"]["errors"],
                         "live_errors": group.counts["candidate"]["errors"]},
            "hit_rate": {"estimate": est_rate, "live": live_rate,
                         "error_pp": (est_rate - live_rate) * 100
                         if est_rate is not None and live_rate is not None else None},
        }
        for key, (field, statistic) in LATENCY_ROWS.items():
            est_value = _statistic(est_ok, field, statistic)
            live_value = _statistic(live_ok, field, statistic)
            row[key] = {"estimate": est_value, "live": live_value,
                        "error_pct": percent_error(est_value, live_value)}
        est_tp, live_tp = throughput(estimate, name), throughput(live, name)
        for key in est_tp:
            row[key] = {"estimate": est_tp[key], "live": live_tp[key],
                        "error_pct": percent_error(est_tp[key], live_tp[key])}
        rows[name] = row
    return {
        "schema_version": 1,
        "kind": "parity",
        "estimate": est_run.describe("estimate"),
        "live": live_run.describe("live"),
        "method": {
            "error": "estimate - live: percentage points for the hit rate, percent of the live "
                     "value for times and rates (positive: the estimate is too high)",
            "requests": "hit rate and latency over the requests ok in both runs, matched by id; "
                        "throughput from each report's summary",
        },
        "groups": {"overall": rows[OVERALL],
                   "classes": {name: row for name, row in rows.items() if name != OVERALL}},
    }
