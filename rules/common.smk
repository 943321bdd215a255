# Config validation, the workload table and every input function the rules use.
import json
import os
import re
import sys
import time
from pathlib import Path

from snakemake.utils import validate

from kv_agent_lab.atomic import write_atomic

from kv_agent_lab.generate.shapes import recorded_digest, spec_digest

validate(config, "../config/config.schema.yaml")

# The lab's command from the interpreter running Snakemake (.venv), whatever PATH holds.
KVLAB = f"{sys.executable} -m kv_agent_lab.cli"
WORKLOADS = sorted(config["workloads"])
LIVE = config["live"]
LIVE_WORKLOADS = sorted(LIVE.get("workloads") or WORKLOADS)
# vLLM refuses --kv-offloading-size on its CPU backend; the mode runs live on GPU hosts only.
LIVE_MODES = [
    mode
    for mode in LIVE["modes"]
    if not (mode == "cpu_offload" and LIVE["server"]["backend"] == "cpu")
]
GENERATED = [name for name in WORKLOADS if "generator" in config["workloads"][name]]
ESTIMATE = config["estimate"]
ESTIMATE_WORKLOADS = sorted(ESTIMATE.get("workloads") or WORKLOADS)
ESTIMATE_TARGETS = [(t["model"], t["gpu"]) for t in ESTIMATE["targets"]]
ESTIMATE_MODELS = "|".join(sorted({re.escape(m) for m, _ in ESTIMATE_TARGETS}))
ESTIMATE_GPUS = "|".join(sorted({re.escape(g) for _, g in ESTIMATE_TARGETS}))
# What every estimate depends on; the selection (targets, modes, workloads) is left out, so
# adding a target or a mode does not rerun the others.
ESTIMATE_SETTINGS = {
    key: value
    for key, value in ESTIMATE.items()
    if key not in ("targets", "modes", "workloads")
}


wildcard_constraints:
    workload="|".join(WORKLOADS),


def workload_path(name):
    """A generated workload lives in workloads/; an external one wherever config says."""
    return config["workloads"][name].get("file", f"workloads/{name}.jsonl")


def workload_file(wildcards):
    return workload_path(wildcards.workload)


def generator_params(wildcards):
    # The whole generator block is a param: changing one value reruns that workload only.
    return config["workloads"][wildcards.workload]["generator"]


def regeneration_trigger(wildcards):
    """A marker file per generator block, results/generators/{workload}.{digest}.json,
    written here at DAG-building time. It is made newer than the workload only when
    the workload was not made from this block (its header records the block's digest),
    and older otherwise, so Snakemake regenerates exactly the workloads whose block
    changed. Snakemake's params trigger cannot do this on a fresh clone: it has no
    metadata for committed files, and a missing intermediate never reruns a present
    output. The input path is the same on every run, so the input trigger stays quiet.
    """
    generator = generator_params(wildcards)
    digest = spec_digest(generator)
    workload = Path(f"workloads/{wildcards.workload}.jsonl")
    marker = Path(f"results/generators/{wildcards.workload}.{digest[:16]}.json")
    if not marker.exists():
        write_atomic(marker, json.dumps(generator, indent=2, sort_keys=True) + "\n")
    if workload.exists():  # (a missing workload is regenerated anyway)
        stale = recorded_digest(workload) != digest
        workload_mtime = workload.stat().st_mtime
        marker_mtime = marker.stat().st_mtime
        if stale and marker_mtime <= workload_mtime:
            newer = max(time.time(), workload_mtime + 1)
            os.utime(marker, (newer, newer))
        elif not stale and marker_mtime > workload_mtime:
            os.utime(marker, (workload_mtime - 1, workload_mtime - 1))
    return str(marker)


def live_settings(wildcards):
    # The whole live block is a param: a changed server or client setting reruns the runs.
    return config["live"]


def live_outputs():
    return expand(
        "results/live/{target}/{workload}/{mode}/report.json",
        target=LIVE["target"],
        workload=LIVE_WORKLOADS,
        mode=LIVE_MODES,
    )


def estimate_outputs():
    return [
        f"results/estimates/{model}@{gpu}/{workload}/{mode}.json"
        for model, gpu in ESTIMATE_TARGETS
        for workload in ESTIMATE_WORKLOADS
        for mode in ESTIMATE["modes"]
    ]


WHATIF = config["whatif"]
WHATIF_SOURCES = [*WORKLOADS, *sorted(WHATIF["traces"])]


def whatif_input(wildcards):
    """A workload's file, or a trace named in config["whatif"]["traces"]."""
    if wildcards.source in config["workloads"]:
        return workload_path(wildcards.source)
    return WHATIF["traces"][wildcards.source]


def whatif_settings(wildcards):
    # Without the trace list: adding a trace does not rerun the other sweeps.
    return {key: value for key, value in WHATIF.items() if key != "traces"}


def all_outputs():
    return [
        *expand("results/validated/{workload}.json", workload=WORKLOADS),
        *expand("results/stats/{workload}.json", workload=WORKLOADS),
        *expand("charts/{workload}/workload_stats.png", workload=WORKLOADS),
        *estimate_outputs(),
        *expand("results/whatif/{source}/capacity_sweep.json", source=WHATIF_SOURCES),
    ]
