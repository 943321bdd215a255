"""Reading two run reports and lining their requests up for a comparison.

Every error names the file and the field, because the reader of ``kvlab compare`` output is
usually looking at a pipeline log, not at the code. Nothing here computes a statistic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..report import report_problems

OVERALL = "overall"


class CompareError(ValueError):
    """Bad input: the message names the file and the field; the command exits 2."""


@dataclass(frozen=True)
class Run:
    """One report and where it came from (``source`` is the path, or a name for reports
    passed as dicts); ``label`` is how verdicts name it (its mode, target, ...)."""

    source: str
    report: Mapping[str, Any]

    @property
    def records(self) -> list[Mapping[str, Any]]:
        return self.report["requests"]

    @property
    def workload_sha256(self) -> str:
        return self.report["workload"]["sha256"]

    def describe(self, label: str) -> dict[str, Any]:
        return {"path": self.source, "label": label, "kind": self.report["kind"],
                "mode": self.report["mode"], "target": self.report["target"],
                "workload": {"name": self.report["workload"]["name"],
                             "sha256": self.workload_sha256}}


def load_report(path: str | Path) -> dict[str, Any]:
    """Read and check a report file; CompareError naming the file (and field) otherwise."""
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise CompareError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: cannot read: {exc}") from None
    try:
        report = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CompareError(f"{path}: not JSON: {exc.msg} at line {exc.lineno} column "
                           f"{exc.colno}") from None
    check_report(report, str(path))
    return report


def check_report(report: Any, source: str) -> None:
    """The report schema, plus what the schema cannot say: request ids are unique."""
    if not isinstance(report, dict):
        raise CompareError(f"{source}: (top): a report is a JSON object, not "
                           f"{type(report).__name__}")
    problems = report_problems(report)
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:10])
        more = f"\n  ... and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise CompareError(f"{source}: not a kv-agent-lab report (schemas/report.schema.json):"
                           f"\n{shown}{more}")
    seen: dict[str, int] = {}
    for index, record in enumerate(report["requests"]):
        if record["id"] in seen:
            raise CompareError(f"{source}: requests/{index}/id: {record['id']!r} also at "
                               f"requests/{seen[record['id']]}: request ids must be unique")
        seen[record["id"]] = index


def run_labels(baseline: Run, candidate: Run) -> tuple[str, str]:
    """Name each run by the first thing that tells them apart: mode, target, kind, workload."""
    for field in (lambda r: r["mode"], lambda r: r["target"], lambda r: r["kind"],
                  lambda r: r["workload"]["name"]):
        base, cand = field(baseline.report), field(candidate.report)
        if base != cand:
            return str(base), str(cand)
    return "baseline", "candidate"


def pairing(baseline: Run, candidate: Run) -> tuple[bool, str]:
    """Paired when both ran the same workload (same sha256) and hold the same request ids."""
    if baseline.workload_sha256 != candidate.workload_sha256:
        return False, ("different workloads (workload.sha256 differs): each run's requests "
                       "are resampled independently")
    base_ids = {r["id"] for r in baseline.records}
    cand_ids = {r["id"] for r in candidate.records}
    if base_ids != cand_ids:
        return False, (f"same workload but {len(base_ids ^ cand_ids)} request ids in only one "
                       "report: each run's requests are resampled independently")
    return True, ("same workload (workload.sha256): requests matched by id and resampled "
                  "together")


def by_group(records: list[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """``overall`` (every request) and one entry per class, classes sorted by name."""
    groups: dict[str, list[Mapping[str, Any]]] = {OVERALL: list(records)}
    for record in sorted(records, key=lambda r: r["class"]):
        groups.setdefault(record["class"], []).append(record)
    return groups


@dataclass(frozen=True)
class GroupRequests:
    """A group's requests as the statistics use them.

    Invariant: paired, ``baseline_ok[i]`` and ``candidate_ok[i]`` are the same request (ok
    in both runs); independent, each list holds its own run's ok requests."""

    name: str
    paired: bool
    baseline_ok: list[Mapping[str, Any]]
    candidate_ok: list[Mapping[str, Any]]
    counts: dict[str, Any]


def group_requests(name: str, baseline: list[Mapping[str, Any]], candidate: list[Mapping[str, Any]],
                   paired: bool, sources: tuple[str, str]) -> GroupRequests:
    """Keep the ok requests (only they have latencies worth comparing) and count the rest."""
    base_ok = [r for r in baseline if r["status"] == "ok"]
    cand_ok = [r for r in candidate if r["status"] == "ok"]
    counts: dict[str, Any] = {
        "baseline": {"total": len(baseline), "ok": len(base_ok),
                     "errors": len(baseline) - len(base_ok)},
        "candidate": {"total": len(candidate), "ok": len(cand_ok),
                      "errors": len(candidate) - len(cand_ok)},
    }
    where = "" if name == OVERALL else f" (class {name!r})"
    if paired:
        cand_by_id = {r["id"]: r for r in candidate}
        pairs = [(b, cand_by_id[b["id"]]) for b in baseline]
        both = [(b, c) for b, c in pairs if b["status"] == "ok" and c["status"] == "ok"]
        counts["compared"] = len(both)
        failed = [(b["status"] != "ok", c["status"] != "ok") for b, c in pairs]
        counts["excluded"] = {
            "failed_in_baseline_only": sum(b and not c for b, c in failed),
            "failed_in_candidate_only": sum(c and not b for b, c in failed),
            "failed_in_both": sum(b and c for b, c in failed),
        }
        if not both:
            raise CompareError(f"{sources[0]} and {sources[1]}: requests{where}: no request is "
                               "ok in both reports; nothing to compare")
        return GroupRequests(name, True, [b for b, _ in both], [c for _, c in both], counts)
    counts["compared"] = None
    counts["excluded"] = {"failed_in_baseline": counts["baseline"]["errors"],
                          "failed_in_candidate": counts["candidate"]["errors"]}
    for source, ok in zip(sources, (base_ok, cand_ok)):
        if not ok:
            raise CompareError(f"{source}: requests{where}: no ok requests; nothing to compare")
    return GroupRequests(name, False, base_ok, cand_ok, counts)


COLUMNS = ("ttft_s", "tpot_s", "e2e_s", "cached_tokens", "prompt_tokens")


def value_columns(records: list[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Each of COLUMNS over ``records`` in their order, NaN where the report has null (TPOT
    of a one-token reply; cached tokens of a live server without
    --enable-prompt-tokens-details)."""
    return {field: np.array([np.nan if r.get(field) is None else r[field] for r in records],
                            dtype=float)
            for field in COLUMNS}
