"""Speed of the vLLM-exact prefix-cache accounting and of the serving simulation on the Mooncake
conversation trace (issue #4 item 9).

Accounting: sequential replay (``replay_sequential``: each request alone, to completion) of the 12,031
requests of ``conversation_trace.jsonl``, accounting only: the JSON parsing and the building of
``SimRequest``s are timed apart. Target: >= 100,000 requests/s on one core.

Full serving simulation: ``estimate.serving.simulate`` (the vLLM 0.32.0 scheduler, block pool
and, in cpu_offload, the offloading connector) of the same requests at their trace arrival times
(``estimate.run.trace_requests``, as ``kvlab estimate`` reads a trace), step times from
``RooflineModel.from_names(MODEL, GPU)``, the same block size and capacity, ``kvlab estimate``'s
defaults otherwise (max_num_seqs 256, max_num_batched_tokens 8192, 64 GiB CPU tier), for modes
baseline, prefix_reuse and cpu_offload. Target: >= 20,000 requests/s on one core. Loading the
trace is timed apart.

Both parts: best of N runs, CPU time (``time.process_time``) and wall time; the process is
pinned to one core and the machine's load average is printed before and after, so a reader can
tell how noisy the numbers are (wall time on a loaded machine is the one to distrust).

Block size and capacity: the trace names one chained id per 512 prompt tokens, so one trace id
is one vLLM block of 512 tokens (a finer block size cannot be reconstructed: the ids do not say
which parts of two differing 512-token blocks agree). The partial last prompt block's id is
dropped (vLLM hashes full blocks only); output blocks get ids nothing else matches. A capacity
of C tokens is ``num_gpu_blocks = C // 512`` (vLLM floors bytes / page size the same way), of
which one is vLLM's null block: 3,000,000 tokens -> 5,859 blocks -> 5,858 hold KV.

Side by side (``--ref DIR``): DIR is a copy of ``src/kv_agent_lab`` (say, the code before a
change: ``cp -rL src/kv_agent_lab /tmp/kvlab_ref/``); it is imported as a second package and each
timed part runs the reference and this checkout alternately (which goes first alternates too),
``--repeat``/``--serving-repeat`` times each, on the same inputs; the results must agree (checked)
and each line gives both rates and their ratio (new / reference), so load on the machine hits both.

    .venv/bin/python benchmarks/prefix_cache_speed.py [--capacity-tokens 3000000] [--repeat 5]
        [--serving-repeat 3] [--modes baseline prefix_reuse cpu_offload] [--ref DIR]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time
from pathlib import Path

from kv_agent_lab.estimate.prefix_cache import SimRequest, replay_sequential

TRACE = Path(__file__).resolve().parents[2] / "shared/data/mooncake/conversation_trace.jsonl"
TRACE_BLOCK = 512
MODEL, GPU = "Qwen2.5-3B-Instruct", "H100"
MODES = ("baseline", "prefix_reuse", "cpu_offload")


def _load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"


def _ref_package(path: Path):
    """The package copy at ``path`` imported as ``kvlab_ref`` (its relative imports stay inside
    it): (its ``replay_sequential``, its ``simulate``)."""
    spec = importlib.util.spec_from_file_location(
        "kvlab_ref", path / "__init__.py", submodule_search_locations=[str(path)])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules["kvlab_ref"] = pkg
    spec.loader.exec_module(pkg)
    return (importlib.import_module("kvlab_ref.estimate.prefix_cache").replay_sequential,
            importlib.import_module("kvlab_ref.estimate.serving").simulate)


def _race(fns: dict[str, object], repeat: int) -> dict[str, tuple[float, float, object]]:
    """label -> (best CPU seconds, best wall seconds, last result) of ``repeat`` calls of each
    function, the functions called in turn (round r starts with function r mod len)."""
    best = {k: [float("inf"), float("inf"), None] for k in fns}
    labels = list(fns)
    for r in range(repeat):
        for k in labels[r % len(labels):] + labels[:r % len(labels)]:
            c0, w0 = time.process_time(), time.perf_counter()
            res = fns[k]()
            w1, c1 = time.perf_counter(), time.process_time()
            b = best[k]
            b[0], b[1], b[2] = min(b[0], c1 - c0), min(b[1], w1 - w0), res
    return {k: tuple(v) for k, v in best.items()}


def _rates(label: str, n: int, runs: dict[str, tuple[float, float, object]], repeat: int,
           ms: bool) -> str:
    """'label: N requests/s CPU, M wall (best of R: ...)' for this checkout, then the reference
    and the ratio when there is one; times in ms or s."""
    cpu, wall, _ = runs["new"]

    def fmt(sec: float) -> str:
        return f"{sec * 1e3:.1f} ms" if ms else f"{sec:.3f} s"

    line = (f"{label}: {n / cpu:,.0f} requests/s CPU, {n / wall:,.0f} wall (best of {repeat}: "
            f"{fmt(cpu)} CPU, {fmt(wall)} wall)")
    if "ref" in runs:
        rc, rw, _ = runs["ref"]
        line += (f"; reference {n / rc:,.0f} CPU, {n / rw:,.0f} wall; new/ref "
                 f"{rc / cpu:.2f}x CPU, {rw / wall:.2f}x wall")
    return line


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trace", type=Path, default=TRACE)
    ap.add_argument("--capacity-tokens", type=int, default=3_000_000)
    ap.add_argument("--repeat", type=int, default=5, help="best of N timed replays")
    ap.add_argument("--serving-repeat", type=int, default=3,
                    help="best of N timed serving simulations per mode (0: none)")
    ap.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    ap.add_argument("--ref", type=Path, metavar="DIR",
                    help="a copy of src/kv_agent_lab to time side by side (see above)")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):  # one core, literally: the highest one, since vLLM's
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})  # CPU worker binds from core 0
    ref = _ref_package(args.ref.resolve()) if args.ref else None

    rows = [json.loads(line) for line in args.trace.open()]
    t0 = time.perf_counter()
    reqs = [SimRequest.from_block_ids(r["input_length"], r["output_length"], r["hash_ids"],
                                      TRACE_BLOCK, i) for i, r in enumerate(rows)]
    t_build = time.perf_counter() - t0
    num_blocks = args.capacity_tokens // TRACE_BLOCK
    print(f"trace: {len(reqs):,} requests; block size {TRACE_BLOCK}; capacity "
          f"{args.capacity_tokens:,} tokens -> num_gpu_blocks {num_blocks:,} "
          f"({num_blocks - 1:,} hold KV, one is vLLM's null block)")
    print(f"building SimRequests: {len(reqs) / t_build:,.0f} requests/s (not part of accounting)")
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    print(f"pinned to core(s) {cores} of {os.cpu_count()}; {_load()}"
          + (f"; reference: {args.ref}" if ref else ""))
    for caching in (True, False):
        fns = {"new": lambda: replay_sequential(reqs, num_blocks, TRACE_BLOCK,
                                                enable_caching=caching)}
        if ref:
            fns["ref"] = lambda: ref[0](reqs, num_blocks, TRACE_BLOCK, enable_caching=caching)
        runs = _race(fns, args.repeat)
        res = runs["new"][2]
        if ref and (res.per_request != runs["ref"][2].per_request
                    or res.stats.as_dict() != runs["ref"][2].stats.as_dict()):
            raise SystemExit("accounting: this checkout and the reference disagree")
        s = res.stats
        cached = sum(c for _, c in res.per_request)
        prompt = sum(p for p, _ in res.per_request)
        label = "prefix caching on " if caching else "prefix caching off"
        print(_rates(f"accounting, {label}", len(reqs), runs, args.repeat, ms=True)
              + f"; hit rate {cached / prompt:.4f} = {cached:,} cached / {prompt:,} prompt "
              f"tokens; vLLM counters queries={s.queries:,} hits={s.hits:,}")
    if args.serving_repeat > 0 and args.modes:
        _serving(args, num_blocks, ref[1] if ref else None)
    print(f"after: {_load()}")


def _serving(args: argparse.Namespace, num_blocks: int, ref_simulate) -> None:
    from kv_agent_lab.estimate.offload import cpu_chunks
    from kv_agent_lab.estimate.roofline import RooflineModel
    from kv_agent_lab.estimate.run import DEFAULTS, trace_requests
    from kv_agent_lab.estimate.serving import ServingConfig, simulate
    from kv_agent_lab.estimate.trace import load_trace

    t0 = time.perf_counter()
    trace = load_trace(args.trace)
    requests = trace_requests(trace)
    t_load = time.perf_counter() - t0
    assert trace.block_size == TRACE_BLOCK, trace.block_size
    roofline = RooflineModel.from_names(MODEL, GPU)
    chunks = cpu_chunks(DEFAULTS["cpu_offload_gib"],
                        roofline.model.kv_bytes_per_token * TRACE_BLOCK)
    print(f"serving simulation: {MODEL} on {GPU} (roofline step times), max_num_seqs "
          f"{DEFAULTS['max_num_seqs']}, max_num_batched_tokens "
          f"{DEFAULTS['max_num_batched_tokens']}, cpu_offload {DEFAULTS['cpu_offload_gib']} GiB "
          f"= {chunks:,} chunks; loading the trace: {len(requests) / t_load:,.0f} requests/s "
          f"(not timed below)")
    for mode in args.modes:
        cfg = ServingConfig(num_blocks=num_blocks, block_size=TRACE_BLOCK,
                            enable_caching=mode != "baseline",
                            max_num_seqs=DEFAULTS["max_num_seqs"],
                            max_num_batched_tokens=DEFAULTS["max_num_batched_tokens"],
                            cpu_chunks=chunks if mode == "cpu_offload" else None,
                            sample_interval_s=DEFAULTS["sample_interval_s"])
        fns = {"new": lambda: simulate(requests, cfg, roofline.step_time_from_sums,
                                       roofline.load_time_s)}
        if ref_simulate:
            fns["ref"] = lambda: ref_simulate(requests, cfg, roofline.step_time_from_sums,
                                              roofline.load_time_s)
        runs = _race(fns, args.serving_repeat)
        res = runs["new"][2]
        if ref_simulate:
            other = runs["ref"][2]
            if (res.counters, res.kv, res.samples, res.records()) != (
                    other.counters, other.kv, other.samples, other.records()):
                raise SystemExit(f"serving, {mode}: this checkout and the reference disagree")
        c = res.counters
        hit = c["prompt_tokens_cached"] / c["prompt_tokens"]
        print(_rates(f"serving, {mode:12s}", len(requests), runs, args.serving_repeat, ms=False)
              + f"; {c['steps']:,} steps, hit rate {hit:.4f}, preemptions "
              f"{c['preemptions']:,}, simulated {res.kv['duration_s']:.1f} s")


if __name__ == "__main__":
    main()
