"""The study summary: one JSON (schemas/summary.schema.json) gathered from what the pipeline
made, and the source of ``results/report.md``.

Invariant: the summary only copies or condenses numbers from its inputs (statistics, run
reports, comparisons, capacity sweeps, estimate-against-live tables); it computes no new
measurement, so every figure in the report can be traced to a file, listed with its sha256
under ``inputs``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .. import __version__
from ..report import file_sha256

SUMMARY_SCHEMA_VERSION = 1
# A capacity "that is enough": the smallest swept capacity reaching this share of the ideal
# (unbounded-cache) hit rate. 90% keeps the number away from the sweep's flat tail.
ENOUGH_SHARE_OF_IDEAL = 0.9


class SummaryInputError(ValueError):
    """An input file is missing, not JSON, or lacks a field; the message names both."""


def load_json(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except OSError as exc:
        raise SummaryInputError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise SummaryInputError(f"{path}:{exc.lineno}: not JSON: {exc.msg}") from exc
    if not isinstance(value, dict):
        raise SummaryInputError(f"{path}: expected a JSON object")
    return value


def _field(doc: Mapping[str, Any], dotted: str, path: str | Path) -> Any:
    value: Any = doc
    for key in dotted.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise SummaryInputError(f"{path}: {dotted}: missing")
        value = value[key]
    return value


def _dist(group: Mapping[str, Any], name: str, stat: str) -> float | None:
    dist = group.get(name)
    return None if not dist else dist.get(stat)


def condense_group(group: Mapping[str, Any]) -> dict[str, Any]:
    """The per-class (or overall) figures a reader compares first."""
    return {
        "requests": group["requests"],
        "ok": group["ok"],
        "hit_rate": group.get("hit_rate"),
        "ttft_p50_s": _dist(group, "ttft_s", "p50"),
        "ttft_p90_s": _dist(group, "ttft_s", "p90"),
        "ttft_p99_s": _dist(group, "ttft_s", "p99"),
        "tpot_p50_s": _dist(group, "tpot_s", "p50"),
        "e2e_p50_s": _dist(group, "e2e_s", "p50"),
        "requests_per_s": group.get("requests_per_s"),
        "output_tokens_per_s": group.get("output_tokens_per_s"),
    }


def condense_run(report: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    """One run report (live or estimate) as a summary row."""
    from ..compare.run_level import kv_usage  # the comparisons' definition, so both agree

    summary = _field(report, "summary", path)
    delta = (report.get("server_metrics") or {}).get("delta") or {}
    estimator = (report.get("provenance") or {}).get("estimator") or {}
    usage = kv_usage(report)
    return {
        "path": str(path),
        "kind": _field(report, "kind", path),
        "target": _field(report, "target", path),
        "workload": _field(report, "workload.name", path),
        "mode": _field(report, "mode", path),
        "overall": condense_group(_field(summary, "overall", path)),
        "classes": {cls: condense_group(group)
                    for cls, group in _field(summary, "classes", path).items()},
        "preemptions": delta.get("preemptions"),
        "ideal_hit_rate": estimator.get("ideal_hit_rate"),
        "kv_usage_peak": usage["peak"],
        "kv_usage_mean": usage["time_weighted_mean"],
    }


def condense_workload(stats: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    overall = _field(stats, "overall", path)

    def row(group: Mapping[str, Any]) -> dict[str, Any]:
        return {"requests": group["requests"], "sessions": group["sessions"],
                "prompt_tokens_p50": group["prompt_tokens"]["p50"],
                "prompt_tokens_total": group["prompt_tokens"]["total"],
                "ideal_hit_rate": group["ideal_prefix_reuse_ratio"]}

    return {"name": _field(stats, "workload", path), "path": str(path),
            "block_size": stats.get("block_size"), "overall": row(overall),
            "classes": {cls: row(group) for cls, group in _field(stats, "classes", path).items()}}


def enough_capacity(points: Sequence[Mapping[str, Any]], ideal_hit_rate: float) -> dict[str, Any] | None:
    """The smallest swept capacity whose hit rate reaches ENOUGH_SHARE_OF_IDEAL of the ideal."""
    goal = ENOUGH_SHARE_OF_IDEAL * ideal_hit_rate
    for point in sorted(points, key=lambda p: p["capacity_blocks"]):
        if point["hit_rate"] >= goal:
            return {"capacity_tokens": point["capacity_tokens"],
                    "capacity_fraction": point["capacity_fraction"], "hit_rate": point["hit_rate"]}
    return None


def condense_sweep(sweep: Mapping[str, Any], path: str | Path) -> dict[str, Any]:
    ideal = _field(sweep, "ideal.hit_rate", path)
    policies = {}
    for policy in _field(sweep, "policies", path):
        points = policy["points"]
        smallest = min(points, key=lambda p: p["capacity_blocks"])
        policies[policy["name"]] = {
            "online": policy.get("online", True),
            "enough": enough_capacity(points, ideal),
            "smallest": {"capacity_tokens": smallest["capacity_tokens"],
                         "capacity_fraction": smallest["capacity_fraction"],
                         "hit_rate": smallest["hit_rate"],
                         "mean_ttft_s": smallest.get("mean_ttft_s")},
            "mean_gain_over_lru": (sweep.get("comparison") or {}).get(policy["name"], {}).get("mean_delta"),
        }
    return {"source": _field(sweep, "input.name", path), "path": str(path),
            "working_set_tokens": _field(sweep, "working_set.tokens", path),
            "ideal_hit_rate": ideal, "policies": policies}


def build_summary(*, stats: Iterable[str | Path] = (), runs: Iterable[str | Path] = (),
                  comparisons: Iterable[str | Path] = (), sweeps: Iterable[str | Path] = (),
                  parity: Iterable[str | Path] = (), git_commit: str | None = None) -> dict[str, Any]:
    """Read every input and gather the summary. Raises SummaryInputError naming the file."""
    from .sections import condense_comparison, condense_parity

    inputs: list[dict[str, str]] = []

    def condensed(condense, docs: list[tuple[Path, dict[str, Any]]]) -> list[dict[str, Any]]:
        rows = []
        for path, doc in docs:
            try:
                rows.append(condense(doc, path))
            except (KeyError, TypeError, IndexError, AttributeError) as exc:
                raise SummaryInputError(f"{path}: not the expected kind of file (missing or "
                                        f"wrong field {exc!s})") from exc
        return rows

    def read(paths: Iterable[str | Path]) -> list[tuple[Path, dict[str, Any]]]:
        docs = []
        for path in sorted(Path(p) for p in paths):
            doc = load_json(path)
            inputs.append({"path": str(path), "sha256": file_sha256(path)})
            docs.append((path, doc))
        return docs

    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "kind": "summary",
        "lab_version": __version__,
        "git_commit": git_commit,
        "workloads": condensed(condense_workload, read(stats)),
        "runs": condensed(condense_run, read(runs)),
        "comparisons": condensed(condense_comparison, read(comparisons)),
        "capacity": condensed(condense_sweep, read(sweeps)),
        "parity": condensed(condense_parity, read(parity)),
        "inputs": inputs,
    }
