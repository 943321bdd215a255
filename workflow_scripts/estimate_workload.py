"""Rule estimate_workload: one workload on the simulated vLLM engine, one target and mode."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.estimate.run import estimate  # noqa: E402
from kv_agent_lab.report import write_report  # noqa: E402

wildcards = snakemake.wildcards  # noqa: F821
settings = {**dict(snakemake.params.estimate), "tokenizer": snakemake.params.tokenizer}  # noqa: F821
report = estimate(snakemake.input.workload, wildcards.mode, wildcards.model,  # noqa: F821
                  wildcards.gpu, settings)
write_report(report, snakemake.output.report)  # noqa: F821
overall = report["summary"]["overall"]
print(f"{snakemake.output.report}: {overall['requests']} requests, hit rate "  # noqa: F821
      f"{overall['hit_rate']} (ideal {report['provenance']['estimator']['ideal_hit_rate']})",
      file=sys.stderr)
