"""Rule capacity_sweep: hit rate and mean TTFT against KV capacity, per policy."""

import sys

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.cli import main  # noqa: E402

settings = snakemake.params.whatif  # noqa: F821
config = snakemake.config  # noqa: F821
argv = ["sweep", snakemake.input.source, "--out", snakemake.output.sweep,  # noqa: F821
        "--points", str(settings["points"]), "--model", settings["model"],
        "--gpu", settings["gpu"], "--quiet"]
if snakemake.wildcards.source in config["workloads"]:  # noqa: F821 (a trace keeps its blocks)
    argv += ["--format", "workload", "--block-size", str(settings["block_size"]),
             "--tokenizer", str(config["tokenizer"])]
for policy in settings["policies"]:
    argv += ["--policy", policy]
sys.exit(main(argv))
