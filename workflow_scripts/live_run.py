"""Rule live_run: start a fresh vLLM server for the mode, run the workload, stop it."""

import sys
import tempfile

import yaml

sys.stderr = open(snakemake.log[0], "w")  # noqa: F821 (snakemake is injected)

from kv_agent_lab.cli import main  # noqa: E402

# The CLI reads a config file; hand it exactly the (validated) config this run uses.
with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
    yaml.safe_dump(dict(snakemake.config), handle)  # noqa: F821
    config_path = handle.name

out_dir = str(snakemake.output.report).rsplit("/", 1)[0]  # noqa: F821
sys.exit(main([
    "live", snakemake.input.workload,  # noqa: F821
    "--serve", "--config", config_path,
    "--mode", snakemake.wildcards.mode,  # noqa: F821
    "--target", snakemake.wildcards.target,  # noqa: F821
    "--out-dir", out_dir,
]))
