"""Rules chart_runs, chart_turns, chart_sweep, chart_parity: draw exactly the charts the rule
names as outputs (each ``<chart>.png``, with its SVG beside it) from the rule's inputs."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.charts.capacity import (  # noqa: E402
    capacity_sweep_figure,
    policy_comparison_figure,
)
from kv_agent_lab.charts.inputs import (  # noqa: E402
    ChartInputError,
    NotApplicable,
    load_report,
    load_sweep,
    run_set,
)
from kv_agent_lab.charts.parity import parity_figure  # noqa: E402
from kv_agent_lab.charts.runs import RUN_CHARTS  # noqa: E402
from kv_agent_lab.charts.style import save_figure  # noqa: E402

inputs = snakemake.input  # noqa: F821
draw = {}
if "reports" in inputs.keys():
    names = [str(p) for p in inputs.reports]
    reports = [load_report(p) for p in names]
    run_set(reports, names)
    for stem, figure in RUN_CHARTS.items():
        draw[stem] = lambda f=figure: f(reports, names)
if "sweep" in inputs.keys():
    sweep = load_sweep(inputs.sweep)
    draw["capacity_sweep"] = lambda: capacity_sweep_figure(sweep, str(inputs.sweep))
    draw["policy_comparison"] = lambda: policy_comparison_figure(sweep, str(inputs.sweep))
if "estimates" in inputs.keys():
    pair_names = list(zip(map(str, inputs.estimates), map(str, inputs.live)))
    pairs = [(load_report(e), load_report(r)) for e, r in pair_names]
    draw["parity"] = lambda: parity_figure(pairs, pair_names)

figures = []
for output in snakemake.output:  # noqa: F821
    path = Path(output)
    if path.suffix == ".png":
        try:
            figures.append((draw[path.stem](), path))
        except (ChartInputError, NotApplicable) as why:  # said in the log; nothing written
            sys.exit(f"{path}: cannot draw it: {why}")
for figure, path in figures:
    save_figure(figure, path)
    print(f"drew {path} and its SVG", file=sys.stderr)
