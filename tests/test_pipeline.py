"""The DAG behaves as users expect: dry runs, nothing to redo, exact regeneration,
and a malformed workload failing only its own jobs. Runs Snakemake for real in a
copy of the repository's pipeline files."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PIPELINE = ["Snakefile", "rules", "workflow_scripts", "config", "profiles", "envs",
            "workflow_report", "workloads"]
WORKLOADS = sorted(yaml.safe_load((ROOT / "config" / "config.yaml").read_text())["workloads"])


def estimate_jobs(*workloads: str) -> set[tuple[str, str]]:
    """The estimate and what-if jobs of ``workloads``: one estimate per target and mode of
    config.yaml, and one capacity sweep."""
    from kv_agent_lab.config import load_config

    estimate = load_config(ROOT / "config" / "config.yaml")["estimate"]
    return {("estimate_workload", f"{w} {t['model']}@{t['gpu']} {mode}")
            for w in workloads for t in estimate["targets"] for mode in estimate["modes"]} | {
        ("capacity_sweep", w) for w in workloads}


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args],
                            cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def planned_jobs(workdir: Path, *args: str) -> set[tuple[str, str]]:
    """(rule, workload) of every job a dry run of ``all`` would run; for an estimate,
    (rule, "workload model@gpu mode")."""
    out = snakemake(workdir, "-n", "all", *args)
    text = out.stdout + out.stderr
    jobs, rule = set(), None
    for line in text.splitlines():
        match = re.match(r"^(?:local)?rule (\w+):", line)
        if match:
            rule = match.group(1)
            if rule == "all":
                jobs.add(("all", ""))
            continue
        match = re.match(r"^\s+wildcards: (.*)$", line)
        if match and rule:
            w = dict(item.split("=", 1) for item in match.group(1).split(", "))
            key = w.get("workload") or w["source"]
            if "mode" in w:
                key = f"{key} {w['model']}@{w['gpu']} {w['mode']}"
            jobs.add((rule, key))
    return jobs


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
    # A fresh clone has the committed workloads: it validates and describes them but
    # does not regenerate them.
    assert {rule for rule, _ in first} == {"validate_workload", "workload_stats",
                                           "estimate_workload", "capacity_sweep", "all"}
    assert {j for j in first if j[0] in ("estimate_workload", "capacity_sweep")} == \
        estimate_jobs(*WORKLOADS)
    assert {w for r, w in first if r == "workload_stats"} == set(WORKLOADS)
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
        assert planned_jobs(built) == {("validate_workload", "planner"),
                                       ("workload_stats", "planner"), ("all", ""),
                                       *estimate_jobs("planner")}
    finally:
        path.write_text(original)
        snakemake(built, "all")


def test_changing_one_generator_parameter_regenerates_only_that_workload(built: Path, tmp_path):
    config = yaml.safe_load((built / "config" / "config.yaml").read_text())
    config["workloads"]["multi_turn"]["generator"]["sessions"] = 5
    edited = tmp_path / "config.yaml"
    edited.write_text(yaml.safe_dump(config, sort_keys=False))
    jobs = planned_jobs(built, "--configfile", str(edited))
    assert jobs == {("generate_workload", "multi_turn"), ("validate_workload", "multi_turn"),
                    ("workload_stats", "multi_turn"), ("all", ""),
                    *estimate_jobs("multi_turn")}
    snakemake(built, "all", "--configfile", str(edited))
    regenerated = (built / "workloads" / "multi_turn.jsonl").read_text()
    assert regenerated.count('"record": "session"') == 5
    # Made from the edited block, it is up to date; the original block regenerates it again.
    assert planned_jobs(built, "--configfile", str(edited)) == set()
    assert ("generate_workload", "multi_turn") in planned_jobs(built)
    snakemake(built, "all")
    assert (built / "workloads" / "multi_turn.jsonl").read_bytes() == \
        (ROOT / "workloads" / "multi_turn.jsonl").read_bytes()


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
