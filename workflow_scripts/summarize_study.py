"""Rules summarize_study and summarize_live: the summary JSON and report.md."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.cli import main  # noqa: E402

inputs = snakemake.input  # noqa: F821
argv = ["summarize", "--json", snakemake.output.summary, "--md", snakemake.output.report]  # noqa: F821
for name in ("stats", "runs", "comparisons", "sweeps", "parity", "charts"):
    if name in inputs.keys():
        argv += [f"--{name}", *inputs[name]]
if "target" in snakemake.wildcards.keys():  # noqa: F821
    argv += ["--title", f"What prefix reuse buys these workloads: live on "
             f"{snakemake.wildcards.target} and estimated"]  # noqa: F821
sys.exit(main(argv))
