"""`snakemake live` against the real local vLLM CPU backend: every workload in each mode
the backend can run, a fresh server per run, reports in the shared schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kv_agent_lab.report import read_report
from kv_agent_lab.serve import free_port

from conftest import small_live_pipeline

ROOT = Path(__file__).resolve().parents[1]


def test_live_target_runs_each_mode_on_a_fresh_server(tmp_path, local_backend):
    small_live_pipeline(tmp_path, {
        "target": "ci-cpu",
        "server": {"port": free_port(), "num_gpu_blocks": 512, "max_model_len": 4096},
        "client": {"max_concurrency": 1, "time_scale": 0.0},
    })
    dry = subprocess.run([sys.executable, "-m", "snakemake", "-n", "live"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    # vLLM refuses cpu_offload on the CPU backend: no live run of it (estimates have one).
    assert "results/live/ci-cpu/chat/cpu_offload" not in dry.stdout
    run = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", "live"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-5000:] + run.stderr[-5000:]
    base = tmp_path / "results" / "live" / "ci-cpu" / "chat"
    reports = {mode: read_report(base / mode / "report.json") for mode in ("baseline", "prefix_reuse")}
    assert not (base / "cpu_offload").exists()
    for mode, report in reports.items():
        assert report["kind"] == "live" and report["mode"] == mode
        assert report["summary"]["overall"]["ok"] == 4
        launch = report["provenance"]["server"]["launch"]
        assert ("--enable-prefix-caching" if mode == "prefix_reuse"
                else "--no-enable-prefix-caching") in launch["argv"]
        lines = (base / mode / "requests.jsonl").read_text().splitlines()
        assert len(lines) == 4 and all(json.loads(line)["status"] == "ok" for line in lines)
    # A fresh server per run: the baseline never hits, and prefix reuse hits the shared
    # system prompt from the second request on.
    assert reports["baseline"]["summary"]["overall"]["cached_tokens"] == 0
    in_order = sorted(reports["prefix_reuse"]["requests"], key=lambda r: r["send_time_s"])
    cached = [r["cached_tokens"] for r in in_order]
    assert cached[0] == 0 and all(c > 0 for c in cached[1:])
    # The live target also compares the modes, sets up each run's estimate twin like the
    # measured server, and writes the live report.
    comparison = json.loads((tmp_path / "results" / "compare" / "live" / "ci-cpu" / "chat"
                             / "prefix_reuse_vs_baseline.json").read_text())
    assert comparison["method"]["paired"] is True
    hit = comparison["groups"]["overall"]["metrics"]["hit_rate"]["value"]
    assert hit["baseline"] == 0 and hit["candidate"] == pytest.approx(
        reports["prefix_reuse"]["summary"]["overall"]["hit_rate"], abs=1e-6)  # report: 6 places
    for mode, report in reports.items():
        twin = read_report(base / mode / "estimate.json")
        cache = report["provenance"]["server"]["cache_config"]
        estimator = twin["provenance"]["estimator"]
        assert (estimator["block_size"], estimator["num_blocks"]) == \
            (int(cache["block_size"]), int(cache["num_gpu_blocks"]))
        # Same tokenizer and chat template as the server: prompt lengths agree exactly.
        assert [r["prompt_tokens"] for r in twin["requests"]] == \
            [r["prompt_tokens"] for r in report["requests"]]
        parity = json.loads((tmp_path / "results" / "compare" / "parity" / "ci-cpu" / "chat"
                             / f"{mode}.json").read_text())
        error_pp = parity["groups"]["overall"]["hit_rate"]["error_pp"]
        assert error_pp is not None and abs(error_pp) < 10
    assert (tmp_path / "charts" / "parity" / "ci-cpu" / "parity.png").stat().st_size > 10_000
    text = (tmp_path / "results" / "live" / "ci-cpu" / "report.md").read_text()
    assert "## Live runs" in text and "## The estimate against the live run" in text
    again = subprocess.run([sys.executable, "-m", "snakemake", "-n", "live"], cwd=tmp_path,
                           capture_output=True, text=True, timeout=300)
    assert "Nothing to be done" in again.stdout + again.stderr
