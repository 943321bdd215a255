"""compare_reports: two runs of the shared report schema, metric by metric, with intervals.

Output (schemas/comparison.schema.json): ``groups.overall`` and ``groups.classes[NAME]``,
each with the request counts (``requests``: totals, errors, what was excluded and why) and
``metrics[FAMILY][STATISTIC]`` entries of baseline, candidate, delta (candidate - baseline),
relative delta (delta / baseline) and the 95% percentile-bootstrap intervals of both; and
``verdicts``, one sentence per group and metric family (verdict.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .bootstrap import (
    LATENCY_STATISTICS,
    PERCENTILES,
    Interval,
    delta_interval,
    point_statistics,
    resample_columns,
    stream,
)
from .inputs import (
    OVERALL,
    CompareError,
    GroupRequests,
    Run,
    by_group,
    check_report,
    group_requests,
    pairing,
    run_labels,
    value_columns,
)
from .run_level import kv_usage, preemptions, throughput
from .verdict import verdicts

LATENCY_FIELDS = ("ttft_s", "tpot_s", "e2e_s")
# metric -> the request fields it reads
METRIC_COLUMNS = {"ttft_s": ("ttft_s",), "tpot_s": ("tpot_s",), "e2e_s": ("e2e_s",),
                  "hit_rate": ("cached_tokens", "prompt_tokens")}
MIN_UNITS = 2  # one request resampled is that request every time: a zero-width interval
RUN_LEVEL_NOTE = "none: one value per run (repeat runs for an interval)"


def entry(baseline: float | None, candidate: float | None, interval: Interval, how: str,
          n: tuple[int, int] | None = None) -> dict[str, Any]:
    return {
        "baseline": baseline, "candidate": candidate,
        "delta": interval.delta, "relative_delta": interval.relative_delta,
        "ci": {"delta": list(interval.delta_ci) if interval.delta_ci else None,
               "relative_delta": (list(interval.relative_delta_ci)
                                  if interval.relative_delta_ci else None)},
        "significant": interval.significant,
        "interval": how,
        "n": {"baseline": n[0], "candidate": n[1]} if n is not None else None,
    }


def run_level_entry(baseline: float | None, candidate: float | None) -> dict[str, Any]:
    return entry(baseline, candidate, delta_interval(baseline, candidate, None, None, 0.95),
                 RUN_LEVEL_NOTE)


@dataclass(frozen=True)
class MetricSample:
    """One run's value of one metric over the requests that have it, and its bootstrap
    distribution (None, with the reason in ``no_interval``, when there is none)."""

    n: int
    point: dict[str, float] | None
    draws: dict[str, np.ndarray] | None
    no_interval: str | None


def _point(metric: str, columns: Mapping[str, np.ndarray]) -> dict[str, float] | None:
    if metric == "hit_rate":
        prompt = columns["prompt_tokens"].sum()
        return {"value": float(columns["cached_tokens"].sum() / prompt)} if prompt > 0 else None
    return point_statistics(columns[metric]) if columns[metric].size else None


def _statistics(metric: str, side: str, draws: Mapping[Any, Mapping[str, np.ndarray]],
                n: int) -> dict[str, np.ndarray]:
    if metric == "hit_rate":  # a ratio of sums, as the report's summary computes it
        cached = draws[(side, "cached_tokens")]["sum"]
        prompt = draws[(side, "prompt_tokens")]["sum"]
        return {"value": np.where(prompt > 0, cached / np.where(prompt > 0, prompt, 1), np.nan)}
    sampled = draws[(side, metric)]
    return {"mean": sampled["sum"] / n, **{q: sampled[q] for q in PERCENTILES}}


def design_samples(sides: Mapping[str, Mapping[str, np.ndarray]], stream_side: str, group: str,
                   seed: int, resamples: int) -> dict[tuple[str, str], MetricSample]:
    """Bootstrap every metric of the runs in ``sides``, whose columns are aligned on the
    same units (paired: both runs; independent: one run alone).

    A metric uses the units that have all its values in every run of ``sides`` (paired:
    dropped from both runs together). Metrics over the same units share one draw."""
    n_all = len(next(iter(next(iter(sides.values())).values())))
    masks: dict[str, np.ndarray] = {}
    together: dict[bytes, list[str]] = {}
    for metric, fields in METRIC_COLUMNS.items():
        mask = np.ones(n_all, dtype=bool)
        for columns in sides.values():
            for field in fields:
                mask &= ~np.isnan(columns[field])
        masks[metric] = mask
        together.setdefault(mask.tobytes(), []).append(metric)
    out: dict[tuple[str, str], MetricSample] = {}
    for metrics in together.values():
        mask = masks[metrics[0]]
        n = int(mask.sum())
        chosen = {side: {field: columns[field][mask]
                         for m in metrics for field in METRIC_COLUMNS[m]}
                  for side, columns in sides.items()}
        no_interval = (None if n >= MIN_UNITS else "none: no request has a value" if n == 0
                       else f"none: fewer than {MIN_UNITS} requests with a value")
        draws = None
        if no_interval is None:
            draws = resample_columns(
                {(side, field): values
                 for side, cols in chosen.items() for field, values in cols.items()},
                [(side, m) for side in sides for m in metrics if m in LATENCY_FIELDS],
                stream(seed, group, "+".join(metrics), stream_side), resamples)
        for side in sides:
            for metric in metrics:
                out[(side, metric)] = MetricSample(
                    n, _point(metric, chosen[side]) if n else None,
                    _statistics(metric, side, draws, n) if draws is not None else None, no_interval)
    return out


def _bootstrap(group: GroupRequests, seed: int, resamples: int
               ) -> tuple[dict[tuple[str, str], MetricSample], str]:
    base, cand = value_columns(group.baseline_ok), value_columns(group.candidate_ok)
    if group.paired:
        return (design_samples({"baseline": base, "candidate": cand}, "paired", group.name, seed,
                               resamples), "paired bootstrap")
    samples = design_samples({"baseline": base}, "baseline", group.name, seed, resamples)
    samples.update(design_samples({"candidate": cand}, "candidate", group.name, seed, resamples))
    return samples, "independent bootstrap"


def _metric_entries(samples: Mapping[tuple[str, str], MetricSample], metric: str, how: str,
                    confidence: float) -> dict[str, Any]:
    base, cand = samples[("baseline", metric)], samples[("candidate", metric)]
    no_interval = base.no_interval or cand.no_interval
    if no_interval is None and (base.point is None or cand.point is None):
        no_interval = "none: no prompt tokens"
    out = {}
    for statistic in (LATENCY_STATISTICS if metric in LATENCY_FIELDS else ("value",)):
        base_point = base.point[statistic] if base.point else None
        cand_point = cand.point[statistic] if cand.point else None
        interval = delta_interval(
            base_point, cand_point,
            base.draws[statistic] if base.draws is not None and no_interval is None else None,
            cand.draws[statistic] if cand.draws is not None and no_interval is None else None,
            confidence)
        out[statistic] = entry(base_point, cand_point, interval, no_interval or how,
                               (base.n, cand.n))
    return out


def _group_metrics(group: GroupRequests, baseline: Run, candidate: Run, records: tuple[list, list],
                   bootstrap: tuple[dict[tuple[str, str], MetricSample], str], confidence: float
                   ) -> dict[str, Any]:
    samples, how = bootstrap
    metrics: dict[str, Any] = {metric: _metric_entries(samples, metric, how, confidence)
                               for metric in METRIC_COLUMNS}
    base_tp = throughput(baseline.report, group.name)
    cand_tp = throughput(candidate.report, group.name)
    metrics["throughput"] = {key: run_level_entry(base_tp[key], cand_tp[key]) for key in base_tp}
    if group.name == OVERALL:  # the KV gauge is server-wide: no per-class share of it
        base_kv, cand_kv = kv_usage(baseline.report), kv_usage(candidate.report)
        metrics["kv_usage"] = {key: run_level_entry(base_kv[key], cand_kv[key]) for key in base_kv}
    base_pre = preemptions(baseline.report, group.name, records[0])
    cand_pre = preemptions(candidate.report, group.name, records[1])
    if base_pre is not None or cand_pre is not None:
        metrics["preemptions"] = {"count": run_level_entry(base_pre, cand_pre)}
    return metrics


def compare_reports(baseline: Mapping[str, Any], candidate: Mapping[str, Any], seed: int = 0,
                    resamples: int = 10_000, *, confidence: float = 0.95,
                    baseline_source: str = "baseline", candidate_source: str = "candidate",
                    check: bool = True) -> dict[str, Any]:
    """Compare two reports (estimate or live, any mix) per class and overall.

    Deterministic for a given seed. Raises CompareError (naming the source and field) on a
    report off the schema or a compared class without an ok request. ``check=False`` skips
    the schema check for reports already checked (load_report does; jsonschema takes about
    as long as the bootstrap itself on a report of thousands of requests)."""
    if seed < 0:  # numpy's SeedSequence takes non-negative entropy only
        raise CompareError(f"seed: must be 0 or more, not {seed}")
    if resamples < 1:
        raise CompareError(f"resamples: must be at least 1, not {resamples}")
    if not 0 < confidence < 1:
        raise CompareError(f"confidence: must be between 0 and 1, not {confidence}")
    if check:
        check_report(baseline, baseline_source)
        check_report(candidate, candidate_source)
    base_run, cand_run = Run(baseline_source, baseline), Run(candidate_source, candidate)
    base_label, cand_label = run_labels(base_run, cand_run)
    paired, pairing_reason = pairing(base_run, cand_run)
    base_groups, cand_groups = by_group(base_run.records), by_group(cand_run.records)
    shared = [name for name in base_groups if name in cand_groups]
    groups: dict[str, Any] = {}
    overall_bootstrap = None
    for name in shared:
        records = (base_groups[name], cand_groups[name])
        group = group_requests(name, *records, paired, (baseline_source, candidate_source))
        if name != OVERALL and len(records[0]) == len(base_groups[OVERALL]) \
                and len(records[1]) == len(cand_groups[OVERALL]):
            bootstrap = overall_bootstrap  # the only class: the same requests, the same draws
        else:
            bootstrap = _bootstrap(group, seed, resamples)
        if name == OVERALL:
            overall_bootstrap = bootstrap
        groups[name] = {"requests": group.counts,
                        "metrics": _group_metrics(group, base_run, cand_run, records, bootstrap,
                                                  confidence)}
    result = {
        "schema_version": 1,
        "kind": "comparison",
        "baseline": base_run.describe(base_label),
        "candidate": cand_run.describe(cand_label),
        "method": {
            "paired": paired,
            "pairing": pairing_reason,
            "bootstrap": "percentile",
            "confidence": confidence,
            "resamples": resamples,
            "seed": seed,
            "percentiles": "linear interpolation (numpy's default)",
            "latency_requests": ("requests ok in both runs" if paired
                                 else "each run's ok requests"),
            "significance": "the interval of the absolute delta excludes zero",
        },
        "groups": {"overall": groups[OVERALL],
                   "classes": {name: groups[name] for name in shared if name != OVERALL}},
        "classes_only_in": {
            "baseline": sorted(set(base_groups) - set(cand_groups)),
            "candidate": sorted(set(cand_groups) - set(base_groups)),
        },
    }
    result["verdicts"] = verdicts(result)
    return result
