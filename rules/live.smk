# Stage 3 (target `live`): every workload against a real vLLM server, in each mode the
# backend can run, each run on a freshly started server so no cache state leaks.


rule live_run:
    input:
        workload=workload_file,
        validated="results/validated/{workload}.json",
    output:
        report=report(
            "results/live/{target}/{workload}/{mode}/report.json",
            caption="../workflow_report/live_report.rst",
            category="Live runs",
            subcategory="{workload}",
            labels={"workload": "{workload}", "mode": "{mode}", "stage": "live"},
        ),
        requests="results/live/{target}/{workload}/{mode}/requests.jsonl",
    log:
        "results/logs/live_run/{target}/{workload}/{mode}.log",
    benchmark:
        "results/benchmarks/live_run/{target}/{workload}/{mode}.tsv"
    wildcard_constraints:
        target=config["live"]["target"],
        mode="|".join(LIVE_MODES),
    conda:
        "../envs/kvlab.yaml"
    resources:
        # One local server at a time: they share a port and the CPU.
        vllm_server=1,
    params:
        live=live_settings,
    script:
        "../workflow_scripts/live_run.py"
