# Where jobs run. With a remote profile (profiles/gpu-remote: SSH; profiles/slurm-gpu:
# Slurm) only the live runs go to the GPU host; every other rule is cheap and stays here.
# Computed, so a new rule stays local unless REMOTE_RULES names it (its .smk must be
# included before this file).
import json
import os
import sys

REMOTE_RULES = {"live_run"}

workflow.localrules(
    *(wf_rule.name for wf_rule in workflow.rules if wf_rule.name not in REMOTE_RULES)
)

# For the gpu-remote profile's submit command (kv_agent_lab.remote.submit), which runs as a
# child of this process: the interpreter running Snakemake (it has the lab) and each remote
# rule's benchmark pattern (the jobscript does not carry it, and Snakemake needs the file back).
os.environ.setdefault("KVLAB_PYTHON", sys.executable)
REMOTE_BENCHMARKS = {
    wf_rule.name: str(wf_rule.benchmark)
    for wf_rule in workflow.rules
    if wf_rule.name in REMOTE_RULES and wf_rule.benchmark
}
os.environ.update(KVLAB_REMOTE_BENCHMARKS=json.dumps(REMOTE_BENCHMARKS))
