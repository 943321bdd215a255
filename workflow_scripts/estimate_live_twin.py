"""Rule estimate_live_twin: the estimate of one live run, set up like the server it measured."""

import json
import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.estimate.run import estimate  # noqa: E402
from kv_agent_lab.estimate.twin import twin_setup  # noqa: E402
from kv_agent_lab.report import write_report  # noqa: E402

with open(snakemake.input.live, encoding="utf-8") as handle:  # noqa: F821
    live = json.load(handle)
model, gpu, settings = twin_setup(
    live, snakemake.params.twin, snakemake.params.estimate,  # noqa: F821
    snakemake.params.tokenizer, snakemake.input.live)  # noqa: F821
report = estimate(snakemake.input.workload, snakemake.wildcards.mode, model, gpu, settings)  # noqa: F821
report["target"] = f"twin of {live['target']}"
write_report(report, snakemake.output.estimate)  # noqa: F821
print(f"{snakemake.output.estimate}: {model} on {gpu}, block {settings['block_size']}, "  # noqa: F821
      f"{settings['num_blocks']} blocks, tokenizer {settings['tokenizer']}", file=sys.stderr)
