"""``kvlab summarize``: the study summary JSON and report.md from the pipeline's outputs.

Both files are checked (the JSON against schemas/summary.schema.json) and written atomically
only after every input was read, so bad input leaves nothing half-written."""

from __future__ import annotations

import argparse
import json
import sys
from functools import lru_cache

import jsonschema

from ..atomic import write_atomic
from ..workload.lines import load_schema
from .build import SummaryInputError, build_summary
from .markdown import render_report

EXIT_INVALID = 2


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema("summary.schema.json"))


def summary_problems(summary: dict) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in _validator().iter_errors(summary)]


def cmd_summarize(args: argparse.Namespace) -> int:
    from ..live.run import git_commit

    try:
        summary = build_summary(stats=args.stats, runs=args.runs, comparisons=args.comparisons,
                                sweeps=args.sweeps, parity=args.parity, git_commit=git_commit())
    except SummaryInputError as exc:
        print(f"kvlab summarize: {exc}", file=sys.stderr)
        return EXIT_INVALID
    problems = summary_problems(summary)
    if problems:  # a bug here, not bad input: say where and write nothing
        print("kvlab summarize: the summary breaks its schema:\n  " + "\n  ".join(problems),
              file=sys.stderr)
        return 1
    text = render_report(summary, report_path=args.md, charts=args.charts, title=args.title)
    write_atomic(args.json, json.dumps(summary, indent=1, sort_keys=False) + "\n")
    write_atomic(args.md, text)
    print(f"kvlab summarize: {args.md} and {args.json}", file=sys.stderr)
    return 0

