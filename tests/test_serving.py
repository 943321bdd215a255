"""kv_agent_lab.estimate.serving (+ offload, run): the simulated vLLM engine against cases worked
out by hand, against ``replay_sequential`` (requests one at a time), and against a plain
step-by-step reference built here from ``PrefixCacheManager`` (no fast paths), which follows
``vllm/v1/core/sched/scheduler.py: schedule`` as literally as it can."""

from __future__ import annotations

import json
import random
from collections import deque
from pathlib import Path

import pytest

from kv_agent_lab.estimate import run as est_run
from kv_agent_lab.estimate.offload import CPUTier, cpu_chunks
from kv_agent_lab.estimate.prefix_cache import (
    PrefixCacheManager,
    SimRequest,
    hash_request_tokens,
    replay_sequential,
)
from kv_agent_lab.estimate.serving import ServingConfig, ServingRequest, simulate
from kv_agent_lab.report import report_problems

ROOT = Path(__file__).resolve().parents[1]
BS = 16


def affine(pf, snc, snsq, nl, nd, sdc, spc=0):
    """A step-time model with every term, affine in each sum (so exact sums are checkable)."""
    return 1e-3 + 2e-6 * pf + 1e-9 * snc + 3e-10 * snsq + 5e-6 * nl + 1e-5 * nd + 2e-8 * sdc \
        + 1e-9 * spc


def kinked(pf, snc, snsq, nl, nd, sdc, spc=0):
    """Convex, piecewise linear in the decode context: a roofline's max(compute, memory)."""
    return max(1e-3 + 1e-5 * nd + 1e-8 * sdc, 4e-8 * sdc - 2e-3) + 2e-6 * pf


def toks(seed: int, n: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(1, 50_000) for _ in range(n)]


def req(rid, prompt, output_len, arrival=0.0, after=(), think=0.0, output=None):
    """A request over real tokens; ``output`` tokens (if given) hash the output blocks too."""
    tokens = list(prompt) + list(output or [])
    return ServingRequest(rid, len(prompt), output_len, hash_request_tokens(tokens, BS),
                          arrival, tuple(after), think)


def config(**kw):
    kw.setdefault("num_blocks", 1000)
    kw.setdefault("block_size", BS)
    kw.setdefault("sample_interval_s", 0.0)
    return ServingConfig(**kw)


def by_id(result):
    return {r["id"]: r for r in result.records()}


# --- hand-computed cases -----------------------------------------------------------------------

@pytest.mark.parametrize("step_time", [affine, kinked])
def test_single_request_ttft_is_its_prefill_chunks_and_e2e_adds_decode_steps(step_time):
    p, o = 150, 40
    res = simulate([req("a", toks(1, p), o, arrival=2.0)],
                   config(max_num_batched_tokens=64), step_time)
    a = by_id(res)["a"]
    chunks = [(64, 0), (64, 64), (22, 128)]        # chunked prefill, 64 tokens a step
    ttft = sum(step_time(n, n * c, n * n, 1, 0, 0, c) for n, c in chunks)
    decode = sum(step_time(0, 0, 0, 1, 1, p + j, 0) for j in range(o - 1))
    assert a["send_time_s"] == 2.0 and a["queue_time_s"] == 0.0
    assert a["ttft_s"] == pytest.approx(ttft, rel=1e-12)
    assert a["e2e_s"] == pytest.approx(ttft + decode, rel=1e-9)
    assert a["tpot_s"] == pytest.approx(decode / (o - 1), rel=1e-9)
    assert a["computed_tokens"] == p and a["cached_tokens"] == 0
    assert res.counters["steps"] == len(chunks) + o - 1
    assert res.counters["prefix_cache_queries"] == p and res.counters["generation_tokens"] == o


def test_decode_batch_runs_are_timed_step_by_step():
    """Two requests decoding together, one finishing first: every step's time counts, with the
    batch's sums (the fast path advances these steps at once)."""
    reqs = [req("a", toks(2, 40), 30), req("b", toks(3, 20), 10)]
    res = by_id(simulate(reqs, config(), kinked))
    t = kinked(60, 0, 40 * 40 + 20 * 20, 2, 0, 0, 0)          # both prompts in one step
    assert res["a"]["ttft_s"] == res["b"]["ttft_s"] == pytest.approx(t)
    for j in range(9):                                         # b's 9 more tokens
        t += kinked(0, 0, 0, 2, 2, 40 + j + 20 + j, 0)
    assert res["b"]["e2e_s"] == pytest.approx(t, rel=1e-9)
    for j in range(9, 29):
        t += kinked(0, 0, 0, 1, 1, 40 + j, 0)
    assert res["a"]["e2e_s"] == pytest.approx(t, rel=1e-9)


def test_two_identical_prompts_sent_one_after_the_other_hit_as_replay_sequential():
    prompt = toks(4, 300)
    reqs = [req("a", prompt, 20), req("b", prompt, 20, after=[0], think=1.0)]
    res = by_id(simulate(reqs, config(), affine))
    ref = replay_sequential([SimRequest.from_block_ids(300, 20, r.block_hashes, BS)
                             for r in reqs], 1000, BS)
    assert res["b"]["cached_tokens"] == ref.per_request[1][1] == 288   # 18 full blocks
    assert res["b"]["send_time_s"] == pytest.approx(res["a"]["e2e_s"] + 1.0)
    assert res["b"]["computed_tokens"] == 300 - 288


@pytest.mark.parametrize("num_blocks,caching", [(1000, True), (60, True), (40, True),
                                                (60, False)])
def test_counters_equal_replay_sequential_for_sequential_arrival(num_blocks, caching):
    """One request at a time (each waits for the previous one): the engine is the sequential
    replay, bounded capacity and evictions included."""
    rng = random.Random(num_blocks)
    systems = [toks(10 + i, rng.randrange(100, 400)) for i in range(3)]
    reqs = []
    for i in range(40):
        prompt = rng.choice(systems) + toks(100 + i, rng.randrange(1, 120))
        output = toks(500 + i, rng.randrange(1, 60))
        reqs.append(req(f"r{i}", prompt, len(output), after=[i - 1] if i else (), output=output))
    res = simulate(reqs, config(num_blocks=num_blocks, enable_caching=caching), affine)
    ref = replay_sequential([SimRequest(r.prompt_tokens, r.output_tokens, r.block_hashes, BS)
                             for r in reqs], num_blocks, BS, caching)
    assert [r["cached_tokens"] for r in res.records()] == [c for _, c in ref.per_request]
    assert res.counters["prefix_cache_queries"] == ref.stats.queries
    assert res.counters["prefix_cache_hits"] == ref.stats.hits
    assert res.counters["preemptions"] == 0


def test_baseline_never_caches():
    prompt = toks(5, 200)
    reqs = [req(f"r{i}", prompt, 5, arrival=float(i)) for i in range(4)]
    res = simulate(reqs, config(enable_caching=False), affine)
    assert all(r["cached_tokens"] == 0 and r["computed_tokens"] == 200 for r in res.records())
    assert res.counters["prefix_cache_queries"] == res.counters["prefix_cache_hits"] == 0
    assert res.counters["prompt_tokens_cached"] == 0


def test_dependencies_and_think_time_are_respected():
    planner = req("planner", toks(6, 200), 30)
    subs = [req(f"sub{i}", toks(6, 200)[:100] + toks(60 + i, 50), 10, after=[0], think=0.5)
            for i in range(3)]
    agg = req("agg", toks(7, 80), 5, after=[1, 2, 3], think=2.0)
    res = by_id(simulate([planner, *subs, agg], config(), affine))
    planner_end = res["planner"]["send_time_s"] + res["planner"]["e2e_s"]
    for i in range(3):
        s = res[f"sub{i}"]
        assert s["send_time_s"] == pytest.approx(planner_end + 0.5)
        assert s["cached_tokens"] == 96                        # the planner's 6 shared blocks
    last = max(res[f"sub{i}"]["send_time_s"] + res[f"sub{i}"]["e2e_s"] for i in range(3))
    assert res["agg"]["send_time_s"] == pytest.approx(last + 2.0)


def test_max_num_seqs_limits_concurrency():
    reqs = [req(f"r{i}", toks(20 + i, 50), 20) for i in range(5)]
    res = simulate(reqs, config(max_num_seqs=2), affine)
    assert max(s["running"] for s in res.samples) == 2
    r = by_id(res)
    first_done = min(r[f"r{i}"]["e2e_s"] for i in range(2))
    assert r["r2"]["queue_time_s"] == pytest.approx(first_done)   # admitted as one finishes
    assert all(x["queue_time_s"] >= 0 for x in r.values())


def test_token_budget_is_shared_in_running_order():
    """A long prompt admitted behind decoding requests gets what the decodes leave."""
    reqs = [req("d", toks(30, 10), 50), req("long", toks(31, 500), 2, arrival=1e-9)]
    res = simulate(reqs, config(max_num_batched_tokens=100), affine)
    assert res.counters["steps"] >= 1 + 5 + 1                    # 99 + ... tokens a step
    assert by_id(res)["long"]["computed_tokens"] == 500


def test_preemption_under_tight_capacity_and_every_request_finishes():
    reqs = [req(f"r{i}", toks(40 + i, 60), 120) for i in range(6)]
    res = simulate(reqs, config(num_blocks=40), affine)
    assert res.counters["preemptions"] > 0
    records = res.records()
    assert all(r["e2e_s"] > r["ttft_s"] > 0 for r in records)
    assert sum(r["preemptions"] for r in records) == res.counters["preemptions"]
    # a preempted request recomputes: it computes more than its prompt
    assert any(r["computed_tokens"] > r["prompt_tokens"] for r in records if r["preemptions"])
    assert res.kv["peak_usage"] > 0.9


def test_request_larger_than_the_cache_is_refused():
    with pytest.raises(ValueError, match="needs more than"):
        simulate([req("big", toks(50, 200), 100)], config(num_blocks=10), affine)


# --- against a plain step-by-step reference ----------------------------------------------------

def reference(specs, cfg, step_time):
    """vLLM's schedule() per step and per request, with PrefixCacheManager: no groups, no
    stretches. Open-loop arrivals only."""
    bs, n = cfg.block_size, len(specs)
    mgr = PrefixCacheManager(cfg.num_blocks, bs, cfg.enable_caching)
    reqs = [SimRequest(s.prompt_tokens, s.output_tokens, s.block_hashes, bs, s.id) for s in specs]
    order = sorted(range(n), key=lambda i: (specs[i].arrival_s, i))
    out = [dict(cached=None, sched=None, first=None, finish=None) for _ in range(n)]
    waiting, running, k, t, preemptions, done = deque(), [], 0, 0.0, 0, 0
    while done < n:
        while k < n and specs[order[k]].arrival_s <= t:
            waiting.append(order[k])
            k += 1
        if not running and not waiting:
            t = specs[order[k]].arrival_s
            continue
        budget, sched, preempted, i = cfg.max_num_batched_tokens, [], False, 0
        while i < len(running) and budget > 0:
            idx = running[i]
            r = reqs[idx]
            m = min(r.num_tokens - r.num_computed_tokens, budget)
            ok = mgr.allocate(r, m)
            while not ok:
                victim = running.pop()
                mgr.preempt(reqs[victim])
                waiting.appendleft(victim)
                preempted, preemptions = True, preemptions + 1
                if victim == idx:
                    break
                ok = mgr.allocate(r, m)
            if not ok:
                break
            sched.append((idx, m, r.num_computed_tokens))
            budget -= m
            i += 1
        while not preempted and budget > 0 and waiting and len(running) < cfg.max_num_seqs:
            idx = waiting[0]
            r = reqs[idx]
            hit = mgr.find_longest_cache_hit(r.block_hashes, r.num_tokens)
            m = min(r.num_tokens - len(hit) * bs, budget)
            if not mgr.allocate(r, m, hit, full_sequence_must_fit=True):
                break
            if cfg.enable_caching:
                mgr.stats.record(r.num_tokens, len(hit) * bs, r.num_preemptions > 0)
            r.num_computed_tokens = len(hit) * bs
            if out[idx]["cached"] is None:
                out[idx]["cached"], out[idx]["sched"] = len(hit) * bs, t
            waiting.popleft()
            running.append(idx)
            sched.append((idx, m, r.num_computed_tokens))
            budget -= m
        if not sched:
            continue
        pf = snc = snsq = spc = nd = sdc = 0
        for _, m, c in sched:
            if m == 1:
                nd, sdc = nd + 1, sdc + c
            else:
                pf, snc, snsq, spc = pf + m, snc + m * c, snsq + m * m, spc + c
        t += step_time(pf, snc, snsq, len(sched), nd, sdc, spc)
        for idx, m, _ in sched:
            r = reqs[idx]
            r.num_computed_tokens += m
            if r.num_computed_tokens == r.num_tokens:
                r.num_tokens += 1
                if out[idx]["first"] is None:
                    out[idx]["first"] = t
                if r.finished:
                    out[idx]["finish"] = t
                    mgr.free(r)
                    running.remove(idx)
                    done += 1
    return out, mgr.stats, preemptions


@pytest.mark.parametrize("seed,rate,num_blocks,max_seqs,budget", [
    (1, 40, 400, 256, 8192), (2, 40, 80, 256, 512), (3, 40, 60, 4, 256), (4, 40, 45, 256, 128),
    (5, 40, 120, 8, 64), (6, 400, 30, 256, 8192), (7, 400, 40, 16, 100),
    (8, 400, 80, 256, 512), (9, 400, 45, 256, 128)])
def test_matches_the_step_by_step_reference(seed, rate, num_blocks, max_seqs, budget):
    """Shared system prompts, Poisson arrivals; capacities from ample to preemption-bound."""
    rng = random.Random(seed)
    systems = [toks(seed * 100 + i, rng.randrange(30, 300)) for i in range(3)]
    specs, clock = [], 0.0
    for i in range(60):
        clock += rng.expovariate(rate)
        prompt = rng.choice(systems) + toks(seed * 1000 + i, rng.randrange(1, 100))
        output = toks(seed * 5000 + i, rng.randrange(1, 80))
        specs.append(req(f"r{i}", prompt, len(output), arrival=round(clock, 6), output=output))
    cfg = config(num_blocks=num_blocks, max_num_seqs=max_seqs, max_num_batched_tokens=budget)
    res = simulate(specs, cfg, kinked)
    ref, stats, preemptions = reference(specs, cfg, kinked)
    for rec, exp, spec in zip(res.records(), ref, specs):
        a = spec.arrival_s
        assert rec["cached_tokens"] == exp["cached"], rec["id"]
        assert rec["queue_time_s"] == pytest.approx(exp["sched"] - a, abs=1e-9), rec["id"]
        assert rec["ttft_s"] == pytest.approx(exp["first"] - a, abs=1e-9), rec["id"]
        assert rec["e2e_s"] == pytest.approx(exp["finish"] - a, abs=1e-9), rec["id"]
    assert res.counters["preemptions"] == preemptions
    assert res.counters["prefix_cache_queries"] == stats.queries
    assert res.counters["prefix_cache_hits"] == stats.hits
    assert res.counters["preempted_prefix_cache_hits"] == stats.preempted_hits


def test_a_prompt_hits_the_blocks_a_request_still_decoding_has_filled():
    """vLLM hashes a decode block in the step that fills it; a prompt that repeats the output
    of a request that is still decoding hits the blocks filled so far."""
    a_prompt, a_out = toks(90, 64), toks(91, 300)
    hits = []
    for when in (0.05, 0.1, 0.2):                          # while a decodes
        specs = [req("a", a_prompt, 300, output=a_out),
                 req("b", a_prompt + a_out[:250] + toks(92, 7), 5, arrival=when)]
        res = simulate(specs, config(), affine)
        ref, stats, _ = reference(specs, config(), affine)
        hits.append(res.records()[1]["cached_tokens"])
        assert hits[-1] == ref[1]["cached"]
        assert res.counters["prefix_cache_hits"] == stats.hits
    assert 64 < hits[0] < hits[1] < hits[2] < 64 + 250     # more blocks filled each time


# --- the CPU tier ----------------------------------------------------------------------------

def test_cpu_tier_lru_store_lookup_and_eviction_rules():
    tier = CPUTier(3)
    assert tier.prepare_store(["a", "b"], 0.0, 1.0) == (["a", "b"], [], True)
    assert tier.lookup(["a", "b", "c"], 0.5) == (2, 1.0)          # stored, not readable yet
    assert tier.lookup(["a", "b", "c"], 1.0) == (2, None)
    assert tier.prepare_store(["c"], 1.0, 1.0) == (["c"], [], True)
    tier.request_finished(["a", "b"])                              # head last: a most recent
    assert list(tier.chunks) == ["c", "b", "a"]
    tier.pin(["c"], 5.0)                                           # a load holds c
    assert tier.lookup(["c"], 2.0) == (1, 5.0)                     # _chunks_being_loaded
    new, existing, ok = tier.prepare_store(["d", "a"], 2.0, 3.0)   # evicts b (c is pinned)
    assert (new, existing, ok) == (["d"], ["a"], True) and "b" not in tier.chunks
    assert tier.prepare_store(["e", "f"], 2.0, 2.0)[2] is False    # d is still being stored
    assert list(tier.chunks) == ["c", "a", "d"]                    # a failed store changes nothing
    assert tier.prepare_store(["e"], 3.0, 3.0)[2] is True          # now a goes (lowest rank)
    assert list(tier.chunks) == ["c", "d", "e"]
    tier.unpin(["c"])
    assert tier.evicted == 2 and tier.store_failures == 1
    assert cpu_chunks(1, 4096 * 16) == (1 << 30) // (4096 * 16)
    assert cpu_chunks(1, 5000) == (1 << 30) // 8192                # page-aligned chunks


def _offload_scenario(mode_tier: bool):
    """A's prompt is evicted from a small GPU cache by B and C, then A's prompt comes back."""
    a = toks(70, 170)                        # 10 full blocks + 10 tokens
    reqs = [req("a", a, 4), req("b", toks(71, 170), 4, after=[0]),
            req("c", toks(72, 170), 4, after=[1]), req("a2", a, 4, after=[2], think=1.0)]
    cfg = config(num_blocks=16, cpu_chunks=100 if mode_tier else None)
    return simulate(reqs, cfg, affine, load_time=lambda tokens: 1e-4 * tokens)


def test_cpu_offload_loads_the_evicted_prefix_and_ttft_includes_the_load():
    gpu_only = by_id(_offload_scenario(False))
    assert gpu_only["a2"]["cached_tokens"] == 0                    # evicted from the GPU
    res = _offload_scenario(True)
    a2 = by_id(res)["a2"]
    assert a2["loaded_from_cpu_tokens"] == a2["cached_tokens"] == 160
    assert a2["computed_tokens"] == 10
    load = 1e-4 * 160
    assert a2["queue_time_s"] == pytest.approx(load)             # runs once the load is done
    assert a2["ttft_s"] == pytest.approx(load + affine(10, 10 * 160, 100, 1, 0, 0, 160))
    c = res.counters
    assert c["external_prefix_cache_hits"] == 160
    assert c["external_prefix_cache_queries"] == 4 * 170          # num_tokens - GPU hit, each
    assert c["prefix_cache_hits"] == 0 and c["cpu_chunks_loaded"] == 10
    assert c["prompt_tokens_cached"] == 160


@pytest.mark.parametrize("think", [1.0, 0.0])
def test_cpu_offload_full_prompt_hit_recomputes_the_last_token(think):
    """A hit of every prompt token loads all of it and recomputes the last token. Sent at once
    (think 0), the copy of A's blocks to the CPU is still under way: the lookup is deferred
    (HIT_PENDING) until the store completes, then the load runs."""
    a = toks(80, 160)                                              # exactly 10 blocks
    reqs = [req("a", a, 3), req("b", toks(81, 170), 3, after=[0]),
            req("c", toks(82, 170), 3, after=[1]), req("a2", a, 3, after=[2], think=think)]
    res = by_id(simulate(reqs, config(num_blocks=16, cpu_chunks=100), affine,
                         load_time=lambda tokens: 1e-4 * tokens))
    a2 = res["a2"]
    assert a2["loaded_from_cpu_tokens"] == 160 and a2["cached_tokens"] == 160
    assert a2["computed_tokens"] == 1
    wait = 0.0
    if not think:                                                  # A's store: 0.016 s
        wait = res["a"]["ttft_s"] + 0.016 - a2["send_time_s"]
        assert wait > 0
    assert a2["queue_time_s"] == pytest.approx(wait + 0.016)
    assert a2["ttft_s"] == pytest.approx(wait + 0.016 + affine(0, 0, 0, 1, 1, 159, 0))


# --- reports ---------------------------------------------------------------------------------

@pytest.fixture
def no_git(monkeypatch):
    monkeypatch.setattr(est_run, "_git_commit", lambda: None)


@pytest.mark.parametrize("mode", ["baseline", "prefix_reuse", "cpu_offload"])
def test_report_matches_the_schema_and_records_every_parameter(mode, no_git):
    path = ROOT / "workloads" / "agent_fanout.jsonl"
    report = est_run.estimate(path, mode, "Qwen2.5-3B-Instruct", "H100",
                              {"num_blocks": 3000, "efficiency": {"mfu": 0.5}})
    assert report_problems(report) == []
    est = report["provenance"]["estimator"]
    assert est["num_blocks"] == 3000 and est["efficiency"]["mfu"] == 0.5
    assert est["enable_prefix_caching"] == (mode != "baseline")
    assert (est["cpu_chunks"] is not None) == (mode == "cpu_offload")
    assert report["kind"] == "estimate" and report["target"] == "Qwen2.5-3B-Instruct@H100"
    stats = json.loads(json.dumps(report["summary"]))
    assert stats["overall"]["requests"] == len(report["requests"])
    assert report["server_metrics"]["delta"]["requests_success"] == len(report["requests"])
    # subagents wait for their planner, aggregators for their subagents
    sent = {r["id"]: r for r in report["requests"]}
    from kv_agent_lab.workload import read_workload

    workload = read_workload(path)
    for request in workload.requests:
        for dep in workload.dependencies(request):
            d = sent[dep]
            assert sent[request.id]["send_time_s"] >= d["send_time_s"] + d["e2e_s"] - 1e-6


def test_ideal_hit_rate_is_the_stats_ideal_and_large_caches_reach_it(no_git):
    from kv_agent_lab.stats import request_tokens, workload_stats
    from kv_agent_lab.tokens import load_token_source
    from kv_agent_lab.workload import read_workload

    path = ROOT / "workloads" / "multi_turn.jsonl"
    workload, tokens = read_workload(path), load_token_source("approx")
    stats = workload_stats(workload, request_tokens(workload, tokens, 16), tokens.name, 16)
    report = est_run.estimate(path, "prefix_reuse", "Qwen2.5-3B-Instruct", "H100", {})
    ideal = report["provenance"]["estimator"]["ideal_hit_rate"]
    assert round(ideal, 4) == stats["overall"]["ideal_prefix_reuse_ratio"]
    assert report["summary"]["overall"]["hit_rate"] == pytest.approx(ideal, abs=1e-6)


def test_cli_writes_a_valid_report(tmp_path, no_git):
    from kv_agent_lab.cli import main
    from kv_agent_lab.report import read_report

    out = tmp_path / "r.json"
    assert main(["estimate", str(ROOT / "workloads" / "planner.jsonl"), "--mode", "cpu_offload",
                 "--model", "Llama-3.1-8B-Instruct", "--gpu", "L40S", "--out", str(out),
                 "--config", str(ROOT / "config" / "config.yaml"), "--num-blocks", "500"]) == 0
    report = read_report(out)
    assert report["provenance"]["estimator"]["num_blocks"] == 500
    assert main(["estimate", str(out), "--mode", "baseline", "--model", "nope", "--gpu", "H100",
                 "--out", str(tmp_path / "x.json"),
                 "--config", str(ROOT / "config" / "config.yaml")]) == 2
    assert not (tmp_path / "x.json").exists()


@pytest.mark.parametrize("seed,num_blocks,rate", [(11, 40, 400.0), (12, 25, 50.0),
                                                  (13, 60, 2000.0)])
def test_cpu_offload_under_pressure_keeps_its_books(seed, num_blocks, rate):
    """Prompts that come back after the GPU evicted them, preemptions, loads in flight while
    others decode: every request finishes, the counters add up, everything is released."""
    rng = random.Random(seed)
    prompts = [toks(seed * 10 + i, rng.randrange(40, 250)) for i in range(8)]
    specs, clock = [], 0.0
    for i in range(80):
        clock += rng.expovariate(rate)
        specs.append(req(f"r{i}", rng.choice(prompts) + toks(seed * 999 + i, rng.randrange(0, 20)),
                         rng.randrange(1, 60), arrival=clock))
    sim_cfg = config(num_blocks=num_blocks, cpu_chunks=60, max_num_batched_tokens=256)
    from kv_agent_lab.estimate.serving import ServingSimulator

    sim = ServingSimulator(sim_cfg, kinked, load_time=lambda tokens: 2e-6 * tokens)
    res = sim.run(specs)
    records, c = res.records(), res.counters
    assert all(r["e2e_s"] >= r["ttft_s"] >= r["queue_time_s"] >= 0 for r in records)
    assert c["external_prefix_cache_hits"] == sum(r["loaded_from_cpu_tokens"] for r in records) > 0
    assert c["prefix_cache_hits"] == sum(r["cached_tokens"] - r["loaded_from_cpu_tokens"]
                                         for r in records)
    assert c["prompt_tokens_cached"] == sum(r["cached_tokens"] for r in records)
    assert sim.pool.num_free == num_blocks - 1                     # every block released
    assert all(entry[0] == 0 for entry in sim.conn.tier.chunks.values())  # no load still pinned
    assert len(sim.conn.tier) <= 60


def test_time_scale_scales_arrivals_and_think_time_like_the_live_client():
    """kvlab live --time-scale multiplies arrival gaps and think times; the estimate (and so a
    live run's estimate twin) must see the same arrivals."""
    from kv_agent_lab.estimate.run import estimate

    workload = ROOT / "workloads" / "multi_turn.jsonl"
    runs = {scale: estimate(workload, "prefix_reuse", "Qwen2.5-3B-Instruct", "H100",
                            {"tokenizer": "approx", "time_scale": scale})
            for scale in (1.0, 0.5, 0.0)}
    sends = {scale: {r["id"]: r["send_time_s"] for r in report["requests"]}
             for scale, report in runs.items()}
    first_turns = [i for i in sends[1.0] if i.endswith(".t01")]
    for request_id in first_turns:  # session starts scale exactly
        assert sends[0.5][request_id] == pytest.approx(sends[1.0][request_id] / 2, abs=1e-6)
        assert sends[0.0][request_id] == 0.0
    assert runs[0.0]["provenance"]["estimator"]["time_scale"] == 0.0
    assert runs[0.0]["summary"]["overall"]["duration_s"] < runs[1.0]["summary"]["overall"]["duration_s"]
