"""Rule workload_stats: per-class sizes and ideal prefix reuse, as JSON and a chart."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.cli import main  # noqa: E402

sys.exit(main([
    "stats", snakemake.input.workload,  # noqa: F821
    "--tokenizer", str(snakemake.params.tokenizer),  # noqa: F821
    "--block-size", str(snakemake.params.block_size),  # noqa: F821
    "--out", snakemake.output.stats,  # noqa: F821
    "--chart", snakemake.output.chart,  # noqa: F821
]))
