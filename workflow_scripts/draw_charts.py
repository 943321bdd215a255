"""Rules chart_runs, chart_turns, chart_sweep, chart_parity: draw exactly the charts the rule
names as outputs (each ``<chart>.png``, with its SVG beside it) from the rule's inputs."""

import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.charts.command import chart_drawers  # noqa: E402
from kv_agent_lab.charts.inputs import ChartInputError, NotApplicable  # noqa: E402
from kv_agent_lab.charts.style import save_figure  # noqa: E402

inputs = snakemake.input  # noqa: F821
pngs = [Path(p) for p in snakemake.output if str(p).endswith(".png")]  # noqa: F821
try:
    draw = chart_drawers(
        reports=inputs.get("reports", ()),
        sweep=inputs.get("sweep"),
        parity=list(zip(inputs.get("estimates", ()), inputs.get("live", ()))),
    )
    figures = [(draw[path.stem](), path) for path in pngs]
except (ChartInputError, NotApplicable) as why:  # said in the log; nothing written
    sys.exit(f"cannot draw {', '.join(map(str, pngs))}: {why}")
for figure, path in figures:
    save_figure(figure, path)
    print(f"drew {path} and its SVG", file=sys.stderr)
