"""kv_agent_lab.compare: the bootstrap against independent computations, paired against
independent resampling, the spans-zero rule on data whose answer is known, determinism, the
output schemas, estimate-vs-live errors, and the errors ``kvlab compare`` / ``parity`` give.

Reports come from the real estimator (the committed workloads) or are written here in the
report schema, with values chosen so that the right answer is known in advance."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from kv_agent_lab.cli import main
from kv_agent_lab.compare import (
    CompareError,
    compare_reports,
    estimate_error,
    load_report,
    output_problems,
    render_markdown,
    render_parity_markdown,
)
from kv_agent_lab.compare.bootstrap import RankedValues, index_chunks, resample_columns, stream
from kv_agent_lab.compare.run_level import kv_usage, time_weighted_mean
from kv_agent_lab.report import report_problems, summarize

ROOT = Path(__file__).resolve().parents[1]
SHA_A, SHA_B = "a" * 64, "b" * 64


# --- reports built here ----------------------------------------------------------------------

def record(i: int, ttft_s: float, cls: str = "chat", status: str = "ok", prompt: int = 1000,
           cached: int = 0, completion: int = 100, tpot_s: float = 0.01) -> dict:
    e2e = ttft_s + tpot_s * (completion - 1)
    return {"id": f"r{i:04d}", "session": f"s{i}", "turn": 1, "class": cls, "status": status,
            "prompt_tokens": prompt, "cached_tokens": cached, "completion_tokens": completion,
            "send_time_s": i * 0.5, "ttft_s": ttft_s if status == "ok" else None,
            "tpot_s": tpot_s if status == "ok" else None, "e2e_s": e2e if status == "ok" else None}


def report(records: list[dict], mode: str = "baseline", sha: str = SHA_A, kind: str = "estimate",
           target: str = "m@g", samples: list[dict] | None = None) -> dict:
    out = {"schema_version": 1, "kind": kind, "mode": mode, "target": target,
           "workload": {"name": "w", "path": "w.jsonl", "sha256": sha},
           "provenance": {"lab_version": "0", "host": "h", "started_at": "t0", "finished_at": "t1"},
           "requests": records, "summary": summarize(records)}
    if samples is not None:
        out["server_metrics"] = {"delta": {"preemptions": 0}, "samples": samples}
    assert report_problems(out) == []
    return out


def spread_ttfts(n: int, seed: int = 3) -> list[float]:
    """Heterogeneous requests: TTFTs over two orders of magnitude."""
    rng = np.random.default_rng(seed)
    return [float(x) for x in rng.lognormal(-3.0, 1.0, size=n)]


def scaled_pair(factor: float, n: int = 80, same_workload: bool = True) -> tuple[dict, dict]:
    """Candidate = baseline with every TTFT times ``factor`` (so each percentile too)."""
    ttfts = spread_ttfts(n)
    base = report([record(i, t, cls="a" if i % 2 else "b") for i, t in enumerate(ttfts)])
    cand = report([record(i, t * factor, cls="a" if i % 2 else "b") for i, t in enumerate(ttfts)],
                  mode="prefix_reuse", sha=SHA_A if same_workload else SHA_B)
    return base, cand


@pytest.fixture(scope="module")
def estimates(tmp_path_factory) -> dict[str, Path]:
    """The real estimator on two committed workloads, baseline and prefix_reuse."""
    out = tmp_path_factory.mktemp("estimates")
    paths = {}
    for workload in ("shared_prompt_chat", "agent_fanout"):
        for mode in ("baseline", "prefix_reuse"):
            path = out / f"{workload}.{mode}.json"
            assert main(["estimate", str(ROOT / "workloads" / f"{workload}.jsonl"), "--mode", mode,
                         "--model", "Qwen2.5-3B-Instruct", "--gpu", "H100", "--out", str(path),
                         "--config", str(ROOT / "config" / "config.yaml")]) == 0
            paths[f"{workload}.{mode}"] = path
    return paths


# --- the vectorized statistics against numpy, row by row ----------------------------------

@pytest.mark.parametrize("n", [2, 3, 10, 101, 1000])
def test_resampled_percentiles_equal_numpy_percentile_row_by_row(n):
    rng = np.random.default_rng(n)
    values = np.round(rng.lognormal(size=n), 2)  # rounded: ties, which ranks must survive
    indices = rng.integers(0, n, size=(50, n))
    got = RankedValues(values).percentiles(indices)
    for q, name in ((50, "p50"), (90, "p90"), (99, "p99")):
        expected = [np.percentile(values[row], q) for row in indices]
        np.testing.assert_allclose(got[name], expected, rtol=1e-12, atol=0)


def test_resample_columns_uses_one_draw_for_every_column():
    """Sums and percentiles of two columns, against a plain loop over the same draws: the
    columns must be resampled together (the paired design depends on it)."""
    n, resamples = 37, 500
    rng = np.random.default_rng(0)
    a, b = rng.random(n), rng.random(n) * 3
    got = resample_columns({"a": a, "b": b}, ["a", "b"], stream(5, "g", "m", "paired"), resamples)
    rows = np.concatenate(list(index_chunks(stream(5, "g", "m", "paired"), n, resamples)))
    assert rows.shape == (resamples, n)
    for name, column in (("a", a), ("b", b)):
        np.testing.assert_allclose(got[name]["sum"], [sum(column[i] for i in row) for row in rows],
                                   rtol=1e-12)
        np.testing.assert_allclose(got[name]["p90"], [np.percentile(column[row], 90) for row in rows],
                                   rtol=1e-12)


def test_paired_interval_equals_a_plain_loop_over_the_documented_draws():
    """The whole path, compare_reports -> interval, against a loop written here: resample
    request indices from the documented stream, take both runs' values of each, p50 each,
    difference, then the 2.5th and 97.5th percentile of the differences."""
    base = report([record(i, t) for i, t in enumerate(spread_ttfts(30))])
    rng = np.random.default_rng(11)
    cand = report([record(i, r["ttft_s"] * rng.uniform(0.3, 1.2)) for i, r in
                   enumerate(base["requests"])], mode="prefix_reuse")
    result = compare_reports(base, cand, seed=4, resamples=3000)
    b = np.array([r["ttft_s"] for r in base["requests"]])
    c = np.array([r["ttft_s"] for r in cand["requests"]])
    draws = stream(4, "overall", "ttft_s+tpot_s+e2e_s+hit_rate", "paired")
    rows = np.concatenate(list(index_chunks(draws, len(b), 3000)))
    deltas = [np.percentile(c[row], 50) - np.percentile(b[row], 50) for row in rows]
    ratios = [np.percentile(c[row], 50) / np.percentile(b[row], 50) - 1 for row in rows]
    item = result["groups"]["overall"]["metrics"]["ttft_s"]["p50"]
    np.testing.assert_allclose(item["ci"]["delta"], np.percentile(deltas, [2.5, 97.5]), rtol=1e-12)
    np.testing.assert_allclose(item["ci"]["relative_delta"], np.percentile(ratios, [2.5, 97.5]),
                               rtol=1e-12)
    assert item["baseline"] == pytest.approx(np.percentile(b, 50))
    assert item["candidate"] == pytest.approx(np.percentile(c, 50))
    assert item["delta"] == pytest.approx(np.percentile(c, 50) - np.percentile(b, 50))


def plain_bootstrap(values_b, values_c, statistic, resamples, seed, paired):
    """An independent percentile bootstrap: Python's random module, a loop, no numpy draws."""
    rng = random.Random(seed)
    n_b, n_c = len(values_b), len(values_c)
    deltas = []
    for _ in range(resamples):
        pick_b = [rng.randrange(n_b) for _ in range(n_b)]
        pick_c = pick_b if paired else [rng.randrange(n_c) for _ in range(n_c)]
        deltas.append(statistic([values_c[i] for i in pick_c])
                      - statistic([values_b[i] for i in pick_b]))
    deltas.sort()
    return np.percentile(deltas, [2.5, 97.5])


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("statistic", ["mean", "p90"])
def test_intervals_agree_with_an_independent_bootstrap(paired, statistic):
    """Different random draws, so agreement is up to Monte Carlo error: bounds within 15% of
    the interval's width (the error of a 2.5% quantile of 4,000 resamples is a few %)."""
    ttfts = spread_ttfts(60, seed=8)
    rng = np.random.default_rng(2)
    cand_ttfts = [t * rng.uniform(0.4, 1.1) for t in ttfts]
    base = report([record(i, t) for i, t in enumerate(ttfts)])
    cand = report([record(i, t) for i, t in enumerate(cand_ttfts)], mode="prefix_reuse",
                  sha=SHA_A if paired else SHA_B)
    result = compare_reports(base, cand, seed=1, resamples=10_000)
    assert result["method"]["paired"] is paired
    got = result["groups"]["overall"]["metrics"]["ttft_s"][statistic]["ci"]["delta"]
    function = (lambda xs: sum(xs) / len(xs)) if statistic == "mean" else \
        (lambda xs: float(np.percentile(xs, 90)))
    expected = plain_bootstrap(ttfts, cand_ttfts, function, 4000, seed=9, paired=paired)
    width = expected[1] - expected[0]
    assert abs(got[0] - expected[0]) < 0.15 * width
    assert abs(got[1] - expected[1]) < 0.15 * width


def test_hit_rate_is_a_ratio_of_sums_with_a_paired_interval():
    base = report([record(i, 0.05, prompt=1000 + 100 * i) for i in range(40)])
    cand = report([record(i, 0.02, prompt=1000 + 100 * i, cached=(800 if i % 4 else 0))
                   for i in range(40)], mode="prefix_reuse")
    result = compare_reports(base, cand, seed=0, resamples=4000)
    item = result["groups"]["overall"]["metrics"]["hit_rate"]["value"]
    prompts = [1000 + 100 * i for i in range(40)]
    cached = [800 if i % 4 else 0 for i in range(40)]
    assert item["candidate"] == pytest.approx(sum(cached) / sum(prompts))
    assert item["baseline"] == 0.0
    assert item["relative_delta"] is None and item["ci"]["relative_delta"] is None  # ratio to 0
    low, high = item["ci"]["delta"]
    assert low < item["delta"] < high and low > 0
    # independently: resample (cached, prompt) pairs, ratio of sums (the baseline's is 0)
    ratio_of_sums = lambda xs: sum(c for c, _ in xs) / sum(p for _, p in xs)  # noqa: E731
    expected = plain_bootstrap([(0, p) for p in prompts], list(zip(cached, prompts)), ratio_of_sums,
                               4000, seed=3, paired=True)
    width = expected[1] - expected[0]
    assert abs(low - expected[0]) < 0.15 * width and abs(high - expected[1]) < 0.15 * width
    verdict = next(v for v in result["verdicts"]
                   if v["group"] == "overall" and v["family"] == "hit_rate")
    assert verdict["significant"] is True
    assert verdict["text"].startswith("prefix_reuse raises the prefix-cache hit rate by "
                                      f"{item['delta'] * 100:.1f} pp (95% CI ")


# --- paired against independent, and the spans-zero rule -----------------------------------

def test_paired_sees_a_uniform_speedup_that_independent_resampling_cannot():
    """Every request 10% faster: paired, each resample's percentile falls exactly 10%, so the
    interval is a point; independent, the spread between requests swamps it."""
    paired = compare_reports(*scaled_pair(0.9), seed=0, resamples=5000)
    independent = compare_reports(*scaled_pair(0.9, same_workload=False), seed=0, resamples=5000)
    assert paired["method"]["paired"] and not independent["method"]["paired"]
    for statistic in ("mean", "p50", "p90", "p99"):
        item = paired["groups"]["overall"]["metrics"]["ttft_s"][statistic]
        assert item["relative_delta"] == pytest.approx(-0.1)
        np.testing.assert_allclose(item["ci"]["relative_delta"], [-0.1, -0.1], rtol=1e-9)
        assert item["significant"] is True
        assert item["interval"] == "paired bootstrap"
        loose = independent["groups"]["overall"]["metrics"]["ttft_s"][statistic]
        assert loose["interval"] == "independent bootstrap"
        assert loose["ci"]["delta"][0] < 0 < loose["ci"]["delta"][1]
        assert loose["significant"] is False
    texts = {(v["group"], v["family"]): v["text"] for v in paired["verdicts"]}
    assert texts[("overall", "ttft_s")] == "prefix_reuse cuts TTFT p50 by 10% (95% CI 10-10%)"
    assert texts[("a", "ttft_s")].startswith("prefix_reuse cuts TTFT p50 by 10%")
    loose_texts = {(v["group"], v["family"]): v["text"] for v in independent["verdicts"]}
    assert loose_texts[("overall", "ttft_s")].startswith(
        "no significant difference in TTFT p50 between prefix_reuse and baseline (-10%, 95% CI ")


def test_spans_zero_rule_on_noise_and_on_a_shift():
    """Symmetric noise around the same values: no significant difference. The same noise plus
    a 30% cut: significant, and the verdict says by how much."""
    ttfts = spread_ttfts(200, seed=5)
    rng = np.random.default_rng(6)
    noise = rng.choice([0.97, 1.03], size=200)  # zero-mean in log terms, half up half down
    base = report([record(i, t) for i, t in enumerate(ttfts)])
    same = report([record(i, t * f) for i, (t, f) in enumerate(zip(ttfts, noise))], mode="prefix_reuse")
    cut = report([record(i, t * f * 0.7) for i, (t, f) in enumerate(zip(ttfts, noise))],
                 mode="prefix_reuse")
    null = compare_reports(base, same, seed=0, resamples=5000)
    null = null["groups"]["overall"]["metrics"]["ttft_s"]["mean"]
    assert null["ci"]["delta"][0] < 0 < null["ci"]["delta"][1] and null["significant"] is False
    real = compare_reports(base, cut, seed=0, resamples=5000)
    item = real["groups"]["overall"]["metrics"]["ttft_s"]["mean"]
    assert item["ci"]["delta"][1] < 0 and item["significant"] is True
    low, high = item["ci"]["relative_delta"]
    assert -0.33 < low < item["relative_delta"] < high < -0.27


def test_identical_runs_are_no_difference_with_a_zero_interval():
    base, _ = scaled_pair(1.0)
    result = compare_reports(base, base, seed=0, resamples=500)
    for family in ("ttft_s", "tpot_s", "e2e_s"):
        for item in result["groups"]["overall"]["metrics"][family].values():
            assert item["delta"] == 0 and item["ci"]["delta"] == [0.0, 0.0]
            assert item["significant"] is False
    assert all(v["significant"] in (False, None) for v in result["verdicts"])
    assert any(v["text"].startswith("no significant difference in TTFT p50") for v in result["verdicts"])


def test_run_level_values_have_no_interval():
    samples_a = [{"t_s": 0.0, "kv_cache_usage": 0.2}, {"t_s": 1.0, "kv_cache_usage": 0.4},
                 {"t_s": 3.0, "kv_cache_usage": 0.0}]
    samples_b = [{"t_s": 0.0, "kv_cache_usage": 0.1}, {"t_s": 2.0, "kv_cache_usage": 0.1}]
    base = report([record(i, 0.05) for i in range(10)], kind="live", samples=samples_a)
    cand = report([record(i, 0.03) for i in range(10)], kind="live", mode="prefix_reuse",
                  samples=samples_b)
    assert time_weighted_mean([(0.0, 0.2), (1.0, 0.4), (3.0, 0.0)]) == pytest.approx(1.0 / 3)
    assert kv_usage(base) == {"peak": 0.4, "time_weighted_mean": pytest.approx(1.0 / 3)}
    metrics = compare_reports(base, cand, resamples=200)["groups"]["overall"]["metrics"]
    peak = metrics["kv_usage"]["peak"]
    assert (peak["baseline"], peak["candidate"]) == (0.4, 0.1)
    assert peak["ci"] == {"delta": None, "relative_delta": None} and peak["significant"] is None
    throughput = metrics["throughput"]["requests_per_s"]
    assert throughput["baseline"] == base["summary"]["overall"]["requests_per_s"]
    assert throughput["significant"] is None and throughput["interval"].startswith("none: one value")
    assert metrics["preemptions"]["count"]["baseline"] == 0


# --- exclusions ------------------------------------------------------------------------------

def test_failed_requests_are_excluded_and_counted():
    ttfts = spread_ttfts(40)
    base = report([record(i, t, status="error" if i in (1, 2) else "ok") for i, t in enumerate(ttfts)])
    cand = report([record(i, t * 0.5, status="error" if i in (2, 3, 4) else "ok")
                   for i, t in enumerate(ttfts)], mode="prefix_reuse")
    result = compare_reports(base, cand, seed=0, resamples=500)
    counts = result["groups"]["overall"]["requests"]
    assert counts["compared"] == 36
    assert counts["excluded"] == {"failed_in_baseline_only": 1, "failed_in_candidate_only": 2,
                                  "failed_in_both": 1}
    assert counts["baseline"] == {"total": 40, "ok": 38, "errors": 2}
    item = result["groups"]["overall"]["metrics"]["ttft_s"]["p50"]
    kept = [t for i, t in enumerate(ttfts) if i not in (1, 2, 3, 4)]
    assert item["n"] == {"baseline": 36, "candidate": 36}
    assert item["baseline"] == pytest.approx(np.percentile(kept, 50))  # same requests both sides
    assert ("1 failed in baseline only, 2 failed in candidate only, 1 failed in both"
            in render_markdown(result))


def test_null_values_drop_from_both_sides_of_a_pair():
    records = [record(i, 0.05 + i * 0.001) for i in range(20)]
    records[3]["tpot_s"] = None  # a one-token reply has no TPOT
    base = report(records)
    cand = report([record(i, 0.04) for i in range(20)], mode="prefix_reuse")
    item = compare_reports(base, cand, resamples=300)["groups"]["overall"]["metrics"]["tpot_s"]["mean"]
    assert item["n"] == {"baseline": 19, "candidate": 19}


# --- determinism and the outputs ------------------------------------------------------------

def test_same_seed_same_bytes_other_seed_other_intervals():
    base, cand = scaled_pair(0.8, same_workload=False)
    first = json.dumps(compare_reports(base, cand, seed=3, resamples=2000))
    assert json.dumps(compare_reports(base, cand, seed=3, resamples=2000)) == first
    other = compare_reports(base, cand, seed=4, resamples=2000)
    assert json.dumps(other) != first
    assert other["groups"]["overall"]["metrics"]["ttft_s"]["p50"]["delta"] == \
        json.loads(first)["groups"]["overall"]["metrics"]["ttft_s"]["p50"]["delta"]


def test_real_estimates_prefix_reuse_against_baseline(estimates, tmp_path, capsys):
    out, md = tmp_path / "c.json", tmp_path / "c.md"
    assert main(["compare", "--baseline", str(estimates["shared_prompt_chat.baseline"]),
                 "--candidate", str(estimates["shared_prompt_chat.prefix_reuse"]),
                 "--out", str(out), "--md", str(md), "--resamples", "2000"]) == 0
    stderr = capsys.readouterr().err
    result = json.loads(out.read_text())
    assert output_problems(result) == []
    assert result["method"]["paired"] is True
    ttft = result["groups"]["overall"]["metrics"]["ttft_s"]["p50"]
    assert ttft["significant"] is True and ttft["ci"]["relative_delta"][1] < -0.5
    hit = result["groups"]["overall"]["metrics"]["hit_rate"]["value"]
    assert hit["baseline"] == 0 and hit["candidate"] > 0.9 and hit["significant"]
    assert "overall: prefix_reuse cuts TTFT p50 by" in stderr
    assert "overall: prefix_reuse raises the prefix-cache hit rate by" in stderr
    text = md.read_text()
    assert text.startswith("# prefix_reuse against baseline") and "| TTFT p50 |" in text
    assert result["groups"]["classes"].keys() == {"shared_prompt_chat"}
    # the only class is every request: its numbers are the overall ones
    assert result["groups"]["classes"]["shared_prompt_chat"]["metrics"]["ttft_s"] == \
        result["groups"]["overall"]["metrics"]["ttft_s"]


def test_two_classes_and_mixed_workloads(estimates):
    """agent_fanout has planner and subagent classes; against shared_prompt_chat (another
    workload) the comparison is independent and only the overall group is shared."""
    fanout_b = load_report(estimates["agent_fanout.baseline"])
    fanout_p = load_report(estimates["agent_fanout.prefix_reuse"])
    result = compare_reports(fanout_b, fanout_p, resamples=1000)
    assert set(result["groups"]["classes"]) == {"planner", "subagent"}
    assert {v["group"] for v in result["verdicts"]} == {"overall", "planner", "subagent"}
    assert "kv_usage" in result["groups"]["overall"]["metrics"]
    assert "kv_usage" not in result["groups"]["classes"]["planner"]["metrics"]
    chat = load_report(estimates["shared_prompt_chat.prefix_reuse"])
    mixed = compare_reports(fanout_p, chat, resamples=1000)
    assert mixed["method"]["paired"] is False
    assert mixed["groups"]["classes"] == {}
    assert mixed["classes_only_in"] == {"baseline": ["planner", "subagent"],
                                        "candidate": ["shared_prompt_chat"]}
    labels = (mixed["baseline"]["label"], mixed["candidate"]["label"])
    assert labels == ("agent_fanout", "shared_prompt_chat")
    assert output_problems(mixed) == []
    assert "Not compared (in one run only)" in render_markdown(mixed)


def test_schema_rejects_a_broken_document():
    result = compare_reports(*scaled_pair(0.9), resamples=200)
    assert output_problems(result) == []
    broken = json.loads(json.dumps(result))
    broken["groups"]["overall"]["metrics"]["ttft_s"]["p50"]["ci"]["delta"] = [1.0]
    del broken["method"]["seed"]
    problems = output_problems(broken)
    assert any(p.startswith("groups/overall/metrics/ttft_s/p50/ci/delta") for p in problems)
    assert any("seed" in p for p in problems)


# --- estimate against live -------------------------------------------------------------------

def live_from(estimate: dict, ttft_factor: float, cached_minus: int) -> dict:
    """A live report of the same workload and mode, with known differences."""
    records = [dict(r, ttft_s=r["ttft_s"] * ttft_factor,
                    cached_tokens=max(0, r["cached_tokens"] - cached_minus))
               for r in estimate["requests"]]
    live = {k: v for k, v in estimate.items() if k != "server_metrics"}
    live.update(kind="live", target="local-cpu", requests=records, summary=summarize(records))
    live["provenance"] = {k: v for k, v in estimate["provenance"].items() if k != "estimator"}
    assert report_problems(live) == []
    return live


def test_estimate_error_per_class(estimates, tmp_path):
    estimate = load_report(estimates["agent_fanout.prefix_reuse"])
    live = live_from(estimate, ttft_factor=1.25, cached_minus=16)
    parity = estimate_error(estimate, live)
    assert output_problems(parity) == []
    assert set(parity["groups"]["classes"]) == {"planner", "subagent"}
    for row in (parity["groups"]["overall"], *parity["groups"]["classes"].values()):
        # estimate = live / 1.25: 20% low, whatever the statistic
        assert row["ttft_mean_s"]["error_pct"] == pytest.approx(-20.0)
        assert row["ttft_p50_s"]["error_pct"] == pytest.approx(-20.0)
        assert row["tpot_mean_s"]["error_pct"] == pytest.approx(0.0)
        assert row["hit_rate"]["error_pp"] == pytest.approx(
            (row["hit_rate"]["estimate"] - row["hit_rate"]["live"]) * 100)
        assert row["hit_rate"]["error_pp"] > 0  # live cached fewer tokens
    overall = parity["groups"]["overall"]
    records = estimate["requests"]
    live_rate = (sum(max(0, r["cached_tokens"] - 16) for r in records)
                 / sum(r["prompt_tokens"] for r in records))
    assert overall["hit_rate"]["live"] == pytest.approx(live_rate)
    assert overall["requests"] == {"compared": len(records), "estimate_errors": 0, "live_errors": 0}
    text = render_parity_markdown(parity)
    assert "| planner |" in text and "(-20.0%)" in text
    live_path = tmp_path / "live.json"
    live_path.write_text(json.dumps(live))
    out = tmp_path / "parity.json"
    assert main(["parity", "--estimate", str(estimates["agent_fanout.prefix_reuse"]), "--live",
                 str(live_path), "--out", str(out), "--md", str(tmp_path / "p.md"), "-q"]) == 0
    written = json.loads(out.read_text())
    assert written["groups"] == json.loads(json.dumps(parity))["groups"]
    assert written["live"]["path"] == str(live_path) and written["live"]["kind"] == "live"


def test_parity_refuses_another_mode_kind_or_workload(estimates):
    estimate = load_report(estimates["agent_fanout.prefix_reuse"])
    live = live_from(estimate, 1.0, 0)
    names = {"estimate_source": "E.json", "live_source": "L.json"}
    with pytest.raises(CompareError,
                       match=r"^L\.json: mode: 'baseline', but E\.json has mode 'prefix_reuse'"):
        estimate_error(estimate, dict(live, mode="baseline"), **names)
    with pytest.raises(CompareError, match=r"^L\.json: kind: 'estimate', expected 'live'"):
        estimate_error(estimate, estimate, **names)
    other = dict(live, workload=dict(live["workload"], sha256=SHA_B))
    with pytest.raises(CompareError, match=r"^L\.json: workload\.sha256: differs"):
        estimate_error(estimate, other, **names)


# --- bad input through the command ----------------------------------------------------------

def run_compare(tmp_path, baseline: Path, candidate: Path, capsys) -> tuple[int, str, Path]:
    out = tmp_path / "out.json"
    code = main(["compare", "--baseline", str(baseline), "--candidate", str(candidate),
                 "--out", str(out), "--md", str(tmp_path / "out.md"), "--resamples", "100"])
    return code, capsys.readouterr().err, out


def test_bad_input_exits_2_naming_file_and_field(tmp_path, capsys):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(report([record(i, 0.05) for i in range(5)])))
    missing = tmp_path / "missing.json"
    code, err, out = run_compare(tmp_path, good, missing, capsys)
    assert code == 2 and f"{missing}: no such file" in err and not out.exists()

    not_json = tmp_path / "bad.json"
    not_json.write_text("{\"kind\": ")
    code, err, out = run_compare(tmp_path, not_json, good, capsys)
    assert code == 2 and f"{not_json}: not JSON:" in err and "line 1" in err and not out.exists()

    off_schema = tmp_path / "off.json"
    broken = report([record(i, 0.05) for i in range(5)])
    broken["requests"][2]["ttft_s"] = "fast"
    del broken["summary"]
    off_schema.write_text(json.dumps(broken))
    code, err, out = run_compare(tmp_path, good, off_schema, capsys)
    assert code == 2 and not out.exists()
    assert f"{off_schema}: not a kv-agent-lab report" in err
    assert "requests/2/ttft_s: 'fast' is not of type" in err
    assert "'summary' is a required property" in err

    duplicate = report([record(0, 0.05), record(0, 0.06)])
    dup_path = tmp_path / "dup.json"
    dup_path.write_text(json.dumps(duplicate))
    code, err, _ = run_compare(tmp_path, good, dup_path, capsys)
    assert code == 2 and f"{dup_path}: requests/1/id: 'r0000' also at requests/0" in err

    assert not (tmp_path / "out.md").exists()


def test_bad_settings_are_errors():
    base, cand = scaled_pair(0.9, n=10)
    with pytest.raises(CompareError, match="^seed: must be 0 or more"):
        compare_reports(base, cand, seed=-1)
    with pytest.raises(CompareError, match="^resamples: must be at least 1"):
        compare_reports(base, cand, resamples=0)
    with pytest.raises(CompareError, match=r"^B: not a kv-agent-lab report .*\n  mode: 'fast'"):
        compare_reports(base, dict(cand, mode="fast"), candidate_source="B")


def test_a_class_without_ok_requests_is_an_error(tmp_path, capsys):
    records = [record(i, 0.05, cls="chat" if i < 5 else "agent") for i in range(8)]
    failing = [record(i, 0.05, cls="chat" if i < 5 else "agent", status="ok" if i < 5 else "error")
               for i in range(8)]
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(report(records)))
    b.write_text(json.dumps(report(failing, mode="prefix_reuse")))
    code, err, out = run_compare(tmp_path, a, b, capsys)
    assert code == 2 and not out.exists()
    assert f"{a} and {b}: requests (class 'agent'): no request is ok in both reports" in err
    b.write_text(json.dumps(report(failing, mode="prefix_reuse", sha=SHA_B)))  # independent
    code, err, _ = run_compare(tmp_path, a, b, capsys)
    assert code == 2 and f"{b}: requests (class 'agent'): no ok requests" in err


def test_parity_command_errors(tmp_path, capsys):
    good = tmp_path / "e.json"
    good.write_text(json.dumps(report([record(i, 0.05) for i in range(5)])))
    live = tmp_path / "l.json"
    live.write_text(json.dumps(report([record(i, 0.05) for i in range(5)], kind="live",
                                      mode="prefix_reuse")))
    out = tmp_path / "p.json"
    assert main(["parity", "--estimate", str(good), "--live", str(live), "--out", str(out)]) == 2
    assert f"{live}: mode: 'prefix_reuse', but {good} has mode 'baseline'" in capsys.readouterr().err
    assert not out.exists()
