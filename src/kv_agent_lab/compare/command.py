"""``kvlab compare`` and ``kvlab parity``: argument plumbing around the library.

Exit 2 on bad input with the file and field named; nothing is written then. Outputs are
checked against their schema and written atomically: all of them, or (on a bug) none.
"""

from __future__ import annotations

import argparse
import sys

from ..atomic import write_atomic
from .comparison import compare_reports
from .inputs import CompareError, load_report
from .output import to_json
from .parity import estimate_error
from .render import render_markdown, render_parity_markdown

EXIT_INVALID = 2


def _emit(document: dict, markdown: str, args: argparse.Namespace) -> None:
    text = to_json(document)  # schema-checked before anything is written
    if args.out:
        write_atomic(args.out, text)
    else:
        sys.stdout.write(text)
    if args.md:
        write_atomic(args.md, markdown)


def cmd_compare(args: argparse.Namespace) -> int:
    try:
        baseline = load_report(args.baseline)
        candidate = load_report(args.candidate)
        comparison = compare_reports(baseline, candidate, seed=args.seed, resamples=args.resamples,
                                     baseline_source=str(args.baseline),
                                     candidate_source=str(args.candidate), check=False)
    except CompareError as exc:
        print(f"kvlab compare: {exc}", file=sys.stderr)
        return EXIT_INVALID
    _emit(comparison, render_markdown(comparison), args)
    if not args.quiet:
        for verdict in comparison["verdicts"]:
            print(f"{verdict['group']}: {verdict['text']}", file=sys.stderr)
    return 0


def cmd_parity(args: argparse.Namespace) -> int:
    try:
        estimate = load_report(args.estimate)
        live = load_report(args.live)
        parity = estimate_error(estimate, live, estimate_source=str(args.estimate),
                                live_source=str(args.live))
    except CompareError as exc:
        print(f"kvlab parity: {exc}", file=sys.stderr)
        return EXIT_INVALID
    markdown = render_parity_markdown(parity)
    _emit(parity, markdown, args)
    if not args.quiet:
        sys.stderr.write(markdown)
    return 0
