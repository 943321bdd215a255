"""``kvlab charts``: argument plumbing around the chart functions (see the package docstring).

Every input is read and checked before anything is drawn, so bad input writes nothing; each
chart file is written atomically."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .capacity import capacity_sweep_figure, policy_comparison_figure
from .inputs import ChartInputError, NotApplicable, load_report, load_sweep, run_set
from .parity import parity_figure
from .runs import RUN_CHARTS
from .style import save_figure

EXIT_INVALID = 2


def cmd_charts(args: argparse.Namespace) -> int:
    """0 when every applicable chart was written; 2 on bad input (nothing written)."""
    if not (args.reports or args.sweep or args.parity):
        print("kvlab charts: give --reports, --sweep or --parity", file=sys.stderr)
        return EXIT_INVALID
    jobs = []  # (file stem, function drawing the figure), all inputs already checked
    try:
        if args.reports:
            names = [str(p) for p in args.reports]
            reports = [load_report(p) for p in args.reports]
            run_set(reports, names)
            for stem, figure in RUN_CHARTS.items():
                jobs.append((stem, lambda f=figure: f(reports, names)))
        if args.sweep:
            sweep = load_sweep(args.sweep)
            jobs.append(("capacity_sweep",
                         lambda: capacity_sweep_figure(sweep, str(args.sweep), args.kv_model)))
            jobs.append(("policy_comparison",
                         lambda: policy_comparison_figure(sweep, str(args.sweep))))
        if args.parity:
            pair_names = [(str(e), str(r)) for e, r in args.parity]
            pairs = [(load_report(e), load_report(r)) for e, r in args.parity]
            jobs.append(("parity", lambda: parity_figure(pairs, pair_names)))
        figures = []
        for stem, draw in jobs:
            try:
                figures.append((stem, draw()))
            except NotApplicable as why:
                print(f"kvlab charts: skipped {stem}: {why}", file=sys.stderr)
    except ChartInputError as exc:
        print(exc, file=sys.stderr)
        print("kvlab charts: bad input; nothing written", file=sys.stderr)
        return EXIT_INVALID
    for stem, fig in figures:
        for path in save_figure(fig, Path(args.out) / f"{stem}.png"):
            print(path)
    return 0
