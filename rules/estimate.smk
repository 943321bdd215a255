# Stage 2b: every workload served by the simulated vLLM engine (kv_agent_lab.estimate), for
# each model@gpu target and mode of the configuration's `estimate` block.


rule estimate_workload:
    input:
        workload=workload_file,
        validated="results/validated/{workload}.json",
    output:
        report=report(
            "results/estimates/{model}@{gpu}/{workload}/{mode}.json",
            caption="../workflow_report/estimate.rst",
            category="Estimates",
            subcategory="{workload}",
            labels={
                "workload": "{workload}",
                "target": "{model}@{gpu}",
                "mode": "{mode}",
                "stage": "estimate",
            },
        ),
    log:
        "results/logs/estimate_workload/{model}@{gpu}/{workload}/{mode}.log",
    benchmark:
        "results/benchmarks/estimate_workload/{model}@{gpu}/{workload}/{mode}.tsv"
    wildcard_constraints:
        model=ESTIMATE_MODELS,
        gpu=ESTIMATE_GPUS,
        mode="|".join(ESTIMATE["modes"]),
    conda:
        "../envs/kvlab.yaml"
    params:
        estimate=estimate_settings,
        tokenizer=config["tokenizer"],
    script:
        "../workflow_scripts/estimate_workload.py"
