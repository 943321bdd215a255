"""``kvlab charts``: argument plumbing around the chart functions (see the package docstring).

Every input is read and checked before anything is drawn, so bad input writes nothing; each
chart file is written atomically."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, Sequence

import matplotlib.pyplot as plt

from .capacity import capacity_sweep_figure, policy_comparison_figure
from .inputs import ChartInputError, NotApplicable, load_report, load_sweep, run_set
from .parity import parity_figure
from .runs import RUN_CHARTS
from .style import save_figure

EXIT_INVALID = 2


def chart_drawers(reports: Sequence[str | Path] = (), sweep: str | Path | None = None,
                  parity: Sequence[tuple[str | Path, str | Path]] = (),
                  kv_model: str | None = None) -> dict[str, Callable[[], plt.Figure]]:
    """Every chart these inputs allow, by file stem: a function drawing its figure. Every input
    is read and checked here, before anything is drawn (ChartInputError on bad input); a chart
    that does not apply raises NotApplicable when drawn. Used by ``kvlab charts`` and by the
    pipeline's chart rules, which draw only the stems they name as outputs."""
    draw: dict[str, Callable[[], plt.Figure]] = {}
    if reports:
        names = [str(p) for p in reports]
        loaded = [load_report(p) for p in reports]
        run_set(loaded, names)
        for stem, figure in RUN_CHARTS.items():
            draw[stem] = lambda f=figure: f(loaded, names)
    if sweep:
        swept = load_sweep(sweep)
        draw["capacity_sweep"] = lambda: capacity_sweep_figure(swept, str(sweep), kv_model)
        draw["policy_comparison"] = lambda: policy_comparison_figure(swept, str(sweep))
    if parity:
        pair_names = [(str(e), str(r)) for e, r in parity]
        pairs = [(load_report(e), load_report(r)) for e, r in parity]
        draw["parity"] = lambda: parity_figure(pairs, pair_names)
    return draw


def cmd_charts(args: argparse.Namespace) -> int:
    """0 when every applicable chart was written; 2 on bad input (nothing written)."""
    if not (args.reports or args.sweep or args.parity):
        print("kvlab charts: give --reports, --sweep or --parity", file=sys.stderr)
        return EXIT_INVALID
    try:
        drawers = chart_drawers(args.reports or (), args.sweep, args.parity or (), args.kv_model)
        figures = []
        for stem, draw in drawers.items():
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
