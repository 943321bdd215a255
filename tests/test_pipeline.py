"""The DAG behaves as users expect: dry runs, nothing to redo, exact regeneration (a
workload, a generator parameter or one mode's setting reruns exactly what depends on it),
a malformed workload failing only its own jobs, and a study summary, report.md and HTML
report that agree with the outputs. Runs Snakemake for real in a copy of the repository's
pipeline files."""

from __future__ import annotations

import json
import re
import shutil
import statistics
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ["Snakefile", "rules", "workflow_scripts", "config", "profiles", "envs",
            "workflow_report", "workloads"]
WORKLOADS = sorted(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["workloads"])
# Each mode against the one it adds to (issue 5): what compare_runs makes per target and workload.
COMPARISONS = [("prefix_reuse", "baseline"), ("cpu_offload", "baseline"),
               ("cpu_offload", "prefix_reuse")]
RUN_CHARTS = ["ttft_distribution", "ttft_vs_cached_fraction", "kv_usage"]
SWEEP_CHARTS = ["capacity_sweep", "policy_comparison"]
# The categories of `snakemake --report` (the report(...) outputs of all).
REPORT_CATEGORIES = ["Workloads", "Estimates", "Comparisons", "Charts", "What-if", "Report"]


@lru_cache(maxsize=1)
def study_config() -> dict:
    """config/config.yaml with its defaults filled, as the pipeline reads it."""
    from kv_agent_lab.config import load_config

    return load_config(ROOT / "config" / "config.yaml")


def targets() -> list[str]:
    return [f"{t['model']}@{t['gpu']}" for t in study_config()["estimate"]["targets"]]


def comparisons(modes) -> list[tuple[str, str]]:
    return [(mode, base) for mode, base in COMPARISONS if mode in modes and base in modes]


def has_turns(workload: str) -> bool:
    """Whether the committed workload has sessions of more than one turn (read from the file,
    not from the pipeline's rule for it)."""
    with open(ROOT / "workloads" / f"{workload}.jsonl", encoding="utf-8") as handle:
        return any(json.loads(line).get("turn", 1) > 1 for line in handle if '"turn"' in line)


def run_charts(workload: str) -> list[str]:
    return [*RUN_CHARTS, *(["ttft_by_turn"] if has_turns(workload) else [])]


def estimate_jobs(*workloads: str) -> set[tuple[str, str]]:
    """The estimate and what-if jobs of ``workloads``: one estimate per target and mode of
    config.yaml, and one capacity sweep."""
    estimate = study_config()["estimate"]
    return {("estimate_workload", f"{w} {t['model']}@{t['gpu']} {mode}")
            for w in workloads for t in estimate["targets"] for mode in estimate["modes"]} | {
        ("capacity_sweep", w) for w in workloads}


def chart_jobs(*workloads: str) -> set[tuple[str, str]]:
    """The run charts of ``workloads``, every mode of one target in each: chart_runs per
    target, and chart_turns per target for workloads with more than one turn."""
    return {(rule, f"{w} {t}") for w in workloads for t in targets()
            for rule in ("chart_runs", *(["chart_turns"] if has_turns(w) else []))}


def downstream_jobs(*workloads: str) -> set[tuple[str, str]]:
    """Every job of ``all`` that depends on ``workloads``: validation, statistics, estimates
    and capacity sweep, comparisons, charts, the study summary and all."""
    modes = study_config()["estimate"]["modes"]
    return {*estimate_jobs(*workloads), *chart_jobs(*workloads),
            ("summarize_study", ""), ("all", "")} | {
        job for w in workloads for job in (
            ("validate_workload", w), ("workload_stats", w), ("chart_sweep", w),
            *(("compare_runs", f"{w} {t} {mode}_vs_{base}")
              for t in targets() for mode, base in comparisons(modes)))}


def expected_charts() -> list[str]:
    """Every chart `all` draws (PNGs; each has an SVG beside it)."""
    sources = [*WORKLOADS, *sorted(study_config()["whatif"].get("traces") or {})]
    return [*(f"charts/{w}/workload_stats.png" for w in WORKLOADS),
            *(f"charts/{w}/estimate/{t}/{chart}.png"
              for w in WORKLOADS for t in targets() for chart in run_charts(w)),
            *(f"charts/whatif/{s}/{chart}.png" for s in sources for chart in SWEEP_CHARTS)]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args],
                            cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def job_key(rule: str, w: dict[str, str]) -> str:
    """A job by its wildcards: "workload" (or the what-if "source"); an estimate "workload
    model@gpu mode"; a comparison "workload target mode_vs_base"; a run chart "workload
    target"; "" for a job without wildcards (summarize_study, all). Live jobs start "live"."""
    if not w:
        return ""
    if rule == "estimate_workload":
        key = f"{w['workload']} {w['model']}@{w['gpu']} {w['mode']}"
    elif rule == "compare_runs":
        key = f"{w['workload']} {w['target']} {w['mode']}_vs_{w['base']}"
    elif "workload" in w and "target" in w:
        key = " ".join([w["workload"], w["target"], *([w["mode"]] if "mode" in w else [])])
    else:
        key = w.get("workload") or w.get("source") or " ".join(w.values())
    return key if w.get("kind", "estimate") == "estimate" else f"{w['kind']} {key}"


def planned_jobs(workdir: Path, *args: str) -> set[tuple[str, str]]:
    """(rule, job_key) of every job a dry run of ``all`` would run."""
    out = snakemake(workdir, "-n", "all", *args)
    jobs: list[list] = []
    for line in (out.stdout + out.stderr).splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line)
        if match:
            jobs.append([match.group(1), {}])  # no wildcards line: a job without wildcards
            continue
        match = re.match(r"^\s+wildcards: (.*)$", line)
        if match and jobs:
            jobs[-1][1] = dict(item.split("=", 1) for item in match.group(1).split(", "))
    return {(rule, job_key(rule, w)) for rule, w in jobs}


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A fresh copy of the pipeline after one complete run of ``all``."""
    workdir = tmp_path_factory.mktemp("pipeline")
    for name in PIPELINE:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, workdir / name)
        else:
            shutil.copy2(source, workdir / name)
    first = planned_jobs(workdir)
    # A fresh clone has the committed workloads: it validates, describes, estimates,
    # compares and charts them, but does not regenerate them.
    assert first == downstream_jobs(*WORKLOADS)
    snakemake(workdir, "all")
    return workdir


def test_all_builds_every_output(built: Path):
    for name in WORKLOADS:
        assert (built / "results" / "validated" / f"{name}.json").stat().st_size > 0
        stats = yaml.safe_load((built / "results" / "stats" / f"{name}.json").read_text())
        assert stats["workload"] == name and stats["overall"]["requests"] > 0
        assert (built / "charts" / name / "workload_stats.png").stat().st_size > 10_000
        assert (built / "charts" / name / "workload_stats.svg").exists()
        sweep = json.loads((built / "results" / "whatif" / name / "capacity_sweep.json").read_text())
        lru = next(p for p in sweep["policies"] if p["name"] == "lru")
        assert lru["points"][-1]["hit_rate"] == sweep["ideal"]["hit_rate"]
        assert all(point["mean_ttft_s"] > 0 for point in lru["points"])


def test_summary_and_report_match_the_comparisons(built: Path):
    schema = json.loads((ROOT / "src" / "kv_agent_lab" / "schemas" / "summary.schema.json").read_text())
    summary = json.loads((built / "results" / "summary.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(summary)
    modes = study_config()["estimate"]["modes"]
    assert len(summary["comparisons"]) == len(WORKLOADS) * len(targets()) * len(comparisons(modes))
    report = (built / "results" / "report.md").read_text()
    for name in [*WORKLOADS, *targets()]:
        assert name in report, name
    # The headline (prefix_reuse against baseline, all requests), recomputed for one workload
    # from its comparisons, and their p50s from the estimates' requests.
    headline = report.split("## Headline", 1)[1].split("\n## ", 1)[0]
    workload = "planner"
    for target in targets():
        folder = built / "results" / "compare" / "estimate" / target / workload
        p50 = json.loads((folder / "prefix_reuse_vs_baseline.json").read_text())[
            "groups"]["overall"]["metrics"]["ttft_s"]["p50"]
        for side, mode in (("baseline", "baseline"), ("candidate", "prefix_reuse")):
            run = json.loads(
                (built / "results" / "estimates" / target / workload / f"{mode}.json").read_text())
            ttfts = [r["ttft_s"] for r in run["requests"] if r["status"] == "ok"]
            assert p50[side] == pytest.approx(statistics.median(ttfts), rel=1e-9)
        row = (f"| {workload} | estimate: {target} | "
               f"{1000 * p50['baseline']:.1f} → {1000 * p50['candidate']:.1f} |")
        assert row in headline, (row, headline)
    # Every chart linked from the report exists, and the report links every run and sweep chart.
    linked = {(built / "results" / link).resolve()
              for link in re.findall(r"\]\(([^)]+\.png)\)", report)}
    assert all(path.exists() for path in linked), sorted(p for p in linked if not p.exists())
    charts = expected_charts()
    assert linked == {(built / c).resolve() for c in charts if not c.endswith("workload_stats.png")}
    for chart in charts:
        png = built / chart
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", chart
        assert png.stat().st_size > 10_000, chart
        assert png.with_suffix(".svg").exists(), chart


def test_html_report_has_every_category(built: Path):
    out = snakemake(built, "--report", "report.html")
    html = (built / "report.html").read_text(encoding="utf-8")
    for category in REPORT_CATEGORIES:
        assert f'"{category}"' in html, (category, out.stderr[-2000:])
    for path in ["results/report.md",
                 *(str(p.relative_to(built)) for p in (built / "results" / "compare").rglob("*.json")),
                 *expected_charts()]:
        assert path in html, path


def test_second_dry_run_has_nothing_to_do(built: Path):
    out = snakemake(built, "-n", "all")
    assert "Nothing to be done" in out.stdout + out.stderr
    assert planned_jobs(built) == set()


def test_editing_one_workload_reruns_only_its_jobs(built: Path):
    path = built / "workloads" / "planner.jsonl"
    original = path.read_text()
    try:
        lines = original.splitlines(keepends=True)
        # Change one request's completion budget: a real edit that stays valid.
        index = next(i for i, l in enumerate(lines) if '"record": "request"' in l)
        lines[index] = re.sub(r'"max_tokens": \d+', '"max_tokens": 77', lines[index])
        path.write_text("".join(lines))
        assert planned_jobs(built) == downstream_jobs("planner")
    finally:
        path.write_text(original)
        snakemake(built, "all")


def test_changing_one_generator_parameter_regenerates_only_that_workload(built: Path, tmp_path):
    config = yaml.safe_load((built / "config" / "config.yaml").read_text())
    config["workloads"]["multi_turn"]["generator"]["sessions"] = 5
    edited = tmp_path / "config.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(built, "--configfile", str(edited))
    assert jobs == {("generate_workload", "multi_turn"), *downstream_jobs("multi_turn")}
    snakemake(built, "all", "--configfile", str(edited))
    regenerated = (built / "workloads" / "multi_turn.jsonl").read_text()
    assert regenerated.count('"record": "session"') == 5
    # Made from the edited block, it is up to date; the original block regenerates it again.
    assert planned_jobs(built, "--configfile", str(edited)) == set()
    assert ("generate_workload", "multi_turn") in planned_jobs(built)
    snakemake(built, "all")
    assert (built / "workloads" / "multi_turn.jsonl").read_bytes() == \
        (ROOT / "workloads" / "multi_turn.jsonl").read_bytes()


def test_changing_one_modes_setting_reruns_only_that_mode(built: Path, tmp_path):
    config = yaml.safe_load((built / "config" / "config.yaml").read_text())
    config["estimate"]["cpu_offload_gib"] = config["estimate"]["cpu_offload_gib"] // 2
    edited = tmp_path / "config.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(built, "--configfile", str(edited))
    modes = study_config()["estimate"]["modes"]
    assert jobs == {
        *(("estimate_workload", f"{w} {t} cpu_offload") for w in WORKLOADS for t in targets()),
        *(("compare_runs", f"{w} {t} {mode}_vs_{base}") for w in WORKLOADS for t in targets()
          for mode, base in comparisons(modes) if "cpu_offload" in (mode, base)),
        *chart_jobs(*WORKLOADS),  # they draw every mode
        ("summarize_study", ""), ("all", "")}
    assert not {rule for rule, _ in jobs} & {"capacity_sweep", "chart_sweep", "workload_stats"}
    assert not any(key.endswith(("baseline", "prefix_reuse")) for rule, key in jobs
                   if rule == "estimate_workload")
    assert ("compare_runs", f"planner {targets()[0]} prefix_reuse_vs_baseline") not in jobs


def test_adding_a_target_or_removing_a_mode_keeps_the_estimates(built: Path, tmp_path):
    config = yaml.safe_load((built / "config" / "config.yaml").read_text())
    added = {"model": "Qwen2.5-7B-Instruct", "gpu": "H200"}
    wider = {**config, "estimate": {**config["estimate"],
                                    "targets": [*config["estimate"]["targets"], added]}}
    fewer = {**config, "estimate": {**config["estimate"], "modes": ["baseline", "prefix_reuse"]}}
    for name, edited in (("wider", wider), ("fewer", fewer)):
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
    new, modes = "Qwen2.5-7B-Instruct@H200", study_config()["estimate"]["modes"]
    # The new target's estimates, comparisons and charts; the study summary reads them too.
    assert planned_jobs(built, "--configfile", str(tmp_path / "wider.yaml")) == {
        *(("estimate_workload", f"{w} {new} {mode}") for w in WORKLOADS for mode in modes),
        *(("compare_runs", f"{w} {new} {mode}_vs_{base}")
          for w in WORKLOADS for mode, base in comparisons(modes)),
        *((rule, f"{w} {new}") for w in WORKLOADS
          for rule in ("chart_runs", *(["chart_turns"] if has_turns(w) else []))),
        ("summarize_study", ""), ("all", "")}
    # One mode fewer: only what reads every mode (the run charts, the summary) is redone.
    assert planned_jobs(built, "--configfile", str(tmp_path / "fewer.yaml")) == {
        *chart_jobs(*WORKLOADS), ("summarize_study", ""), ("all", "")}


def test_regenerating_with_the_same_seed_is_byte_identical(built: Path):
    before = (built / "workloads" / "agent_fanout.jsonl").read_bytes()
    snakemake(built, "--force", "workloads/agent_fanout.jsonl")
    after = (built / "workloads" / "agent_fanout.jsonl").read_bytes()
    assert after == before
    snakemake(built, "all")


def test_a_deleted_workload_is_regenerated_once(built: Path):
    path = built / "workloads" / "planner.jsonl"
    original = path.read_bytes()
    path.unlink()
    # Snakemake never reruns for a deleted intermediate alone; asking for the file does.
    snakemake(built, "workloads/planner.jsonl")
    assert path.read_bytes() == original
    snakemake(built, "all")
    assert planned_jobs(built) == set()


def test_malformed_workload_fails_its_job_and_others_finish(built: Path):
    path = built / "workloads" / "shared_prompt_chat.jsonl"
    original = path.read_text()
    try:
        broken = original.replace('"max_tokens": ', '"max_tokens": -', 1)
        line = next(i for i, l in enumerate(broken.splitlines(), 1) if '"max_tokens": -' in l)
        path.write_text(broken)
        for name in ("planner", "multi_turn"):  # make the others rerun too
            (built / "results" / "stats" / f"{name}.json").unlink()
        result = snakemake(built, "--keep-going", "all", check=False)
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert re.search(rf"workloads/shared_prompt_chat\.jsonl:{line}: max_tokens: -\d+ is out of "
                         r"range: must be at least 1", output), output
        assert not (built / "results" / "validated" / "shared_prompt_chat.json").exists()
        for name in ("planner", "multi_turn"):
            assert (built / "results" / "stats" / f"{name}.json").exists()
    finally:
        path.write_text(original)
        snakemake(built, "all")


def test_lint_and_format_are_clean():
    lint = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    fmt = subprocess.run([str(Path(sys.executable).with_name("snakefmt")), "--check",
                          "Snakefile", "rules/"], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
