# Stage 4b: the charts of each workload's runs (every mode of one target in one chart), of
# each capacity sweep, and of the estimate against live (kv_agent_lab.charts).


rule chart_runs:
    input:
        reports=run_reports,
    output:
        ttft=report(
            "charts/{workload}/{kind}/{target}/ttft_distribution.png",
            caption="../workflow_report/chart_ttft_distribution.rst",
            category="Charts",
            subcategory="{workload}",
            labels={
                "workload": "{workload}",
                "stage": "{kind} {target}",
                "chart": "TTFT",
            },
        ),
        cached=report(
            "charts/{workload}/{kind}/{target}/ttft_vs_cached_fraction.png",
            caption="../workflow_report/chart_ttft_vs_cached.rst",
            category="Charts",
            subcategory="{workload}",
            labels={
                "workload": "{workload}",
                "stage": "{kind} {target}",
                "chart": "TTFT vs cached",
            },
        ),
        kv=report(
            "charts/{workload}/{kind}/{target}/kv_usage.png",
            caption="../workflow_report/chart_kv_usage.rst",
            category="Charts",
            subcategory="{workload}",
            labels={
                "workload": "{workload}",
                "stage": "{kind} {target}",
                "chart": "KV usage",
            },
        ),
        svg=expand(
            "charts/{{workload}}/{{kind}}/{{target}}/{chart}.svg", chart=RUN_CHARTS
        ),
    log:
        "results/logs/chart_runs/{kind}/{target}/{workload}.log",
    wildcard_constraints:
        kind="estimate|live",
    conda:
        "../envs/kvlab.yaml"
    script:
        "../workflow_scripts/draw_charts.py"


# Only for workloads with sessions of more than one turn (common.smk: has_turns).
rule chart_turns:
    input:
        reports=run_reports,
    output:
        turns=report(
            "charts/{workload}/{kind}/{target}/ttft_by_turn.png",
            caption="../workflow_report/chart_ttft_by_turn.rst",
            category="Charts",
            subcategory="{workload}",
            labels={
                "workload": "{workload}",
                "stage": "{kind} {target}",
                "chart": "TTFT by turn",
            },
        ),
        svg="charts/{workload}/{kind}/{target}/ttft_by_turn.svg",
    log:
        "results/logs/chart_turns/{kind}/{target}/{workload}.log",
    wildcard_constraints:
        kind="estimate|live",
    conda:
        "../envs/kvlab.yaml"
    script:
        "../workflow_scripts/draw_charts.py"


rule chart_sweep:
    input:
        sweep="results/whatif/{source}/capacity_sweep.json",
    output:
        capacity=report(
            "charts/whatif/{source}/capacity_sweep.png",
            caption="../workflow_report/chart_capacity_sweep.rst",
            category="What-if",
            subcategory="{source}",
            labels={
                "input": "{source}",
                "stage": "capacity sweep",
                "chart": "capacity",
            },
        ),
        policies=report(
            "charts/whatif/{source}/policy_comparison.png",
            caption="../workflow_report/chart_policy_comparison.rst",
            category="What-if",
            subcategory="{source}",
            labels={
                "input": "{source}",
                "stage": "capacity sweep",
                "chart": "policies",
            },
        ),
        svg=expand("charts/whatif/{{source}}/{chart}.svg", chart=SWEEP_CHARTS),
    log:
        "results/logs/chart_sweep/{source}.log",
    conda:
        "../envs/kvlab.yaml"
    script:
        "../workflow_scripts/draw_charts.py"
