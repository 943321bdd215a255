"""Reading and checking what the charts draw: run reports (``schemas/report.schema.json``) and
capacity sweeps (``schemas/sweep.schema.json``). Every problem is a ``ChartInputError`` that
names the file (or the caller's name for an in-memory report) and the field."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np

from ..report import MODES, report_problems
from ..workload.lines import load_schema
from .style import short_target

Report = Mapping[str, Any]


class ChartInputError(ValueError):
    """Input a chart cannot be drawn from; ``str()`` is ``SOURCE: FIELD: message``."""

    def __init__(self, source: str, field: str, message: str):
        super().__init__(f"{source}: {field}: {message}")
        self.source, self.field, self.message = source, field, message


class NotApplicable(Exception):
    """The chart says nothing for these inputs (e.g. by turn index when every request is
    turn 1); ``str()`` says why."""


def read_json(path: str | Path) -> Any:
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise ChartInputError(str(path), "(file)", f"cannot read it: {exc.strerror or exc}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChartInputError(str(path), f"(line {exc.lineno})", f"not JSON: {exc.msg}")


def check_report(report: Any, source: str) -> dict[str, Any]:
    """``report`` if it is a run report, else the first schema problems as a ChartInputError."""
    if not isinstance(report, dict):
        raise ChartInputError(source, "(top)", "not a JSON object: not a kv-agent-lab report")
    if report.get("kind") == "capacity_sweep":
        raise ChartInputError(source, "kind", "'capacity_sweep' is a capacity sweep, not a run "
                              "report (kvlab charts --sweep takes it)")
    problems = report_problems(report)
    if problems:
        field, _, message = problems[0].partition(": ")
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ChartInputError(source, field, f"{message}{more}: not a kv-agent-lab report")
    return report


def load_report(path: str | Path) -> dict[str, Any]:
    return check_report(read_json(path), str(path))


@lru_cache(maxsize=None)
def _sweep_validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema("sweep.schema.json"))


def check_sweep(sweep: Any, source: str) -> dict[str, Any]:
    if not isinstance(sweep, dict):
        raise ChartInputError(source, "(top)", "not a JSON object: not a capacity sweep")
    if sweep.get("kind") in ("live", "estimate"):
        raise ChartInputError(source, "kind", f"{sweep['kind']!r} is a run report, not a "
                              "capacity sweep (kvlab charts --reports takes it)")
    errors = sorted(_sweep_validator().iter_errors(sweep), key=lambda e: list(e.absolute_path))
    if errors:
        field = "/".join(map(str, errors[0].absolute_path)) or "(top)"
        raise ChartInputError(source, field, f"{errors[0].message}: not a capacity sweep "
                              "(kvlab sweep)")
    return sweep


def load_sweep(path: str | Path) -> dict[str, Any]:
    return check_sweep(read_json(path), str(path))


def source_names(items: Sequence[Any], names: Sequence[str] | None) -> list[str]:
    """The names errors use: the caller's (file paths), else 'report 1', 'report 2' ..."""
    if names is None:
        return [f"report {i + 1}" for i in range(len(items))]
    if len(names) != len(items):
        raise ValueError("one name per input")
    return [str(n) for n in names]


@dataclass(frozen=True)
class RunSet:
    """Reports of one workload on one target and of one kind, one per mode, in MODES order:
    what the per-run charts compare."""

    reports: tuple[Report, ...]
    names: tuple[str, ...]

    @property
    def workload(self) -> str:
        return self.reports[0]["workload"]["name"]

    @property
    def target(self) -> str:
        return self.reports[0]["target"]

    @property
    def kind(self) -> str:
        return self.reports[0]["kind"]

    @property
    def modes(self) -> list[str]:
        return [r["mode"] for r in self.reports]

    def subject(self) -> str:
        """'workload W, estimate M@G' for titles."""
        return f"workload {self.workload}, {self.kind} {short_target(self.target)}"

    def identical_to(self) -> dict[str, str]:
        """mode -> an earlier mode whose requests have the same TTFT and cached tokens (e.g.
        cpu_offload when the GPU cache never filled): the legend says so, since one set of
        points then hides the other."""
        out: dict[str, str] = {}
        keys = [[(r["id"], r.get("ttft_s"), r.get("cached_tokens")) for r in rep["requests"]]
                for rep in self.reports]
        for i, rep in enumerate(self.reports):
            for j in range(i):
                if keys[i] == keys[j]:
                    out[rep["mode"]] = self.reports[j]["mode"]
                    break
        return out


def run_set(reports: Sequence[Report], names: Sequence[str] | None = None) -> RunSet:
    """Check that ``reports`` are one workload (same file contents), one target, one kind and
    distinct modes; order them baseline, prefix_reuse, cpu_offload."""
    if not reports:
        raise ValueError("no reports")
    labels = source_names(reports, names)
    for report, label in zip(reports, labels):
        check_report(report, label)
    first, first_label = reports[0], labels[0]
    seen: dict[str, str] = {}
    for report, label in zip(reports, labels):
        for field, value, want in (("workload/sha256", report["workload"]["sha256"],
                                    first["workload"]["sha256"]),
                                   ("target", report["target"], first["target"]),
                                   ("kind", report["kind"], first["kind"])):
            if value != want:
                raise ChartInputError(label, field, f"{value!r} differs from {want!r} in "
                                      f"{first_label}: one chart compares the modes of one "
                                      "workload on one target")
        if report["mode"] in seen:
            raise ChartInputError(label, "mode", f"{report['mode']!r} is also the mode of "
                                  f"{seen[report['mode']]}: give one report per mode")
        seen[report["mode"]] = label
    order = sorted(range(len(reports)), key=lambda i: MODES.index(reports[i]["mode"]))
    return RunSet(tuple(reports[i] for i in order), tuple(labels[i] for i in order))


def ok_requests(report: Report) -> list[Mapping[str, Any]]:
    """Successful requests with a TTFT: what every per-request chart draws."""
    return [r for r in report["requests"] if r["status"] == "ok" and r.get("ttft_s") is not None]


def classes_of(reports: Sequence[Report]) -> list[str]:
    return sorted({r["class"] for rep in reports for r in ok_requests(rep)})


def percentile(values: Sequence[float], q: float) -> float:
    """numpy's linear interpolation, as ``report.distribution`` computes p50 and p90."""
    return float(np.percentile(np.asarray(values, dtype=float), q))
