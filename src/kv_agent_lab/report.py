"""The run report that live runs and estimates share (schemas/report.schema.json).

Both produce per-request records; this module turns them into the per-class and
overall summary, checks a report against the schema, and writes it atomically, so
one comparison code reads either kind.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jsonschema
import numpy as np

from .atomic import write_atomic
from .workload.lines import load_schema

MODES = ("baseline", "prefix_reuse", "cpu_offload")


def distribution(values: Iterable[float | None]) -> dict[str, float] | None:
    """count, mean, p50, p90, p99 (linear interpolation, numpy's default) and max."""
    data = np.array([v for v in values if v is not None], dtype=float)
    if data.size == 0:
        return None
    p50, p90, p99 = np.percentile(data, [50, 90, 99])
    return {"count": int(data.size), "mean": float(data.mean()), "p50": float(p50),
            "p90": float(p90), "p99": float(p99), "max": float(data.max())}


def _span_s(records: list[Mapping[str, Any]]) -> float | None:
    """From the first send to the last completion."""
    timed = [r for r in records if r.get("send_time_s") is not None and r.get("e2e_s") is not None]
    if not timed:
        return None
    return max(r["send_time_s"] + r["e2e_s"] for r in timed) - min(r["send_time_s"] for r in timed)


def summarize_group(records: list[Mapping[str, Any]], duration_s: float | None = None) -> dict[str, Any]:
    ok = [r for r in records if r["status"] == "ok"]
    prompt = sum(r.get("prompt_tokens") or 0 for r in ok)
    cached = sum(r.get("cached_tokens") or 0 for r in ok)
    completion = sum(r.get("completion_tokens") or 0 for r in ok)
    duration = duration_s if duration_s is not None else _span_s(ok)
    rate = (lambda n: round(n / duration, 6)) if duration else (lambda n: None)
    return {
        "requests": len(records),
        "ok": len(ok),
        "errors": len(records) - len(ok),
        "ttft_s": distribution(r.get("ttft_s") for r in ok),
        "tpot_s": distribution(r.get("tpot_s") for r in ok),
        "e2e_s": distribution(r.get("e2e_s") for r in ok),
        "itl_s": distribution(g for r in ok for g in r.get("itl_s") or ()),
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "cached_tokens": cached,
        "hit_rate": round(cached / prompt, 6) if prompt else None,
        "duration_s": duration,
        "requests_per_s": rate(len(ok)),
        "output_tokens_per_s": rate(completion),
    }


def summarize(records: list[Mapping[str, Any]], duration_s: float | None = None) -> dict[str, Any]:
    """The report's ``summary``: overall (over the run's duration) and per class."""
    classes: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        classes.setdefault(record["class"], []).append(record)
    return {
        "overall": summarize_group(records, duration_s),
        "classes": {name: summarize_group(group) for name, group in sorted(classes.items())},
    }


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=None)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema("report.schema.json"))


def report_problems(report: Mapping[str, Any]) -> list[str]:
    """Every way ``report`` departs from the schema, as 'path: message' lines."""
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in _validator().iter_errors(report)]


def write_report(report: Mapping[str, Any], path: str | Path) -> None:
    problems = report_problems(report)
    if problems:  # a bug of ours, never the user's input: refuse to write a bad report
        raise ValueError("report does not match report.schema.json:\n" + "\n".join(problems[:20]))
    write_atomic(path, json.dumps(report, indent=2, sort_keys=False) + "\n")


def read_report(path: str | Path) -> dict[str, Any]:
    report = json.loads(Path(path).read_text("utf-8"))
    problems = report_problems(report)
    if problems:
        raise ValueError(f"{path}: not a kv-agent-lab report:\n" + "\n".join(problems[:20]))
    return report
