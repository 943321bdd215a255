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
        kvlab=KVLAB,
        tokenizer=config["tokenizer"],
    # shell, not script: Snakemake reruns a script rule whose script is newer than its
    # output, and a fresh clone's checkout can stamp the script and a committed workload
    # with the same time. The marker (input.spec) holds the generator block.
    shell:
        "{params.kvlab} generate --workload {wildcards.workload} --spec {input.spec}"
        " --tokenizer {params.tokenizer} --out {output.workload} > {log} 2>&1"


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
