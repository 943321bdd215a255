"""Rule validate_workload: every problem goes to the log; exit 2 and no output if any."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.cli import main  # noqa: E402

sys.exit(main(["validate", snakemake.input.workload, "--summary", snakemake.output.summary]))  # noqa: F821
