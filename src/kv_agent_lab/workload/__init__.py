"""The workload model: records, reading with full validation, and prompt rendering."""

from __future__ import annotations

from pathlib import Path

from .lines import Problem, WorkloadError, read_lines
from .model import CLASSES, Part, Prompt, Request, Session, Workload
from .semantics import check_records

__all__ = ["CLASSES", "Part", "Problem", "Prompt", "Request", "Session", "Workload",
           "WorkloadError", "check_workload", "read_workload"]


def check_workload(path: str | Path) -> tuple[Workload | None, list[Problem]]:
    """Read and check one file; return the workload (None when invalid) and every problem."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, [Problem(name, 0, "(file)", f"cannot read: {exc.strerror or exc}")]
    lines, problems = read_lines(name, data)
    workload, semantic = check_records(name, lines)
    problems = sorted(problems + semantic, key=lambda p: (p.line, p.field))
    return (workload if not problems else None), problems


def read_workload(path: str | Path) -> Workload:
    """Read one file or raise WorkloadError listing every problem."""
    workload, problems = check_workload(path)
    if problems or workload is None:
        raise WorkloadError(problems)
    return workload
