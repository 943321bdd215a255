# Stage 5: the study summary (results/summary.json, schemas/summary.schema.json) and the
# report a platform team reads (results/report.md); `snakemake live` writes the same for the
# live runs beside them. `snakemake --report report.html` wraps every report(...) output.


rule summarize_study:
    input:
        unpack(report_inputs),
    output:
        summary="results/summary.json",
        report=report(
            "results/report.md",
            caption="../workflow_report/report_md.rst",
            category="Report",
            labels={"stage": "report", "scope": "estimates"},
        ),
    log:
        "results/logs/summarize_study.log",
    conda:
        "../envs/kvlab.yaml"
    script:
        "../workflow_scripts/summarize_study.py"


rule summarize_live:
    input:
        unpack(live_report_inputs),
    output:
        summary="results/live/{target}/summary.json",
        report=report(
            "results/live/{target}/report.md",
            caption="../workflow_report/report_md.rst",
            category="Report",
            labels={"stage": "report", "scope": "live {target}"},
        ),
    log:
        "results/logs/summarize_live/{target}.log",
    wildcard_constraints:
        target=config["live"]["target"],
    conda:
        "../envs/kvlab.yaml"
    script:
        "../workflow_scripts/summarize_study.py"
