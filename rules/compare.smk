# Stage 4: each mode against the one it adds to (common.smk: COMPARISONS), per class, with
# bootstrap confidence intervals (kv_agent_lab.compare), for the estimates and the live runs;
# and each live run against its estimate twin (the estimator set up like the server measured).


rule compare_runs:
    input:
        unpack(compared_reports),
    output:
        comparison=report(
            "results/compare/{kind}/{target}/{workload}/{mode}_vs_{base}.json",
            caption="../workflow_report/comparison.rst",
            category="Comparisons",
            subcategory="{workload}",
            labels={
                "workload": "{workload}",
                "mode": "{mode} vs {base}",
                "stage": "{kind} {target}",
            },
        ),
        markdown="results/compare/{kind}/{target}/{workload}/{mode}_vs_{base}.md",
    log:
        "results/logs/compare_runs/{kind}/{target}/{workload}/{mode}_vs_{base}.log",
    wildcard_constraints:
        kind="estimate|live",
        mode="prefix_reuse|cpu_offload",
        base="baseline|prefix_reuse",
    conda:
        "../envs/kvlab.yaml"
    params:
        kvlab=KVLAB,
        seed=COMPARE["seed"],
        resamples=COMPARE["resamples"],
    shell:
        "{params.kvlab} compare --baseline {input.baseline} --candidate {input.candidate}"
        " --seed {params.seed} --resamples {params.resamples}"
        " --out {output.comparison} --md {output.markdown} 2> {log}"


rule estimate_live_twin:
    input:
        workload=workload_file,
        live="results/live/{target}/{workload}/{mode}/report.json",
    output:
        estimate="results/live/{target}/{workload}/{mode}/estimate.json",
    log:
        "results/logs/estimate_live_twin/{target}/{workload}/{mode}.log",
    conda:
        "../envs/kvlab.yaml"
    params:
        twin=config["live"]["twin"],
        estimate=estimate_settings,
        tokenizer=config["tokenizer"],
    script:
        "../workflow_scripts/estimate_live_twin.py"


rule compare_estimate_live:
    input:
        estimate="results/live/{target}/{workload}/{mode}/estimate.json",
        live="results/live/{target}/{workload}/{mode}/report.json",
    output:
        parity=report(
            "results/compare/parity/{target}/{workload}/{mode}.json",
            caption="../workflow_report/parity.rst",
            category="Estimate vs live",
            subcategory="{workload}",
            labels={"workload": "{workload}", "mode": "{mode}", "stage": "parity"},
        ),
        markdown="results/compare/parity/{target}/{workload}/{mode}.md",
    log:
        "results/logs/compare_estimate_live/{target}/{workload}/{mode}.log",
    conda:
        "../envs/kvlab.yaml"
    params:
        kvlab=KVLAB,
    shell:
        "{params.kvlab} parity --estimate {input.estimate} --live {input.live}"
        " --out {output.parity} --md {output.markdown} 2> {log}"


rule chart_parity:
    input:
        estimates=expand(
            "results/live/{{target}}/{workload}/{mode}/estimate.json",
            workload=LIVE_WORKLOADS,
            mode=LIVE_MODES,
        ),
        live=expand(
            "results/live/{{target}}/{workload}/{mode}/report.json",
            workload=LIVE_WORKLOADS,
            mode=LIVE_MODES,
        ),
    output:
        parity=report(
            "charts/parity/{target}/parity.png",
            caption="../workflow_report/chart_parity.rst",
            category="Estimate vs live",
            labels={"target": "{target}", "stage": "parity", "chart": "parity"},
        ),
        svg="charts/parity/{target}/parity.svg",
    log:
        "results/logs/chart_parity/{target}.log",
    conda:
        "../envs/kvlab.yaml"
    script:
        "../workflow_scripts/draw_charts.py"
