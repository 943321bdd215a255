# What-if: prefix-cache hit rate and mean TTFT against KV capacity, per retention policy,
# for every workload and every trace named in config["whatif"]["traces"].


rule capacity_sweep:
    input:
        source=whatif_input,
    output:
        sweep=report(
            "results/whatif/{source}/capacity_sweep.json",
            caption="../workflow_report/capacity_sweep.rst",
            category="What-if",
            subcategory="{source}",
            labels={"input": "{source}", "stage": "capacity sweep"},
        ),
    log:
        "results/logs/capacity_sweep/{source}.log",
    benchmark:
        "results/benchmarks/capacity_sweep/{source}.tsv"
    wildcard_constraints:
        source="|".join(WHATIF_SOURCES),
    conda:
        "../envs/kvlab.yaml"
    params:
        whatif=whatif_settings,
    script:
        "../workflow_scripts/capacity_sweep.py"
