"""``kvlab estimate``: one workload, one mode, one model on one GPU, as a run report.

The report has the shape of a live run's (``schemas/report.schema.json``, kind ``estimate``), so
one comparison code reads both: per-request records from the serving simulator
(``serving.py``), the summary from ``report.summarize``, the simulator's counters in
``server_metrics.delta`` (vLLM's names) and its KV-usage samples in ``server_metrics.samples``.
``provenance.estimator`` records every parameter, the KV capacity and where it came from, and
``ideal_hit_rate``: the prefix reuse an unbounded cache would give in nominal send order (the
same rule as ``kvlab stats``).

Inputs: a text workload (tokenized once with the configured tokenizer, prompts rendered as the
live client renders them, generated-history replies replaced by the offline stand-ins as
``stats.py`` does, then hashed into chained blocks), or a block trace / Mooncake trace (read by
``estimate.trace``; its blocks are the KV blocks, so the trace's block size is used).
"""

from __future__ import annotations

import argparse
import datetime as dt
import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from ..report import MODES, file_sha256, summarize, write_report
from .block_hash import hash_request_tokens
from .serving import ServingConfig, ServingRequest, simulate

DEFAULTS: dict[str, Any] = {
    "tokenizer": "approx", "block_size": 16, "gpu_memory_utilization": 0.9, "num_blocks": None,
    "max_num_seqs": 256, "max_num_batched_tokens": 8192, "cpu_offload_gib": 64,
    "efficiency": {}, "sample_interval_s": 1.0, "time_scale": 1.0,
}


def workload_requests(workload: Any, tokens: Any, block_size: int,
                      time_scale: float = 1.0) -> list[ServingRequest]:
    """A text workload's requests in file order: prompts as the server gets them
    (``PromptRenderer.messages`` then ``encode_chat``), chained block hashes of the full blocks
    (``hash_request_tokens``), ``output_tokens = max_tokens`` (ignore_eos, as live runs do).
    Generated history: the stand-in reply's tokens are known, so the output's blocks get real
    hashes and a later turn that repeats the reply hits them; replayed history: the server's
    reply is unknown and its blocks match nothing. Arrivals: session start, dependencies
    (``Workload.dependencies``) and think time, both multiplied by ``time_scale`` as the live
    client's ``--time-scale`` does (0: every session starts at once, no think time)."""
    from ..workload.render import PromptRenderer

    renderer = PromptRenderer(workload)
    starts = workload.session_start_times()
    index = {r.id: i for i, r in enumerate(workload.requests)}
    out = []
    for r in workload.requests:
        messages = renderer.messages(r)
        prompt = tokens.encode_chat(messages)
        hashes = hash_request_tokens(prompt, block_size)
        if workload.sessions[r.session].history == "generated":
            reply = renderer.reply_text(r)
            whole = tokens.encode_chat(messages + [{"role": "assistant", "content": reply}],
                                       add_generation_prompt=False)
            if whole[:len(prompt)] == prompt:    # else the reply's blocks cannot match
                hashes = hash_request_tokens(whole[:len(prompt) + r.max_tokens - 1], block_size)
        out.append(ServingRequest(
            r.id, len(prompt), r.max_tokens, hashes, starts[r.session] * time_scale,
            tuple(index[d] for d in workload.dependencies(r)), r.think_time_s * time_scale,
            {"session": r.session, "thread": r.thread, "turn": r.turn, "class": r.cls}))
    return out


def trace_requests(trace: Any) -> list[ServingRequest]:
    """A block trace (``estimate.trace.BlockTrace``): open loop, arrivals from the trace; ids
    of the full prompt blocks, then the known output blocks."""
    bs = trace.block_size
    return [ServingRequest(r.id, r.input_tokens, r.output_tokens, r.full_block_ids(bs),
                           r.arrival_s, info={"session": r.session or r.id, "turn": 1,
                                              "class": r.cls or "trace"})
            for r in trace.requests]


def ideal_hit_rate(requests: Sequence[ServingRequest], order: Sequence[int],
                   block_size: int) -> float:
    """Cached / prompt tokens with an unbounded cache, requests sent one at a time in ``order``:
    the leading run of full prompt blocks an earlier request computed (prompt or output), at
    most ``(prompt - 1) // block_size`` blocks (vLLM always computes the last token)."""
    seen: set = set()
    cached = total = 0
    for i in order:
        r = requests[i]
        hashes, limit, k = r.block_hashes, (r.prompt_tokens - 1) // block_size, 0
        while k < limit and k < len(hashes) and hashes[k] in seen:
            k += 1
        cached, total = cached + k * block_size, total + r.prompt_tokens
        seen.update(hashes[:(r.prompt_tokens + r.output_tokens - 1) // block_size])
    return cached / total if total else 0.0


def _load_input(path: str | Path, settings: Mapping[str, Any]) -> tuple[Any, list, list, int]:
    """(what to name in the report, requests, nominal order, block size)."""
    from .trace import sniff_format

    block_size = int(settings["block_size"])
    if sniff_format(path) == "workload":
        from ..stats import nominal_order
        from ..tokens import load_token_source
        from ..workload import read_workload

        workload = read_workload(path)
        tokens = load_token_source(settings["tokenizer"])
        requests = workload_requests(workload, tokens, block_size,
                                     float(settings.get("time_scale", 1.0)))
        index = {r.id: i for i, r in enumerate(workload.requests)}
        order = [index[r.id] for r in nominal_order(workload)]
        return (workload.name, tokens.name), requests, order, block_size
    from .trace import load_trace

    trace = load_trace(path)
    requests = trace_requests(trace)
    return (trace.name, None), requests, list(range(len(requests))), trace.block_size


def estimate(workload_path: str | Path, mode: str, model: str, gpu: str,
             settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The report of serving ``workload_path`` in ``mode`` with ``model`` on ``gpu``.
    ``settings``: the configuration's ``estimate`` block plus ``tokenizer`` (DEFAULTS fill
    what is missing)."""
    from ..specs import kv_capacity_blocks, load_gpu, load_model
    from .offload import cpu_chunks
    from .roofline import Efficiency, RooflineModel

    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}")
    cfg = {**DEFAULTS, **{k: v for k, v in (settings or {}).items() if v is not None}}
    started = _utc_now()
    model_spec, gpu_spec = load_model(model), load_gpu(gpu)
    roofline = RooflineModel(model_spec, gpu_spec, Efficiency(**(cfg["efficiency"] or {})))
    (name, tokenizer), requests, order, bs = _load_input(workload_path, cfg)
    num_blocks = kv_capacity_blocks(model_spec, gpu_spec, bs, cfg["gpu_memory_utilization"],
                                    num_blocks=cfg["num_blocks"])
    kv_block_bytes = model_spec.kv_bytes_per_token * bs
    chunks = cpu_chunks(cfg["cpu_offload_gib"], kv_block_bytes) if mode == "cpu_offload" else None
    serving = ServingConfig(
        num_blocks=num_blocks, block_size=bs, enable_caching=mode != "baseline",
        max_num_seqs=int(cfg["max_num_seqs"]),
        max_num_batched_tokens=int(cfg["max_num_batched_tokens"]), cpu_chunks=chunks,
        sample_interval_s=float(cfg["sample_interval_s"]))
    result = simulate(requests, serving, roofline.step_time_from_sums, roofline.load_time_s)
    records = []
    for spec, rec in zip(requests, result.records()):
        info = spec.info
        records.append({
            "id": rec["id"], "session": str(info.get("session", "")),
            **({"thread": info["thread"]} if info.get("thread") else {}),
            "turn": int(info.get("turn", 1)), "class": str(info.get("class", "trace")),
            "status": "ok", "error": None, "attempts": 1,
            **{k: (_round(v) if k.endswith("_s") else v) for k, v in rec.items() if k != "id"}})
    duration = result.kv["duration_s"]
    delta = dict(result.counters)
    estimator = {
        "simulator": "kv_agent_lab.estimate.serving (vLLM 0.32.0 scheduler, block pool, "
                     "offloading connector)",
        "model": model_spec.name, "gpu": gpu_spec.name, **roofline.describe(),
        "kv_bytes_per_token": model_spec.kv_bytes_per_token, "block_size": bs,
        "num_blocks": num_blocks,
        "num_blocks_source": "config" if cfg["num_blocks"] is not None else "specs",
        "gpu_memory_utilization": cfg["gpu_memory_utilization"],
        "kv_capacity_tokens": (num_blocks - 1) * bs,
        "enable_prefix_caching": mode != "baseline",
        "max_num_seqs": serving.max_num_seqs,
        "max_num_batched_tokens": serving.max_num_batched_tokens,
        "cpu_offload_gib": cfg["cpu_offload_gib"] if mode == "cpu_offload" else None,
        "cpu_chunks": chunks, "offload_prompt_only": serving.offload_prompt_only,
        "host_link_bytes_per_s": gpu_spec.host_link_bytes_per_s,
        "tokenizer": tokenizer, "output_tokens": "max_tokens (ignore_eos)",
        "sample_interval_s": serving.sample_interval_s, "time_scale": float(cfg["time_scale"]),
        "ideal_hit_rate": round(ideal_hit_rate(requests, order, bs), 6),
        "kv_usage": {"peak": result.kv["peak_usage"], "time_weighted_mean": result.kv["mean_usage"]},
    }
    return {
        "schema_version": 1, "kind": "estimate", "mode": mode,
        "target": f"{model}@{gpu}",
        "workload": {"name": name, "path": str(workload_path),
                     "sha256": file_sha256(workload_path)},
        "provenance": {"lab_version": __version__, "git_commit": _git_commit(),
                       "host": socket.gethostname(), "started_at": started,
                       "finished_at": _utc_now(), "estimator": estimator},
        "requests": records,
        "summary": summarize(records, round(duration, 6) if duration > 0 else None),
        "server_metrics": {"delta": delta, "samples": result.samples},
    }


def _git_commit() -> str | None:
    from ..live.run import git_commit

    return git_commit()


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _round(value: float | None) -> float | None:
    return None if value is None else round(max(value, 0.0), 6)


def cmd_estimate(args: argparse.Namespace) -> int:
    """``kvlab estimate``: 0 on success, 2 on bad input (nothing written)."""
    from ..config import ConfigError, load_config
    from ..specs import UnknownSpecError
    from ..workload import WorkloadError

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    settings = {**config.get("estimate", {}), "tokenizer": config.get("tokenizer", "approx")}
    if args.num_blocks is not None:
        settings["num_blocks"] = args.num_blocks
    if args.time_scale is not None:
        if args.time_scale < 0:
            print("kvlab estimate: --time-scale: must be >= 0", file=sys.stderr)
            return 2
        settings["time_scale"] = args.time_scale
    if args.tokenizer:
        settings["tokenizer"] = args.tokenizer
    try:
        report = estimate(args.workload, args.mode, args.model, args.gpu, settings)
    except (WorkloadError, UnknownSpecError, ValueError, OSError) as exc:
        print(f"kvlab estimate: {exc}", file=sys.stderr)
        return 2
    write_report(report, args.out)
    overall, est = report["summary"]["overall"], report["provenance"]["estimator"]
    ttft = overall["ttft_s"] or {}
    print(f"{args.out}: {overall['requests']} requests, hit rate {overall['hit_rate']} "
          f"(ideal {est['ideal_hit_rate']}), TTFT p50 {ttft.get('p50', 0):.4f} s, "
          f"preemptions {report['server_metrics']['delta']['preemptions']}", file=sys.stderr)
    return 0
