"""kvlab summarize: bad input names the file and writes nothing; a good run writes a summary
that validates and a report whose numbers are the inputs' numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kv_agent_lab.cli import main
from kv_agent_lab.compare import compare_reports
from kv_agent_lab.estimate.run import estimate
from kv_agent_lab.summary.command import summary_problems

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD = ROOT / "workloads" / "shared_prompt_chat.jsonl"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("summary")
    paths = {}
    reports = {}
    for mode in ("baseline", "prefix_reuse"):
        reports[mode] = estimate(WORKLOAD, mode, "Qwen2.5-3B-Instruct", "H100",
                                 {"tokenizer": "approx"})
        paths[mode] = out / f"{mode}.json"
        paths[mode].write_text(json.dumps(reports[mode]))
    comparison = compare_reports(reports["baseline"], reports["prefix_reuse"], seed=3,
                                 resamples=2000)
    paths["comparison"] = out / "prefix_reuse_vs_baseline.json"
    paths["comparison"].write_text(json.dumps(comparison))
    paths["out"] = out
    return paths


def _summarize(inputs: dict[str, Path], *extra: str) -> int:
    return main(["summarize", "--runs", str(inputs["baseline"]), str(inputs["prefix_reuse"]),
                 "--comparisons", str(inputs["comparison"]), *extra,
                 "--json", str(inputs["out"] / "summary.json"),
                 "--md", str(inputs["out"] / "report.md")])


def test_summary_validates_and_the_report_quotes_the_inputs(inputs):
    assert _summarize(inputs) == 0
    summary = json.loads((inputs["out"] / "summary.json").read_text())
    assert summary_problems(summary) == []
    comparison = json.loads(inputs["comparison"].read_text())
    ttft = comparison["groups"]["overall"]["metrics"]["ttft_s"]["p50"]
    text = (inputs["out"] / "report.md").read_text()
    # Independently formatted: baseline -> candidate TTFT p50 in ms, one decimal.
    assert f"{1000 * ttft['baseline']:.1f} → {1000 * ttft['candidate']:.1f}" in text
    assert f"{100 * ttft['relative_delta']:+.0f}%" in text
    baseline = json.loads(inputs["baseline"].read_text())
    assert summary["runs"][0]["overall"]["ttft_p50_s"] == baseline["summary"]["overall"]["ttft_s"]["p50"]
    assert {i["path"] for i in summary["inputs"]} == {
        str(inputs[k]) for k in ("baseline", "prefix_reuse", "comparison")}


@pytest.mark.parametrize("content, message", [
    (None, "cannot read"),
    ("{not json", ":1: not JSON"),
    ('{"kind": "comparison"}', "groups.overall: missing"),
    ('{"groups": {"overall": {}, "classes": {}}, "baseline": {"mode": "baseline"}, '
     '"candidate": {"kind": "estimate", "target": "t", "mode": "prefix_reuse", '
     '"workload": {"name": "w"}}, "method": {"paired": true, "confidence": 0.95}, '
     '"verdicts": []}', "not the expected kind of file"),
])
def test_bad_input_names_the_file_and_writes_nothing(inputs, tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    out_json, out_md = tmp_path / "s.json", tmp_path / "r.md"
    code = main(["summarize", "--comparisons", str(bad), "--json", str(out_json),
                 "--md", str(out_md)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(bad) in err and message in err
    assert not out_json.exists() and not out_md.exists()
