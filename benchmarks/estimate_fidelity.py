"""Fidelity of the estimator's prefix-cache accounting against the real local vLLM server.

One vLLM server (the local CPU backend's tiny model, ``prefix_reuse`` mode, block size 32,
``--num-gpu-blocks-override BLOCKS``, max_model_len 2048) serves seeded random workloads:
single-turn requests whose prompts are built from a few shared prefixes of different lengths
(three system prompts, three context documents that lead the user message, so prefixes nest)
plus a unique suffix, 200-900 tokens, ``max_tokens`` 4-40 with ``ignore_eos``. The cache holds
``BLOCKS - 1`` blocks of 32 tokens (vLLM's block 0 is the null block), so cold prefixes are
evicted.

Exact part (one request at a time, ``--time-scale 0``): every seed's workload is sent in turn;
the estimator (``kv_agent_lab.estimate.prefix_cache``) replays ALL of them as one sequential
stream, in send order, from the token ids of the lab's HF tokenizer (``encode_chat`` of the
rendered messages, checked id for id against the server's ``/tokenize`` and in length against
its ``usage.prompt_tokens``) and the server's ``completion_tokens``. Per request, the
estimator's cached tokens must equal the server's ``prompt_tokens_details.cached_tokens``; per
seed, its hits/queries must equal the deltas of ``vllm:prefix_cache_hits``/``_queries``.
Numbers in the text are spelled out (see ``spell``; ``--numerals`` shows why).

Concurrent part (same server, afterwards): one more seed's workload at each ``--concurrency``
level N (the same requests each time, under a tag of the level's own so no run hits another's
blocks), compared with a sequential replay in send order. Not expected to match: concurrency
changes the order in which blocks are computed, freed and evicted (running requests hold blocks
a sequential replay would have freed, so eviction starts sooner and takes other blocks; a
request can be preempted), so only the difference is measured. Level 1 is a control.

    .venv/bin/python benchmarks/estimate_fidelity.py [--seeds 1,2,3] [--blocks 65]
        [--requests 48] [--concurrency 4 | 1,2,4,8] [--concurrent-seed 1000] [--numerals]
        [--out-dir DIR]

About 65 s on 2 cores with the defaults, 2 minutes with ``--concurrency 1,2,4,8`` (the server
start is 35-50 s of it). tests/test_estimate_fidelity.py runs the same code (it imports this
file) and asserts the exact part.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from kv_agent_lab.estimate.prefix_cache import SequentialPrefixCache, SimRequest, hash_request_tokens
from kv_agent_lab.live import LiveOptions, run_live
from kv_agent_lab.tokens import TokenSource
from kv_agent_lab.workload import Workload, read_workload
from kv_agent_lab.workload.render import PromptRenderer

BLOCK = 32
MODEL = "kvlab-tiny"  # the served model name (ServerSpec's default)
MAX_MODEL_LEN = 2048
UNBOUNDED = 1 << 20  # blocks: nothing is ever evicted

# Plain words: the tiny model's tokenizer (trained on the lab's agent corpus) splits them into
# one or a few tokens each, so prompts land near their target lengths.
WORDS = (
    "the agent reads a ticket and calls the lookup tool with the order id then it checks the "
    "refund policy for the customer account before it writes a short answer that names every "
    "step it took and each file it changed in the repository under review with tests for the "
    "parser the scheduler the cache and the report so that the next reviewer can follow the "
    "plan without asking again about status shipping invoice region latency budget queue "
    "worker retry timeout schema field value table index query result error warning summary"
).split()


def words(rng: random.Random, source: TokenSource, tokens: int) -> str:
    """Seeded words, about ``tokens`` tokens of ``source`` (at least that many)."""
    out: list[str] = []
    while source.count(" ".join(out)) < tokens:
        out.extend(rng.choice(WORDS) for _ in range(max(4, (tokens - source.count(" ".join(out))) // 2)))
    return " ".join(out)


DIGITS = "zero one two three four five six seven eight nine".split()


def spell(n: int) -> str:
    """``n`` as digit words ("four two" for 42). The tiny model's tokenizer.json (plain
    ByteLevel pre-tokenizer) and the server's tokenizer (transformers 5 loads it as a
    Qwen2Tokenizer, which puts Qwen2's pre-tokenizer and an NFC normalizer in front of the same
    vocabulary) split multi-digit numbers differently ("10" vs "1" "0"), so the workload text
    has none unless ``numerals`` asks for them (see the report of ``--numerals``)."""
    return " ".join(DIGITS[int(d)] for d in str(n))


def make_workload(path: Path, seed: int, source: TokenSource, requests: int = 48,
                  tag: str | None = None, numerals: bool = False) -> Path:
    """A seeded random single-turn workload with nested shared prefixes.

    Shared ``prompt`` records (each starts with the seed's tag, so no other seed's blocks can
    match them): three system prompts (150-480 tokens) and three context documents (60-300
    tokens) that lead the user message. Each request picks a system prompt (weights 3:2:1) and
    none or one context (weights 2:3:1:1), then a unique suffix (8-100 tokens);
    ``max_tokens`` 4-40."""
    rng = random.Random(seed)
    num = str if numerals else spell
    tag = tag or f"seed {num(seed)}"
    prompts = {f"sys{i}": f"[{tag} sys{i}] " + words(rng, source, rng.randint(150, 480))
               for i in range(3)}
    prompts.update({f"ctx{i}": f"[{tag} ctx{i}] " + words(rng, source, rng.randint(60, 300))
                    for i in range(3)})
    records: list[dict[str, Any]] = [
        {"record": "workload", "schema_version": 1, "name": f"fidelity_seed{seed}",
         "arrival": {"process": "fixed_rate", "rate_per_s": 1000.0}}]
    records += [{"record": "prompt", "id": pid, "kind": "system" if pid.startswith("sys") else "context",
                 "text": text} for pid, text in prompts.items()]
    for i in range(requests):
        system = rng.choices(["sys0", "sys1", "sys2"], weights=[3, 2, 1])[0]
        ctx = rng.choices([None, "ctx0", "ctx1", "ctx2"], weights=[2, 3, 1, 1])[0]
        user = ([{"ref": ctx}] if ctx else []) + [
            {"text": f"Request {tag} / {num(i)}: " + words(rng, source, rng.randint(8, 100))}]
        records += [{"record": "session", "id": f"r{i}"},
                    {"record": "request", "id": f"r{i}", "session": f"r{i}", "turn": 1,
                     "class": "shared_prompt_chat", "system": [{"ref": system}], "user": user,
                     "max_tokens": rng.randint(4, 40)}]
    path.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
    read_workload(path)  # must be valid
    return path


def live_options(base_url: str, out_dir: Path, concurrency: int) -> LiveOptions:
    return LiveOptions(base_url=base_url, out_dir=out_dir, mode="prefix_reuse",
                       max_concurrency=concurrency, time_scale=0.0, progress=False,
                       sample_interval_s=0.5)


@dataclass
class Sent:
    """One request as the server saw it, in send order, and what the estimator makes of it."""

    id: str
    prompt_ids: list[int]
    record: dict[str, Any]
    sim: SimRequest


def server_token_ids(base_url: str, messages: list[dict[str, str]], model: str = MODEL) -> list[int]:
    """The ids the server makes of a chat prompt (its ``/tokenize``: its tokenizer and template)."""
    response = requests.post(base_url + "/tokenize", json={"model": model, "messages": messages,
                                                           "add_generation_prompt": True}, timeout=30)
    response.raise_for_status()
    return response.json()["tokens"]


def sent_requests(workload: Workload, report: dict[str, Any], source: TokenSource,
                  block_size: int = BLOCK, base_url: str | None = None) -> tuple[list[Sent], list[str]]:
    """The report's ok requests in send order, each with the token ids ``source`` gives its
    rendered messages and a SimRequest (prompt block hashes from those ids, output length =
    the server's completion_tokens; output blocks get hashes nothing matches, which is exact
    for single-turn requests). Also the tokenization mismatches: a prompt length other than
    the server's ``prompt_tokens`` and, given ``base_url``, ids other than its ``/tokenize``."""
    renderer = PromptRenderer(workload)
    records = sorted((r for r in report["requests"] if r["status"] == "ok"),
                     key=lambda r: r["send_time_s"])
    out, mismatches = [], []
    for r in records:
        messages = renderer.messages(workload.request(r["id"]))
        ids = source.encode_chat(messages)
        if len(ids) != r["prompt_tokens"]:
            mismatches.append(f"{r['id']}: lab {len(ids)} tokens, server {r['prompt_tokens']}")
        elif base_url is not None and ids != server_token_ids(base_url, messages):
            mismatches.append(f"{r['id']}: lab ids differ from the server's /tokenize ids")
        sim = SimRequest(len(ids), r["completion_tokens"], hash_request_tokens(ids, block_size),
                         block_size, r["id"])
        out.append(Sent(r["id"], ids, r, sim))
    return out, mismatches


def compare(cache: SequentialPrefixCache, sent: list[Sent], report: dict[str, Any]) -> dict[str, Any]:
    """Replay ``sent`` through ``cache`` (continuing its state) and compare with the server."""
    before = cache.stats.as_dict()
    per = cache.replay(s.sim for s in sent)
    after = cache.stats.as_dict()
    rows = [{"id": s.id, "prompt_tokens": s.record["prompt_tokens"],
             "completion_tokens": s.record["completion_tokens"],
             "server_cached": s.record["cached_tokens"], "estimator_cached": cached}
            for s, (_, cached) in zip(sent, per)]
    delta = report["server_metrics"]["delta"]
    diffs = [r["server_cached"] - r["estimator_cached"] for r in rows]
    return {
        "requests": len(rows),
        "failed": sum(1 for r in report["requests"] if r["status"] != "ok"),
        "server_cached": sum(r["server_cached"] for r in rows),
        "estimator_cached": sum(r["estimator_cached"] for r in rows),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "mismatches": sum(1 for d in diffs if d),
        "server_more": sum(1 for d in diffs if d > 0),
        "server_fewer": sum(1 for d in diffs if d < 0),
        "mean_abs_diff": sum(map(abs, diffs)) / len(diffs) if diffs else 0.0,
        "max_abs_diff": max(map(abs, diffs), default=0),
        "server_hits_delta": delta.get("prefix_cache_hits"),
        "server_queries_delta": delta.get("prefix_cache_queries"),
        "server_preemptions_delta": delta.get("preemptions"),
        "estimator_hits": after["hits"] - before["hits"],
        "estimator_queries": after["queries"] - before["queries"],
        "rows": rows,
    }


def unbounded_cached(sent: list[Sent], block_size: int = BLOCK) -> list[int]:
    """Cached tokens of each request with a cache that never evicts (same order)."""
    cache = SequentialPrefixCache(UNBOUNDED, block_size)
    return [c for _, c in cache.replay(s.sim for s in sent)]


def run_seed(base_url: str, work: Path, seed: int, source: TokenSource, n_requests: int,
             concurrency: int, numerals: bool = False, tag: str | None = None
             ) -> tuple[Workload, dict[str, Any], list[Sent], list[str]]:
    """Generate, send and tokenize one seed's workload (ids checked against /tokenize)."""
    path = make_workload(work / f"seed{seed}-c{concurrency}.jsonl", seed, source, n_requests,
                         tag, numerals)
    workload = read_workload(path)
    report = run_live(workload, live_options(base_url, work / f"out-seed{seed}-c{concurrency}",
                                             concurrency), log=lambda m: None)
    sent, mismatches = sent_requests(workload, report, source, base_url=base_url)
    return workload, report, sent, mismatches


def _row(label: str, c: dict[str, Any]) -> str:
    return (f"| {label} | {c['requests']} | {len(c['tokenization_mismatches'])} | "
            f"{c['prompt_tokens']} | {c['server_cached']} | {c['estimator_cached']} | "
            f"{c['mismatches']} | {c['mean_abs_diff']:.1f} | {c['max_abs_diff']} | "
            f"{c['server_hits_delta']:.0f} / {c['server_queries_delta']:.0f} | "
            f"{c['estimator_hits']} / {c['estimator_queries']} | "
            f"{c['server_preemptions_delta']:.0f} |")


HEADER = ("| run | requests | tokenization mismatches | prompt tokens | server cached | "
          "estimator cached | requests that differ | mean abs diff | max abs diff | server "
          "hits / queries (counter deltas) | estimator hits / queries | server preemptions |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|---|")


def main(argv: list[str] | None = None) -> int:
    from kv_agent_lab.backend import ensure_local_backend
    from kv_agent_lab.serve import ServerSpec, VllmServer, free_port
    from kv_agent_lab.tokens import load_token_source

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated seeds for the exact part")
    ap.add_argument("--blocks", type=int, default=65, help="--num-gpu-blocks-override (one is "
                    "vLLM's null block; (blocks - 1) x 32 must reach max_model_len 2048)")
    ap.add_argument("--requests", type=int, default=48, help="requests per seed")
    ap.add_argument("--concurrency", default="4", help="comma-separated stream counts for the "
                    "concurrent part (1 is a control: it must be exact; empty or 0: skip it)")
    ap.add_argument("--concurrent-seed", type=int, default=1000, help="the concurrent part's "
                    "workload seed (every level sends it, under a tag of its own)")
    ap.add_argument("--numerals", action="store_true", help="write numbers as numerals (the "
                    "lab's tokenizer then disagrees with the server's: see spell())")
    ap.add_argument("--out-dir", type=Path, default=None)
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    levels = [int(n) for n in args.concurrency.split(",") if n and int(n) > 0]
    work = args.out_dir or Path(tempfile.mkdtemp(prefix="kvlab-fidelity-"))
    work.mkdir(parents=True, exist_ok=True)

    backend = ensure_local_backend()
    source = load_token_source(backend.model_dir)
    spec = ServerSpec(model="tiny", port=free_port(), block_size=BLOCK, max_model_len=MAX_MODEL_LEN,
                      num_gpu_blocks=args.blocks, startup_timeout_s=400)
    t0 = time.monotonic()
    results: dict[str, Any] = {"blocks": args.blocks, "usable_blocks": args.blocks - 1,
                               "block_size": BLOCK, "seeds": {}, "concurrent": []}
    lines = [HEADER]
    with VllmServer(spec, "prefix_reuse", backend=backend, log_path=work / "server.log") as server:
        print(f"server up in {server.startup_seconds} s; num_gpu_blocks {args.blocks} "
              f"({args.blocks - 1} usable x {BLOCK} tokens); work dir {work}", flush=True)
        # The server's cache from its start: every run goes through the same estimator state.
        cache = SequentialPrefixCache(args.blocks, BLOCK)
        everything: list[Sent] = []
        for seed in seeds:
            _, report, sent, mismatches = run_seed(server.base_url, work, seed, source,
                                                   args.requests, 1, args.numerals)
            c = compare(cache, sent, report)
            c["tokenization_mismatches"] = mismatches
            everything += sent
            results["seeds"][seed] = c
            lines.append(_row(f"seed {seed}, sequential", c))
        unbounded = unbounded_cached(everything)
        bounded = [row["estimator_cached"] for seed in seeds
                   for row in results["seeds"][seed]["rows"]]
        evicted = sum(1 for b, u in zip(bounded, unbounded) if b < u)
        results.update(evicted_requests=evicted, unbounded_cached=sum(unbounded))
        for n in levels:
            # Concurrency changes the order in which blocks are computed, freed and evicted:
            # a sequential replay in send order is not expected to match; measure the gap.
            # Every level sends the same seed's workload under its own tag (no cross-run hits).
            seed = args.concurrent_seed
            num = str if args.numerals else spell
            tag = f"seed {num(seed)} streams {num(n)}"
            _, report, sent, mismatches = run_seed(server.base_url, work, seed, source,
                                                   args.requests, n, args.numerals, tag)
            c = compare(cache, sent, report)
            c["tokenization_mismatches"] = mismatches
            results["concurrent"].append({"concurrency": n, "seed": seed, **c})
            lines.append(_row(f"seed {seed}, concurrency {n}", c))
    results["wall_s"] = round(time.monotonic() - t0, 1)
    print("\n".join(lines))
    print(f"\neviction: {evicted} of {len(everything)} sequential requests got fewer cached "
          f"tokens than with an unbounded cache ({sum(bounded)} vs {sum(unbounded)} tokens)")
    for label, c in [*((f"seed {s}", results["seeds"][s]) for s in seeds),
                     *((f"concurrency {c['concurrency']}", c) for c in results["concurrent"])]:
        if c["tokenization_mismatches"]:
            print(f"{label}: {len(c['tokenization_mismatches'])} tokenization mismatches, e.g. "
                  f"{'; '.join(c['tokenization_mismatches'][:3])}")
    for c in results["concurrent"]:
        print(f"concurrency {c['concurrency']} (seed {c['seed']}): server cached "
              f"{c['server_cached']} vs sequential estimate {c['estimator_cached']} "
              f"({c['server_cached'] - c['estimator_cached']:+d} tokens, "
              f"{(c['server_cached'] - c['estimator_cached']) / c['prompt_tokens']:+.2%} of "
              f"prompt tokens); {c['mismatches']} of {c['requests']} requests differ ({c['server_more']} "
              f"more on the server, {c['server_fewer']} fewer), mean "
              f"|diff| {c['mean_abs_diff']:.1f} tokens, max {c['max_abs_diff']}; server "
              f"preemptions {c['server_preemptions_delta']:.0f}")
    (work / "fidelity.json").write_text(json.dumps(results, indent=1), "utf-8")
    print(f"wall {results['wall_s']} s (server start included); details in "
          f"{work / 'fidelity.json'}")
    exact = all(c["mismatches"] == 0 and not c["tokenization_mismatches"]
                and c["estimator_hits"] == c["server_hits_delta"]
                and c["estimator_queries"] == c["server_queries_delta"]
                for c in results["seeds"].values())
    print("sequential part: exact" if exact else "sequential part: NOT exact")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
