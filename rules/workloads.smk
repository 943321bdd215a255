# Stage 1: make workloads from the seeded configuration, then check every workload.


rule generate_workload:
    input:
        spec=regeneration_trigger,
    output:
        workload="workloads/{workload}.jsonl",
    log:
        "results/logs/generate_workload/{workload}.log",
    wildcard_constraints:
        workload="|".join(GENERATED) if GENERATED else "$^",
    conda:
        "../envs/kvlab.yaml"
    params:
        generator=generator_params,
        tokenizer=config["tokenizer"],
    script:
        "../workflow_scripts/generate_workload.py"


rule validate_workload:
    input:
        workload=workload_file,
    output:
        summary="results/validated/{workload}.json",
    log:
        "results/logs/validate_workload/{workload}.log",
    conda:
        "../envs/kvlab.yaml"
    script:
        "../workflow_scripts/validate_workload.py"
