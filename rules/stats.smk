# Stage 2: describe each workload: sizes per class and the ideal prefix reuse.


rule workload_stats:
    input:
        workload=workload_file,
        validated="results/validated/{workload}.json",
    output:
        stats="results/stats/{workload}.json",
        chart=report(
            "charts/{workload}/workload_stats.png",
            caption="../workflow_report/workload_stats.rst",
            category="Workloads",
            subcategory="{workload}",
            labels={"workload": "{workload}", "stage": "statistics"},
        ),
        chart_svg="charts/{workload}/workload_stats.svg",
    log:
        "results/logs/workload_stats/{workload}.log",
    benchmark:
        "results/benchmarks/workload_stats/{workload}.tsv"
    conda:
        "../envs/kvlab.yaml"
    params:
        tokenizer=config["tokenizer"],
        block_size=config["block_size"],
    script:
        "../workflow_scripts/workload_stats.py"
