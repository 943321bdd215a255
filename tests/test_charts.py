"""The report charts (kv_agent_lab.charts): drawn from real estimates of a small generated
workload, byte-stable SVGs, one colour per mode and policy across charts, and bad input."""

from __future__ import annotations

import copy
import json

import matplotlib.colors
import pytest

from kv_agent_lab import charts
from kv_agent_lab.charts import (CLASS_COLOURS, MODE_COLOURS, POLICY_COLOURS, ChartInputError,
                                 NotApplicable)
from kv_agent_lab.cli import main
from kv_agent_lab.estimate import run as est_run
from kv_agent_lab.generate.write import write_generated_workload
from kv_agent_lab.report import write_report

MODES = ("baseline", "prefix_reuse", "cpu_offload")
# A small agent_fanout: two classes (planner, subagent) and two turns (plan, aggregate).
FANOUT = {
    "shape": "agent_fanout", "seed": 77, "sessions": 3,
    "arrival": {"process": "poisson", "rate_per_s": 0.5}, "persona": "coding_assistant",
    "system_prompt_tokens": 600, "tool_definition_tokens": 400, "role_template_tokens": 200,
    "roles": ["researcher", "coder"], "fanout": {"min": 2, "max": 3},
    "task_tokens": {"min": 60, "max": 120}, "subtask_tokens": {"min": 30, "max": 60},
    "reply_tokens": {"min": 40, "max": 80}, "aggregation": True,
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    """Estimates of the workload in every mode (H100), one more on another target standing in
    for a live run, and a capacity sweep comparing policies with mean TTFT."""
    root = tmp_path_factory.mktemp("charts")
    workload = root / "fanout.jsonl"
    write_generated_workload("fanout", FANOUT, "approx", workload)
    reports = {}
    for mode in MODES:
        report = est_run.estimate(workload, mode, "Qwen2.5-3B-Instruct", "H100", {})
        write_report(report, root / f"{mode}.json")
        reports[mode] = report
    other = est_run.estimate(workload, "prefix_reuse", "Llama-3.1-8B-Instruct", "L40S", {})
    other["kind"], other["target"] = "live", "stand-in-live"  # schema-valid as a live report
    write_report(other, root / "live.json")
    sweep = root / "sweep.json"
    assert main(["sweep", str(workload), "--compare-policies", "--points", "5", "--model",
                 "Qwen2.5-3B-Instruct", "--gpu", "H100", "-q", "--out", str(sweep)]) == 0
    return {"root": root, "reports": reports, "live": other,
            "sweep": json.loads(sweep.read_text()), "sweep_path": sweep}


def _figures(inputs) -> dict:
    runs = [inputs["reports"][m] for m in MODES]
    sweep = inputs["sweep"]
    return {
        "ttft_distribution": charts.ttft_distribution_figure(runs),
        "ttft_by_turn": charts.ttft_by_turn_figure(runs),
        "ttft_vs_cached_fraction": charts.ttft_vs_cached_fraction_figure(runs),
        "kv_usage": charts.kv_usage_figure(runs),
        "capacity_sweep": charts.capacity_sweep_figure(sweep),
        "policy_comparison": charts.policy_comparison_figure(sweep),
        "parity": charts.parity_figure([(inputs["reports"]["prefix_reuse"], inputs["live"])]),
    }


def _colours_by_gid(fig) -> dict[str, set[str]]:
    """gid ('mode:baseline', 'policy:lru', 'class:planner') -> the colours its artists use
    (a line's colour; a scatter's fill, or its edge where the markers are hollow)."""
    out: dict[str, set[str]] = {}
    for ax in fig.axes:
        for artist in [*ax.lines, *ax.collections]:
            gid = artist.get_gid()
            if not gid:
                continue
            if hasattr(artist, "get_facecolor"):  # a scatter: its fill, else (hollow) its edge
                faces = [c for c in artist.get_facecolor() if c[3] > 0]
                colours = faces or list(artist.get_edgecolor())
            else:
                colours = [artist.get_color()]
            out.setdefault(gid, set()).update(matplotlib.colors.to_hex(c) for c in colours)
    return out


def test_every_chart_writes_png_and_a_byte_stable_svg(inputs, tmp_path):
    runs = [inputs["reports"][m] for m in MODES]
    sweep = inputs["sweep"]
    pair = [(inputs["reports"]["prefix_reuse"], inputs["live"])]
    plots = {
        "ttft_distribution": lambda p: charts.plot_ttft_distribution(runs, p),
        "ttft_by_turn": lambda p: charts.plot_ttft_by_turn(runs, p),
        "ttft_vs_cached_fraction": lambda p: charts.plot_ttft_vs_cached_fraction(runs, p),
        "kv_usage": lambda p: charts.plot_kv_usage(runs, p),
        "capacity_sweep": lambda p: charts.plot_capacity_sweep(sweep, p),
        "policy_comparison": lambda p: charts.plot_policy_comparison(sweep, p),
        "parity": lambda p: charts.plot_parity(pair, p),
    }
    for name, plot in plots.items():
        first = plot(tmp_path / "a" / f"{name}.png")
        second = plot(tmp_path / "b" / f"{name}.png")
        assert [p.name for p in first] == [f"{name}.png", f"{name}.svg"]
        png, svg = first
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
        assert svg.read_bytes().startswith(b"<?xml")
        assert svg.read_bytes() == second[1].read_bytes(), f"{name}.svg differs between runs"
    # written atomically: no temporary file is left beside the charts
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(
        f"{n}.{ext}" for n in plots for ext in ("png", "svg"))


def test_one_colour_per_mode_policy_and_class_in_every_chart(inputs):
    seen: dict[str, dict[str, set[str]]] = {}
    for name, fig in _figures(inputs).items():
        for gid, colours in _colours_by_gid(fig).items():
            seen.setdefault(gid, {})[name] = colours
    expected = {**{f"mode:{m}": c for m, c in MODE_COLOURS.items()},
                **{f"policy:{p}": c for p, c in POLICY_COLOURS.items()},
                **{f"class:{k}": c for k, c in CLASS_COLOURS.items()}}
    for gid, by_chart in seen.items():
        for chart, colours in by_chart.items():
            assert colours == {expected[gid].lower()}, (gid, chart, colours)
    # every mode is drawn by the four run charts, every policy by both sweep charts
    for mode in MODES:
        assert set(seen[f"mode:{mode}"]) == {"ttft_distribution", "ttft_by_turn",
                                            "ttft_vs_cached_fraction", "kv_usage"}
    assert set(seen["policy:lru"]) == {"capacity_sweep", "policy_comparison"}
    for policy in ("shared", "prefix", "oracle"):
        assert "policy_comparison" in seen[f"policy:{policy}"]
    assert set(seen["class:planner"]) == set(seen["class:subagent"]) == {"parity"}
    assert len(set(MODE_COLOURS.values()) | set(CLASS_COLOURS.values())) == 7


def test_parity_values_are_the_reports_own_per_class_summary(inputs):
    report = inputs["reports"]["prefix_reuse"]
    metrics = charts.class_metrics(report)
    assert set(metrics) == {"planner", "subagent"}
    for cls, values in metrics.items():
        summary = report["summary"]["classes"][cls]
        assert values["hit_rate"] == pytest.approx(summary["hit_rate"], abs=1e-6)
        assert values["ttft_mean_s"] == pytest.approx(summary["ttft_s"]["mean"])
        assert values["ttft_p50_s"] == pytest.approx(summary["ttft_s"]["p50"])
        assert values["output_tokens_per_s"] == pytest.approx(summary["output_tokens_per_s"],
                                                              rel=1e-4)


def test_single_turn_runs_skip_the_turn_chart(inputs, tmp_path, capsys):
    runs = [copy.deepcopy(inputs["reports"][m]) for m in MODES]
    for report in runs:
        for record in report["requests"]:
            record["turn"] = 1
    with pytest.raises(NotApplicable, match="turn 1"):
        charts.ttft_by_turn_figure(runs)
    paths = []
    for mode, report in zip(MODES, runs):
        write_report(report, tmp_path / f"{mode}.json")
        paths.append(str(tmp_path / f"{mode}.json"))
    assert main(["charts", "--reports", *paths, "--out", str(tmp_path / "out")]) == 0
    assert "skipped ttft_by_turn" in capsys.readouterr().err
    assert sorted(p.stem for p in (tmp_path / "out").glob("*.png")) == [
        "kv_usage", "ttft_distribution", "ttft_vs_cached_fraction"]


def test_cli_draws_every_chart_of_reports_sweep_and_parity(inputs, tmp_path, capsys):
    root = inputs["root"]
    out = tmp_path / "charts"
    assert main(["charts", "--reports", *(str(root / f"{m}.json") for m in MODES),
                 "--sweep", str(inputs["sweep_path"]),
                 "--parity", str(root / "prefix_reuse.json"), str(root / "live.json"),
                 "--out", str(out)]) == 0
    stems = ["capacity_sweep", "kv_usage", "parity", "policy_comparison", "ttft_by_turn",
             "ttft_distribution", "ttft_vs_cached_fraction"]
    assert sorted(p.stem for p in out.glob("*.png")) == stems
    assert sorted(p.stem for p in out.glob("*.svg")) == stems
    assert len(capsys.readouterr().out.splitlines()) == 2 * len(stems)


def _bad(tmp_path, name: str, data) -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_bad_input_names_file_and_field_exits_2_and_writes_nothing(inputs, tmp_path, capsys):
    root, good = inputs["root"], inputs["reports"]["prefix_reuse"]
    no_ttft = copy.deepcopy(good)
    del no_ttft["requests"][3]["ttft_s"]
    other_workload = copy.deepcopy(inputs["live"])
    other_workload["workload"]["sha256"] = "0" * 64
    no_samples = copy.deepcopy(good)
    no_samples["server_metrics"]["samples"] = []
    cases = [
        (["--reports", _bad(tmp_path, "broken.json", "{not json")], "broken.json: (line 1)"),
        (["--reports", _bad(tmp_path, "no_ttft.json", no_ttft)],
         "no_ttft.json: requests/3: 'ttft_s' is a required property"),
        (["--reports", str(root / "baseline.json"), _bad(tmp_path, "again.json", good),
          str(root / "prefix_reuse.json")], "mode: 'prefix_reuse' is also the mode of"),
        (["--reports", str(root / "baseline.json"), str(root / "live.json")],
         "live.json: target: 'stand-in-live' differs"),
        (["--reports", str(inputs["sweep_path"])],
         "sweep.json: kind: 'capacity_sweep' is a capacity sweep"),
        (["--sweep", str(root / "baseline.json")], "baseline.json: kind: 'estimate' is a run"),
        (["--sweep", _bad(tmp_path, "cut.json", {**inputs["sweep"], "ideal": {}})],
         "cut.json: ideal: 'queries' is a required property"),
        (["--parity", str(root / "prefix_reuse.json"),
          _bad(tmp_path, "elsewhere.json", other_workload)],
         "elsewhere.json: workload/sha256: "),
        (["--parity", str(root / "prefix_reuse.json"), str(root / "baseline.json")],
         "baseline.json: mode: 'baseline' differs from 'prefix_reuse'"),
        (["--reports", str(tmp_path / "missing.json")], "missing.json: (file): cannot read"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        assert main(["charts", *args, "--out", str(out)]) == 2, args
        err = capsys.readouterr().err
        assert message in err, (message, err)
        assert "nothing written" in err and not out.exists()
    with pytest.raises(ChartInputError, match="server_metrics/samples: missing or empty"):
        charts.kv_usage_figure([no_samples])
    assert main(["charts", "--out", str(tmp_path / "out")]) == 2
