"""Rule generate_workload: one seeded workload from its config block."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.generate.write import write_generated_workload  # noqa: E402

records = write_generated_workload(
    snakemake.wildcards.workload,  # noqa: F821
    dict(snakemake.params.generator),  # noqa: F821
    snakemake.params.tokenizer,  # noqa: F821
    snakemake.output.workload,  # noqa: F821
)
print(f"{snakemake.output.workload}: {records} records", file=sys.stderr)  # noqa: F821
