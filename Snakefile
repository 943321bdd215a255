# kv-agent-lab: what KV-cache prefix reuse buys agent workloads.
# This file is a table of contents; logic lives in rules/ and the kv_agent_lab library.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow_report/workflow.rst"


include: "rules/common.smk"
include: "rules/workloads.smk"
include: "rules/stats.smk"
include: "rules/estimate.smk"
include: "rules/whatif.smk"
include: "rules/live.smk"
include: "rules/compare.smk"
include: "rules/charts.smk"
include: "rules/report.smk"
# Last: every rule included above, except the live runs, stays local under a remote profile.
include: "rules/placement.smk"


rule all:
    default_target: True
    input:
        all_outputs(),


# Not part of `all`: it needs a vLLM server (`make backend` builds the local CPU one).
rule live:
    input:
        live_outputs(),
        live_comparison_outputs(),
        parity_outputs(),
        f"results/live/{LIVE['target']}/report.md",
