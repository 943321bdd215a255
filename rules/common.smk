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


# Settings that only one mode reads: changing one reruns that mode's jobs, nothing else.
MODE_ONLY_SETTINGS = {"cpu_offload_gib": "cpu_offload"}


def for_mode(settings, mode):
    """``settings`` without the keys that belong to another mode."""
    return {
        key: value
        for key, value in settings.items()
        if MODE_ONLY_SETTINGS.get(key, mode) == mode
    }


def live_settings(wildcards):
    # The live block as this run reads it: a changed server or client setting reruns the
    # runs; the selection (modes, workloads) and other modes' settings do not.
    live = {
        key: value
        for key, value in config["live"].items()
        if key not in ("modes", "workloads")
    }
    return {**live, "server": for_mode(live["server"], wildcards.mode)}


def estimate_settings(wildcards):
    return for_mode(ESTIMATE_SETTINGS, wildcards.mode)


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
        *estimate_comparison_outputs(),
        *estimate_chart_outputs(),
        *sweep_chart_outputs(),
        "results/summary.json",
        "results/report.md",
    ]


def has_turns(name):
    """Whether workload ``name`` has requests beyond turn 1: a generated workload by its
    generator's shape (the config is the truth; the file may be about to be regenerated), an
    external one by its file (a line that is not JSON is the validation job's to report).
    """
    workload = config["workloads"][name]
    if "generator" in workload:
        generator = workload["generator"]
        if generator["shape"] == "multi_turn":
            return generator.get("turns", {}).get("max", 2) > 1
        return generator["shape"] == "agent_fanout" and generator.get(
            "aggregation", True
        )
    path = Path(workload_path(name))
    if not path.exists():
        return False
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if '"turn"' in line:
                try:
                    if json.loads(line).get("turn", 1) > 1:
                        return True
                except (ValueError, AttributeError):
                    continue
    return False


RUN_CHARTS = ["ttft_distribution", "ttft_vs_cached_fraction", "kv_usage"]
SWEEP_CHARTS = ["capacity_sweep", "policy_comparison"]


def run_charts(workload):
    return [*RUN_CHARTS, *(["ttft_by_turn"] if has_turns(workload) else [])]


def estimate_chart_outputs():
    return [
        f"charts/{workload}/estimate/{model}@{gpu}/{chart}.png"
        for model, gpu in ESTIMATE_TARGETS
        for workload in ESTIMATE_WORKLOADS
        for chart in run_charts(workload)
    ]


def live_chart_outputs():
    return [
        f"charts/{workload}/live/{LIVE['target']}/{chart}.png"
        for workload in LIVE_WORKLOADS
        for chart in run_charts(workload)
    ]


def sweep_chart_outputs():
    return expand(
        "charts/whatif/{source}/{chart}.png", source=WHATIF_SOURCES, chart=SWEEP_CHARTS
    )


def run_reports(wildcards):
    """Every mode's report of one workload on one target, estimate or live."""
    if wildcards.kind == "estimate":
        pattern, modes = (
            "results/estimates/{target}/{workload}/{mode}.json",
            ESTIMATE["modes"],
        )
    else:
        pattern, modes = (
            "results/live/{target}/{workload}/{mode}/report.json",
            LIVE_MODES,
        )
    return expand(
        pattern, target=wildcards.target, workload=wildcards.workload, mode=modes
    )


COMPARE = config["compare"]
ESTIMATE_TARGET_NAMES = [f"{model}@{gpu}" for model, gpu in ESTIMATE_TARGETS]
# Each mode against the one it adds to: prefix_reuse and cpu_offload against baseline (no
# prefix cache), and cpu_offload against prefix_reuse (what the CPU tier adds on its own).
COMPARISONS = [
    ("prefix_reuse", "baseline"),
    ("cpu_offload", "baseline"),
    ("cpu_offload", "prefix_reuse"),
]


def comparisons_of(modes):
    return [(m, b) for m, b in COMPARISONS if m in modes and b in modes]


def comparison_paths(kind, target, workloads, modes):
    return [
        f"results/compare/{kind}/{target}/{workload}/{mode}_vs_{base}.json"
        for workload in workloads
        for mode, base in comparisons_of(modes)
    ]


def estimate_comparison_outputs():
    return [
        path
        for target in ESTIMATE_TARGET_NAMES
        for path in comparison_paths(
            "estimate", target, ESTIMATE_WORKLOADS, ESTIMATE["modes"]
        )
    ]


def live_comparison_outputs():
    return comparison_paths("live", LIVE["target"], LIVE_WORKLOADS, LIVE_MODES)


def parity_outputs():
    return expand(
        "results/compare/parity/{target}/{workload}/{mode}.json",
        target=LIVE["target"],
        workload=LIVE_WORKLOADS,
        mode=LIVE_MODES,
    )


def compared_reports(wildcards):
    """The baseline and candidate reports of one comparison, estimate or live."""
    if wildcards.kind == "estimate":
        pattern = "results/estimates/{target}/{workload}/{mode}.json"
    else:
        pattern = "results/live/{target}/{workload}/{mode}/report.json"
    return {
        side: pattern.format(
            target=wildcards.target, workload=wildcards.workload, mode=mode
        )
        for side, mode in (("baseline", wildcards.base), ("candidate", wildcards.mode))
    }


def report_inputs(wildcards=None):
    """What results/report.md gathers: everything `all` makes."""
    return {
        "stats": expand("results/stats/{workload}.json", workload=WORKLOADS),
        "runs": estimate_outputs(),
        "comparisons": estimate_comparison_outputs(),
        "sweeps": expand(
            "results/whatif/{source}/capacity_sweep.json", source=WHATIF_SOURCES
        ),
        "charts": [*estimate_chart_outputs(), *sweep_chart_outputs()],
    }


def live_report_inputs(wildcards):
    """The live report: the live runs, their comparisons and estimate twins, and the
    estimates and sweeps of `all`, so one document holds the study."""
    inputs = report_inputs()
    return {
        **inputs,
        "runs": [*inputs["runs"], *live_outputs()],
        "comparisons": [*inputs["comparisons"], *live_comparison_outputs()],
        "parity": parity_outputs(),
        "charts": [
            *inputs["charts"],
            *live_chart_outputs(),
            f"charts/parity/{LIVE['target']}/parity.png",
        ],
    }
