"""Block traces (Mooncake import, text workloads), the capacity sweep and retention policies.

The Mooncake traces are read from ../shared/data/mooncake/ (never copied into the project);
the tests that need them skip where they are absent."""

from __future__ import annotations

import json
import random
from pathlib import Path

import jsonschema
import pytest

from kv_agent_lab.cli import main
from kv_agent_lab.estimate.policy import (
    LRUOrder,
    OracleOrder,
    ProtectOrder,
    make_policy,
    replay_policy,
    replay_with_policy,
)
from kv_agent_lab.estimate.prefix_cache import SimRequest, replay_sequential
from kv_agent_lab.estimate.sweep import capacity_points, ideal, run_sweep, sweep_policy, working_set
from kv_agent_lab.estimate.trace import (
    BlockRequest,
    BlockTrace,
    check_block_trace,
    check_mooncake,
    load_trace,
    read_block_trace,
    workload_block_trace,
)
from kv_agent_lab.workload.lines import load_schema

ROOT = Path(__file__).resolve().parents[1]
MOONCAKE = ROOT.parent / "shared" / "data" / "mooncake"
CONVERSATION = MOONCAKE / "conversation_trace.jsonl"
SYNTHETIC = MOONCAKE / "synthetic_trace.jsonl"
needs_mooncake = pytest.mark.skipif(not CONVERSATION.exists(), reason="Mooncake traces not found")


@pytest.fixture(scope="module")
def conversation(tmp_path_factory) -> tuple[list[dict], Path]:
    """The raw conversation trace and its block trace, imported through the command line."""
    if not CONVERSATION.exists():
        pytest.skip("Mooncake traces not found")
    out = tmp_path_factory.mktemp("trace") / "conversation.jsonl"
    assert main(["import-trace", "--format", "mooncake", str(CONVERSATION), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in CONVERSATION.open()]
    return rows, out


@pytest.fixture(scope="module")
def conversation_trace(conversation) -> BlockTrace:
    return read_block_trace(conversation[1])


# --- import --------------------------------------------------------------------------------

@needs_mooncake
def test_import_keeps_requests_timestamps_lengths_and_block_ids(conversation, conversation_trace):
    rows, out = conversation
    trace = conversation_trace
    assert len(rows) == len(trace.requests) == 12_031
    assert trace.block_size == 512 and trace.name == "conversation_trace"
    assert trace.source["format"] == "mooncake" and trace.source["requests"] == 12_031
    for i, (row, req) in enumerate(zip(rows, trace.requests)):
        assert req.id == f"r{i}"
        assert req.arrival_s == row["timestamp"] / 1000
        assert (req.input_tokens, req.output_tokens) == (row["input_length"], row["output_length"])
        assert list(req.block_ids) == row["hash_ids"] and req.output_block_ids == ()
    assert trace.requests[-1].arrival_s == pytest.approx(3536.999)
    # every line the reader accepted is also valid under the published JSON Schema
    validator = jsonschema.Draft202012Validator(load_schema("block-trace.schema.json"))
    lines = out.read_text().splitlines()
    for line in lines[:300] + lines[-50:]:
        validator.validate(json.loads(line))


@needs_mooncake
def test_synthetic_trace_imports_too():
    trace, problems = check_mooncake(SYNTHETIC)
    assert problems == [] and len(trace.requests) == 3_993


@needs_mooncake
def test_sim_requests_are_the_block_id_fast_path(conversation):
    rows, _ = conversation
    trace, _ = check_mooncake(CONVERSATION)
    a = [r.block_hashes[:r.num_prompt_tokens // 512] for r in trace.sim_requests()[:200]]
    b = [SimRequest.from_block_ids(r["input_length"], r["output_length"], r["hash_ids"], 512)
         .block_hashes[:r["input_length"] // 512] for r in rows[:200]]
    assert a == b


def _mooncake_line(ts, inp, out, ids):
    return json.dumps({"timestamp": ts, "input_length": inp, "output_length": out,
                       "hash_ids": ids})


def test_malformed_mooncake_lines_are_reported_and_nothing_is_written(tmp_path, capsys):
    src = tmp_path / "bad.jsonl"
    src.write_text("\n".join([
        _mooncake_line(0, 1000, 10, [0, 1]),
        _mooncake_line(5, 1600, 10, [0, 1, 2]),           # 1600 tokens need 4 ids
        '{"timestamp": 7, "input_length": 10, "hash_ids": [9]}',
        _mooncake_line(3, 600, 0, [0, 4]),                # earlier than line 3, output 0
        '{"timestamp": 9, "input_length": 600',
        _mooncake_line(10, 1100, 5, [7, 1, 8]),           # 1 follows 0 on line 1
        _mooncake_line(11, 600, 5, [0, "x"]),
        _mooncake_line(12, 1100, 5, [0, 1, 0]),
        '{"timestamp": 13, "input_length": 10, "output_length": 1, "hash_ids": [3], "user": 1}',
    ]) + "\n")
    out = tmp_path / "out.jsonl"
    rc = main(["import-trace", "--format", "mooncake", str(src), "--out", str(out)])
    assert rc == 2 and not out.exists() and not list(tmp_path.glob(".out.jsonl*"))
    err = capsys.readouterr().err.splitlines()
    f = str(src)
    assert err == [
        f"{f}:2: hash_ids: has 3 ids; input_length 1600 needs ceil(1600 / 512) = 4, one per "
        "512-token block",
        f"{f}:3: output_length: is required",
        f"{f}:4: output_length: 0 is out of range: must be at least 1",
        f"{f}:4: timestamp: 3 ms is earlier than line 3's 7 ms: requests must be in arrival order",
        f"{f}:5: (json): invalid JSON: Expecting ',' delimiter at column 37",
        f"{f}:6: hash_ids[1]: id 1 follows id 7 here but follows id 0 on line 1: ids must be "
        "chained (the same id means the same prefix)",
        f"{f}:7: hash_ids[1]: must be an integer block id, not the string 'x'",
        f"{f}:8: hash_ids[2]: id 0 repeats hash_ids[0]: the ids of one request are chained, so "
        "they are distinct",
        f"{f}:9: user: unknown field (a Mooncake trace line has timestamp, input_length, "
        "output_length, hash_ids)",
        f"kvlab import-trace: {f} is invalid; nothing written",
    ]


def test_a_failed_import_leaves_an_existing_output_untouched(tmp_path):
    src, out = tmp_path / "bad.jsonl", tmp_path / "out.jsonl"
    src.write_text(_mooncake_line(0, 1000, 10, [0]) + "\n")
    out.write_text("old\n")
    assert main(["import-trace", str(src), "--out", str(out)]) == 2
    assert out.read_text() == "old\n"


def _header(**extra):
    return json.dumps({"record": "block_trace", "schema_version": 1, "name": "t",
                       "block_size": 4, **extra})


def _request(rid, t, inp, out, ids, **extra):
    return json.dumps({"record": "request", "id": rid, "arrival_s": t, "input_tokens": inp,
                       "output_tokens": out, "block_ids": ids, **extra})


def test_block_trace_rules(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join([_header(), _request("a", 0, 9, 3, [1, 2, 3]),
                               _request("b", 0.5, 8, 1, [1, 2], session="s", **{"class": "c"}),
                               _request("c", 1, 8, 9, [1, 2], output_block_ids=[5, 6])]) + "\n")
    trace, problems = check_block_trace(good)
    assert problems == [] and [r.id for r in trace.requests] == ["a", "b", "c"]
    assert trace.requests[2].full_block_ids(4) == (1, 2, 5, 6)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join([
        _header(block_size=0),
        _request("a", 1, 9, 3, [1, 2, 3]),
        _request("a", 0.5, 8, 1, [1, 2]),
        _request("c", 2, 8, 1, [1, 2], output_block_ids=[5]),
        _request("d", 2, 8, 9, [1, 2], output_block_ids=[5, 6, 7]),
        _header(),
    ]) + "\n")
    _, problems = check_block_trace(bad)
    assert [str(p).replace(str(bad), "F") for p in problems] == [
        "F:1: block_size: 0 is out of range: must be at least 1",
        "F:3: arrival_s: 0.5 is earlier than line 2's 1: requests must be in arrival order",
        "F:3: id: 'a' is also the id of line 2",
        "F:6: record: the block_trace header must be line 1, and only line 1",
    ]
    bad.write_text("\n".join([
        _header(),
        _request("c", 2, 8, 1, [1, 2], output_block_ids=[5]),
        _request("d", 2, 8, 9, [1, 2], output_block_ids=[5, 6, 7]),
        _request("e", 3, 8, 9, [1, 2], output_block_ids=[2]),
    ]) + "\n")
    _, problems = check_block_trace(bad)
    assert [str(p).replace(str(bad), "F") for p in problems] == [
        "F:2: output_block_ids: has 1 ids; the output fills at most 0 full blocks "
        "((input_tokens + output_tokens - 1) // 4 - input_tokens // 4)",
        "F:3: output_block_ids: has 3 ids; the output fills at most 2 full blocks "
        "((input_tokens + output_tokens - 1) // 4 - input_tokens // 4)",
        "F:4: output_block_ids: repeats an id of block_ids",
    ]
    bad.write_text(_request("a", 0, 9, 3, [1, 2, 3]) + "\n")
    _, problems = check_block_trace(bad)
    assert [str(p).replace(str(bad), "F") for p in problems] == [
        'F:1: record: line 1 must be the header {"record": "block_trace", ...}']


def test_block_size_of_a_trace_is_fixed(tmp_path, capsys):
    src = tmp_path / "t.jsonl"
    src.write_text(_mooncake_line(0, 1100, 10, [0, 1, 2]) + "\n")
    assert main(["sweep", str(src), "--block-size", "16", "--out", str(tmp_path / "s.json")]) == 2
    assert "ids name 512-token blocks" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()


def test_block_trace_feeds_the_serving_simulator():
    serving = pytest.importorskip("kv_agent_lab.estimate.serving")
    trace = BlockTrace("t", 4, [BlockRequest("a", 0.5, 9, 3, (1, 2, 3), session="s"),
                                BlockRequest("b", 1.0, 8, 9, (1, 2), (5, 6))])
    a, b = trace.serving_requests()
    assert isinstance(a, serving.ServingRequest)
    assert (a.id, a.prompt_tokens, a.output_tokens, list(a.block_hashes), a.arrival_s, a.info) \
        == ("a", 9, 3, [1, 2], 0.5, {"session": "s"})
    assert list(b.block_hashes) == [1, 2, 5, 6] and b.arrival_s == 1.0


# --- text workloads ------------------------------------------------------------------------

def test_text_workload_becomes_a_block_trace_with_the_stats_ideal():
    from kv_agent_lab.stats import request_tokens
    from kv_agent_lab.tokens import load_token_source
    from kv_agent_lab.workload import read_workload

    workload = read_workload(ROOT / "workloads" / "agent_fanout.jsonl")
    tokens = load_token_source("approx")
    trace = workload_block_trace(workload, tokens, 16)
    rows = request_tokens(workload, tokens, 16)
    assert [r.id for r in trace.requests] == [r.id for r in rows]      # nominal send order
    assert [r.input_tokens for r in trace.requests] == [r.prompt_tokens for r in rows]
    per = replay_sequential(trace.sim_requests(), 10**6, 16).per_request
    assert [c for _, c in per] == [r.ideal_cached_tokens for r in rows]
    assert ideal(trace)["hits"] == sum(r.ideal_cached_tokens for r in rows)
    arrivals = [r.arrival_s for r in trace.requests]
    assert arrivals == sorted(arrivals)
    text = trace.dumps()
    back, problems = check_block_trace_text(text)
    assert problems == [] and back.requests[5].block_ids == trace.requests[5].block_ids


def check_block_trace_text(text: str):
    from kv_agent_lab.estimate.trace import parse_block_trace

    return parse_block_trace("mem", text.encode())


def test_generated_history_caches_the_reply_blocks(tmp_path):
    from kv_agent_lab.tokens import load_token_source
    from kv_agent_lab.workload import read_workload

    path = tmp_path / "gen.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"record": "workload", "schema_version": 1, "name": "gen",
         "arrival": {"process": "fixed_rate", "rate_per_s": 1}},
        {"record": "session", "id": "s", "history": "generated"},
        {"record": "request", "id": "s.1", "session": "s", "turn": 1,
         "class": "session_continuity", "system": [{"text": "You are helpful. " * 20}],
         "user": [{"text": "Tell me about caches."}], "max_tokens": 64},
        {"record": "request", "id": "s.2", "session": "s", "turn": 2,
         "class": "session_continuity", "user": [{"text": "And eviction?"}],
         "max_tokens": 8, "think_time_s": 2},
    ]) + "\n")
    trace = workload_block_trace(read_workload(path), load_token_source("approx"), 16)
    first, second = trace.requests
    assert first.output_block_ids and second.arrival_s == 2.0
    assert set(first.output_block_ids) <= set(second.block_ids)    # turn 2 repeats the reply
    per = replay_sequential(trace.sim_requests(), 1000, 16).per_request
    assert per[1][1] > (first.input_tokens // 16) * 16           # hits reach into the reply


# --- the sweep -----------------------------------------------------------------------------

def independent_ideal(rows: list[dict], bs: int = 512) -> int:
    """Cached tokens with unbounded capacity, from the raw trace: each request hits its leading
    full blocks that any earlier request had in full, at most (input - 1) // bs of them (vLLM
    computes the last prompt token, so a block-aligned prompt recomputes its last block)."""
    seen: set[int] = set()
    hits = 0
    for r in rows:
        full = r["hash_ids"][:r["input_length"] // bs]
        k = 0
        for block in full[:(r["input_length"] - 1) // bs]:
            if block not in seen:
                break
            k += 1
        hits += k * bs
        seen.update(full)
    return hits


@needs_mooncake
def test_lru_sweep_is_monotone_and_reaches_the_ideal(conversation, conversation_trace):
    rows, _ = conversation
    doc = run_sweep(conversation_trace, ["lru"], points=16)
    jsonschema.Draft202012Validator(load_schema("sweep.schema.json")).validate(doc)
    ws = doc["working_set"]
    assert ws["blocks"] == len({b for r in rows for b in r["hash_ids"][:r["input_length"] // 512]})
    points = doc["policies"][0]["points"]
    caps = [p["capacity_blocks"] for p in points]
    assert len(points) == 16 and caps == sorted(set(caps))
    assert caps[0] == -(-ws["blocks"] // 100) and caps[-1] == 2 * ws["blocks"]
    rates = [p["hit_rate"] for p in points]
    assert all(a <= b for a, b in zip(rates, rates[1:])), rates
    assert rates[0] < 0.1 < 0.3 < rates[-1]
    want = independent_ideal(rows)
    assert doc["ideal"]["hits"] == want == points[-1]["hits"]
    assert doc["ideal"]["queries"] == sum(r["input_length"] for r in rows) == points[-1]["queries"]
    # the ideal is what an unbounded vLLM cache gives
    assert replay_sequential(conversation_trace.sim_requests(), 2_000_000, 512).stats.hits == want
    assert all(p["mean_ttft_s"] is None for p in points) and doc["ttft"]["provided"] is False
    assert all(p["num_gpu_blocks"] == p["capacity_blocks"] + 1 for p in points)


def test_capacity_points_are_clamped_to_the_largest_request():
    assert capacity_points(1000, 1, points=3) == [10, 141, 2000]
    assert capacity_points(1000, 300, points=3)[0] == 300
    assert capacity_points(100, 500, points=4) == [500]


def test_ttft_hook_fills_the_reserved_field():
    trace = BlockTrace("t", 4, [BlockRequest("a", 0.0, 9, 3, (1, 2, 3)),
                                BlockRequest("b", 1.0, 9, 3, (1, 2, 4))])
    seen = []

    def ttft(tr, num_gpu_blocks, policy):
        seen.append((num_gpu_blocks, policy.name))
        return 0.5

    doc = run_sweep(trace, ["lru", "shared"], points=2, ttft=ttft)
    assert [p["mean_ttft_s"] for r in doc["policies"] for p in r["points"]] == [0.5] * 4
    assert doc["ttft"]["provided"] is True and doc["ttft"]["hook"].endswith("ttft")
    assert {n for _, n in seen} == {"lru", "shared"}


# --- policies ------------------------------------------------------------------------------

def _random_pairs(seed: int, bs: int) -> list[tuple[list[int], list[int]]]:
    """Token requests with shared prefixes, repeats and block-aligned prompts (duplicates)."""
    rng = random.Random(seed)
    heads = [[rng.randrange(3) for _ in range(rng.randrange(0, 5 * bs))] for _ in range(3)]
    out: list[tuple[list[int], list[int]]] = []
    for _ in range(60):
        if out and rng.random() < 0.3:
            p0, o0 = out[rng.randrange(len(out))]
            prompt = p0 + o0 + [rng.randrange(3)]
        else:
            prompt = rng.choice(heads) + [rng.randrange(3) for _ in range(rng.randint(1, 9))]
        if rng.random() < 0.3:
            prompt += [0] * (-len(prompt) % bs)
        out.append((prompt[:10 * bs], [rng.randrange(3) for _ in range(rng.randint(1, 9))]))
    return out


@pytest.mark.parametrize("seed", range(12))
def test_policy_replay_with_no_protection_is_lru_exactly(seed):
    bs = [1, 2, 4][seed % 3]
    pairs = _random_pairs(seed, bs)
    biggest = max(-(-(len(p) + len(o) - 1) // bs) for p, o in pairs)

    def reqs():
        return [SimRequest.from_tokens(p, o, bs, i) for i, (p, o) in enumerate(pairs)]

    for n in (biggest + 1, biggest + 3, 2 * biggest, 10 * biggest):
        want = replay_sequential(reqs(), n, bs)
        for order in (LRUOrder(), ProtectOrder(min_uses=None, max_depth=None)):
            got = replay_policy(reqs(), n, bs, order)
            assert got.per_request == want.per_request
            assert got.stats.as_dict() == want.stats.as_dict()


@needs_mooncake
def test_policy_replay_with_no_protection_is_lru_on_the_real_trace(conversation_trace):
    head = BlockTrace("head", 512, conversation_trace.requests[:3000])
    for n in (300, 1500, 6000):
        want = replay_sequential(head.sim_requests(), n, 512).per_request
        assert replay_policy(head.sim_requests(), n, 512, ProtectOrder(None, None)).per_request \
            == want
        assert replay_policy(head.sim_requests(), n, 512, LRUOrder()).per_request == want


def _one_offs_flush_the_shared_prefix() -> BlockTrace:
    """A 4-block shared prefix, used twice; then one-off prompts of 7 blocks (6 full), one at
    a time, enough to push the prefix out of an LRU of 11 blocks; then the prefix again."""
    shared = (1, 2, 3, 4)
    reqs = [BlockRequest("p1", 0, 4 * 4 + 2, 1, shared + (10,)),
            BlockRequest("p2", 1, 4 * 4 + 2, 1, shared + (11,))]
    for i in range(3):
        ids = tuple(100 + 10 * i + j for j in range(7))
        reqs.append(BlockRequest(f"x{i}", 2 + i, 6 * 4 + 2, 1, ids))
    reqs.append(BlockRequest("p3", 9, 4 * 4 + 2, 1, shared + (12,)))
    return BlockTrace("flush", 4, reqs)


def test_shared_policy_keeps_a_shared_prefix_that_one_off_prompts_evict_under_lru():
    trace = _one_offs_flush_the_shared_prefix()
    n = 12                                       # 11 blocks hold KV: prefix + one one-off
    lru = replay_with_policy(trace.sim_requests(), n, 4, "lru").per_request
    shared = replay_with_policy(trace.sim_requests(), n, 4, make_policy("shared")).per_request
    assert lru[-1] == (18, 0)                    # LRU lost the prefix
    assert shared[-1] == (18, 16)                # protected: all 4 blocks hit
    assert [c for _, c in lru[:-1]] == [c for _, c in shared[:-1]] == [0, 16, 0, 0, 0]
    oracle = replay_policy(trace.sim_requests(), n, 4, OracleOrder()).per_request
    assert oracle[-1] == (18, 16)


def test_shared_policy_hurts_a_new_conversation_that_continues():
    """Where it does not help: a conversation's newest blocks have been used once, so they go
    before stale shared blocks, and the next turn, which needs them, misses."""
    stale = (1, 2, 3)
    reqs = [BlockRequest("s1", 0, 14, 1, stale + (9,)), BlockRequest("s2", 1, 14, 1, stale + (8,))]
    reqs.append(BlockRequest("c1", 2, 22, 1, (20, 21, 22, 23, 24, 25)))           # turn 1
    reqs.append(BlockRequest("y", 3, 14, 1, (40, 41, 42, 43)))                   # one-off
    reqs.append(BlockRequest("c2", 4, 30, 1, (20, 21, 22, 23, 24, 26, 27, 28)))  # turn 2
    trace = BlockTrace("hurt", 4, reqs)
    n = 11
    lru = replay_with_policy(trace.sim_requests(), n, 4, "lru").per_request
    shared = replay_with_policy(trace.sim_requests(), n, 4, make_policy("shared")).per_request
    assert lru[-1] == (30, 20) and shared[-1] == (30, 12)   # LRU kept turn 1's new blocks


@needs_mooncake
def test_shared_policy_on_the_conversation_trace_wins_small_and_loses_mid(conversation_trace):
    """Reported, not hidden (docs/kv-policy.md): on Mooncake's conversations protecting
    shared blocks helps at 2% of the working set and loses at 12%."""
    ws = working_set(conversation_trace)["blocks"]
    caps = [round(0.02 * ws), round(0.12 * ws)]
    lru = sweep_policy(conversation_trace, caps, make_policy("lru"), ws)
    shared = sweep_policy(conversation_trace, caps, make_policy("shared"), ws)
    assert shared[0]["hit_rate"] > lru[0]["hit_rate"] + 0.03
    assert shared[1]["hit_rate"] < lru[1]["hit_rate"] - 0.005


def test_oracle_is_never_above_the_ideal():
    pairs = _random_pairs(7, 2)
    reqs = lambda: [SimRequest.from_tokens(p, o, 2, i) for i, (p, o) in enumerate(pairs)]  # noqa
    top = replay_sequential(reqs(), 10**4, 2).stats.hits
    biggest = max(-(-(len(p) + len(o) - 1) // 2) for p, o in pairs)
    for n in (biggest + 1, 2 * biggest):
        lru = replay_sequential(reqs(), n, 2).stats.hits
        oracle = replay_policy(reqs(), n, 2, OracleOrder()).stats.hits
        assert lru <= oracle <= top


def test_sweep_command_compares_policies_on_a_text_workload(tmp_path, capsys):
    out = tmp_path / "sweep.json"
    assert main(["sweep", str(ROOT / "workloads" / "planner.jsonl"), "--block-size", "16",
                 "--compare-policies", "--points", "5", "--out", str(out), "-q"]) == 0
    doc = json.loads(out.read_text())
    jsonschema.Draft202012Validator(load_schema("sweep.schema.json")).validate(doc)
    assert [r["label"] for r in doc["policies"]] == ["lru", "shared", "prefix", "oracle"]
    assert set(doc["comparison"]) == {"shared", "prefix", "oracle"}
    assert doc["input"]["format"] == "workload" and doc["block_size"] == 16
    assert doc["policies"][0]["points"][-1]["hit_rate"] == doc["ideal"]["hit_rate"]
    loaded = load_trace(ROOT / "workloads" / "planner.jsonl", block_size=16)
    assert doc["working_set"]["requests"] == len(loaded.requests)


def test_sweep_with_a_serving_model_reports_mean_ttft_for_lru(tmp_path):
    """More KV capacity means more hits and fewer prefill tokens: on the agent fan-out
    workload the simulated mean TTFT at the largest capacity is below the smallest's."""
    from kv_agent_lab.estimate.sweep import run_sweep, serving_ttft
    from kv_agent_lab.estimate.trace import load_trace

    root = Path(__file__).resolve().parents[1]
    trace = load_trace(root / "workloads" / "agent_fanout.jsonl", "workload", 16, "approx")
    doc = run_sweep(trace, ("lru", "shared"), points=4,
                    ttft=serving_ttft("Qwen2.5-3B-Instruct", "L40S"))
    lru, shared = doc["policies"]
    ttfts = [p["mean_ttft_s"] for p in lru["points"]]
    assert all(t is not None and t > 0 for t in ttfts)
    assert ttfts[-1] < ttfts[0]
    assert all(p["mean_ttft_s"] is None for p in shared["points"])  # not served: not claimed
    assert doc["ttft"]["provided"] is True
