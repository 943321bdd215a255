"""Capacity sweep: prefix-cache hit rate against KV-cache capacity, per retention policy.

Input: a block trace (``estimate.trace``; a Mooncake trace or a text workload becomes one).
Requests are replayed one at a time in trace order (``replay_sequential``: each request alone to
completion, exactly as vLLM 0.32.0 accounts it), so the sweep measures what the block
accounting alone decides: which prefixes are still cached when the next request looks. Queueing,
batching and concurrent requests holding blocks are the serving simulator's part.

Capacities are log-spaced from ``min_fraction`` (1%) to ``max_fraction`` (2x) of the trace's
**working set**: the distinct full blocks whose ids are known (those a later request could hit),
and never below the largest request (vLLM refuses to start when one request cannot fit). A
capacity of C blocks is ``num_gpu_blocks = C + 1`` (vLLM's null block holds no KV). The
**ideal** hit rate is the same replay with a cache that never evicts: the ceiling.

Output (schema ``schemas/sweep.schema.json``): the input, working set, ideal, and for each
policy its points: ``capacity_blocks``, ``num_gpu_blocks``, ``capacity_tokens``,
``capacity_fraction``, ``queries`` and ``hits`` (vLLM's prefix-cache counters: prompt tokens and
cached prompt tokens), ``hit_rate``, and ``mean_ttft_s``, null until the serving simulator fills
it through the ``mean_ttft`` hook (or ``run_sweep(..., ttft=...)``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from ..report import file_sha256
from .policy import POLICIES, PolicySpec, make_policy, replay_with_policy
from .prefix_cache import replay_sequential
from .trace import BlockTrace

SCHEMA_VERSION = 1
COMPARE = ("lru", "shared", "prefix", "oracle")

TtftModel = Callable[[BlockTrace, int, PolicySpec], "float | None"]


def mean_ttft(trace: BlockTrace, num_gpu_blocks: int, policy: PolicySpec) -> float | None:
    """Hook for the TTFT half of the sweep: mean time to first token, in seconds, of ``trace``
    served with ``num_gpu_blocks`` KV blocks (vLLM's ``--num-gpu-blocks-override``: one is the
    null block) of ``trace.block_size`` tokens under ``policy``; None when it is not modelled.

    The serving simulator (``estimate.serving``) fills this in, e.g. with
    ``simulate(trace.serving_requests(), ServingConfig(num_blocks=num_gpu_blocks,
    block_size=trace.block_size), step_time)`` and the mean of its records' ``ttft_s``: it needs
    the arrival times, concurrency and prefill/decode speed, which the sequential accounting
    does not model (and vLLM's LRU: other policies may return None). Until then every point's
    ``mean_ttft_s`` is null."""
    return None


def serving_ttft(model: str, gpu: str, max_num_seqs: int = 256,
                 max_num_batched_tokens: int = 8192) -> TtftModel:
    """A ``mean_ttft`` for ``run_sweep``: serve the trace (its arrival times kept) on the
    serving simulator with roofline step times for ``model`` on ``gpu``, at the point's
    capacity. Only vLLM's own eviction (LRU) is served: the simulator's block pool is the
    vLLM-exact one, so other policies get None rather than a number they did not earn."""
    from ..specs import load_gpu, load_model
    from .roofline import RooflineModel
    from .serving import ServingConfig, simulate

    roofline = RooflineModel(load_model(model), load_gpu(gpu))
    prepared: dict[int, list] = {}

    def ttft(trace: BlockTrace, num_gpu_blocks: int, policy: PolicySpec) -> float | None:
        if policy.name != "lru":
            return None
        requests = prepared.setdefault(id(trace), trace.serving_requests())
        config = ServingConfig(num_blocks=num_gpu_blocks, block_size=trace.block_size,
                               max_num_seqs=max_num_seqs,
                               max_num_batched_tokens=max_num_batched_tokens)
        records = simulate(requests, config, roofline.step_time_from_sums).records()
        values = [r["ttft_s"] for r in records if r.get("ttft_s") is not None]
        return sum(values) / len(values) if values else None

    ttft.__qualname__ = f"serving_ttft({model}@{gpu})"
    return ttft


def working_set(trace: BlockTrace) -> dict[str, int]:
    """Sizes the sweep is scaled by. ``blocks``: distinct ids of full blocks that get KV (full
    prompt blocks and known output blocks). ``unshareable_blocks``: full blocks of output
    whose tokens are unknown (they occupy the cache, never hit). ``max_request_blocks``: the
    most blocks one request holds (prompt + output - 1 tokens)."""
    bs = trace.block_size
    ids: set[int] = set()
    unshareable = biggest = prompt = 0
    for r in trace.requests:
        full = r.full_block_ids(bs)
        ids.update(full)
        end = r.input_tokens + r.output_tokens - 1
        unshareable += max(end // bs - len(full), 0)
        biggest = max(biggest, -(-end // bs))
        prompt += r.input_tokens
    return {"blocks": len(ids), "tokens": len(ids) * bs, "unshareable_blocks": unshareable,
            "max_request_blocks": biggest, "requests": len(trace.requests),
            "prompt_tokens": prompt}


def ideal(trace: BlockTrace) -> dict[str, Any]:
    """The replay with a cache that never evicts (``num_gpu_blocks`` = 1 + every block any
    request allocates): the unbounded-capacity hit rate."""
    bs = trace.block_size
    total = sum(-(-(r.input_tokens + r.output_tokens - 1) // bs) for r in trace.requests)
    stats = replay_sequential(trace.sim_requests(), total + 1, bs).stats
    return {"queries": stats.queries, "hits": stats.hits, "hit_rate": _rate(stats.hit_rate)}


def capacity_points(working_set_blocks: int, min_blocks: int, points: int = 16,
                    min_fraction: float = 0.01, max_fraction: float = 2.0) -> list[int]:
    """``points`` capacities (blocks holding KV), log-spaced from ``min_fraction`` to
    ``max_fraction`` of the working set, none below ``min_blocks``; distinct, ascending."""
    if points < 1:
        raise ValueError("points must be at least 1")
    if not 0 < min_fraction <= max_fraction:
        raise ValueError("need 0 < min_fraction <= max_fraction")
    lo = max(math.ceil(min_fraction * working_set_blocks), min_blocks, 1)
    hi = max(math.ceil(max_fraction * working_set_blocks), lo)
    if points == 1 or lo == hi:
        return [hi]
    ratio = (hi / lo) ** (1 / (points - 1))
    return sorted({min(max(round(lo * ratio ** i), lo), hi) for i in range(points)})


def _rate(x: float) -> float:
    return round(x, 6)


def sweep_policy(trace: BlockTrace, capacities: Iterable[int], policy: PolicySpec,
                 working_set_blocks: int, ttft: TtftModel | None = None) -> list[dict[str, Any]]:
    """One point per capacity (blocks holding KV) for ``policy``."""
    bs, out, ttft = trace.block_size, [], ttft or mean_ttft
    for cap in capacities:
        stats = replay_with_policy(trace.sim_requests(), cap + 1, bs, policy).stats
        out.append({
            "capacity_blocks": cap,
            "num_gpu_blocks": cap + 1,
            "capacity_tokens": cap * bs,
            "capacity_fraction": _rate(cap / working_set_blocks) if working_set_blocks else None,
            "queries": stats.queries,
            "hits": stats.hits,
            "hit_rate": _rate(stats.hit_rate),
            "mean_ttft_s": ttft(trace, cap + 1, policy),
        })
    return out


def _compare(base: list[dict[str, Any]], other: list[dict[str, Any]]) -> dict[str, Any]:
    deltas = [round(o["hit_rate"] - b["hit_rate"], 6) for b, o in zip(base, other)]
    best = max(range(len(deltas)), key=deltas.__getitem__)
    worst = min(range(len(deltas)), key=deltas.__getitem__)
    return {
        "hit_rate_minus_lru": deltas,
        "points_better": sum(d > 0 for d in deltas),
        "points_worse": sum(d < 0 for d in deltas),
        "max_gain": {"delta": deltas[best], "capacity_blocks": base[best]["capacity_blocks"]},
        "max_loss": {"delta": deltas[worst], "capacity_blocks": base[worst]["capacity_blocks"]},
        "mean_delta": round(sum(deltas) / len(deltas), 6),
    }


def run_sweep(trace: BlockTrace, policies: Iterable[PolicySpec | str] = ("lru",),
              points: int = 16, min_fraction: float = 0.01, max_fraction: float = 2.0,
              ttft: TtftModel | None = None, input_info: dict[str, Any] | None = None,
              progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The sweep document (``schemas/sweep.schema.json``) for ``trace`` under each policy."""
    from .. import __version__

    specs = [make_policy(p) if isinstance(p, str) else p for p in policies]
    ttft = ttft or mean_ttft  # looked up now, so a serving integration may replace the hook
    if not specs:
        raise ValueError("at least one policy")
    labels = [spec.label for spec in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"a policy is listed twice: {', '.join(labels)}")
    ws = working_set(trace)
    caps = capacity_points(ws["blocks"], ws["max_request_blocks"], points, min_fraction,
                           max_fraction)
    runs = []
    for spec in specs:
        if progress:
            progress(f"{spec.label}: {len(caps)} capacities")
        runs.append({"name": spec.name, "label": spec.label, "params": spec.params,
                     "online": spec.online,
                     "description": spec.describe(),
                     "points": sweep_policy(trace, caps, spec, ws["blocks"], ttft)})
    lru = next((r for r in runs if r["name"] == "lru"), None)
    comparison = {r["label"]: _compare(lru["points"], r["points"])
                  for r in runs if lru is not None and r is not lru}
    floor = math.ceil(min_fraction * ws["blocks"])
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "capacity_sweep",
        "lab_version": __version__,
        "input": {"name": trace.name, **(input_info or {}), "source": trace.source},
        "block_size": trace.block_size,
        "order": "sequential",
        "working_set": ws,
        "capacities": {"points": len(caps), "min_fraction": min_fraction,
                       "max_fraction": max_fraction,
                       "clamped_to_largest_request": ws["max_request_blocks"] > floor},
        "ideal": ideal(trace),
        "ttft": {"hook": f"{getattr(ttft, '__module__', '?')}."
                         f"{getattr(ttft, '__qualname__', ttft)}",
                 "provided": any(p["mean_ttft_s"] is not None for r in runs for p in r["points"]),
                 "note": "mean_ttft_s comes from the serving simulator (kvlab sweep --model --gpu), "
                         "for vLLM's LRU only; null otherwise"},
        "policies": runs,
        "comparison": comparison,
    }


def table(doc: dict[str, Any]) -> str:
    """The sweep as a text table: capacity, then each policy's hit rate."""
    runs = doc["policies"]
    timed = [r for r in runs if any(p["mean_ttft_s"] is not None for p in r["points"])]
    head = (["capacity_blocks", "tokens", "x_ws"] + [r["label"] for r in runs]
            + [f"{r['label']} mean TTFT s" for r in timed])
    rows = [head]
    for i, point in enumerate(runs[0]["points"]):
        rows.append([str(point["capacity_blocks"]), f"{point['capacity_tokens']:,}",
                     f"{point['capacity_fraction']:.3f}"]
                    + [f"{r['points'][i]['hit_rate']:.4f}" for r in runs]
                    + [f"{r['points'][i]['mean_ttft_s']:.3f}" for r in timed])
    rows.append(["ideal", "", ""] + [f"{doc['ideal']['hit_rate']:.4f}"] * len(runs)
                + [""] * len(timed))
    widths = [max(len(r[c]) for r in rows) for c in range(len(head))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)


__all__ = ["COMPARE", "POLICIES", "SCHEMA_VERSION", "capacity_points", "ideal", "mean_ttft",
           "run_sweep", "serving_ttft", "sweep_policy", "table", "working_set"]


def cmd_sweep(args: Any) -> int:
    """``kvlab sweep``: 0, or 2 on bad input (every problem printed, nothing written)."""
    import json
    import sys

    from ..atomic import write_atomic
    from ..workload import WorkloadError
    from .trace import load_trace, print_problems, sniff_format

    fmt = sniff_format(args.input) if args.format == "auto" else args.format
    block_size = args.block_size or (16 if fmt == "workload" else None)
    names = list(COMPARE) if args.compare_policies else (args.policy or ["lru"])
    try:
        specs = [make_policy(n, min_uses=args.min_uses, protect_tokens=args.protect_tokens,
                             protected_fraction=args.protected_fraction) for n in names]
        trace = load_trace(args.input, fmt, block_size, args.tokenizer)
        info: dict[str, Any] = {"path": str(args.input), "format": fmt,
                                "sha256": file_sha256(args.input)}
        if fmt == "workload":
            info["tokenizer"] = trace.source.get("tokenizer", args.tokenizer)
        quiet = args.quiet or not args.out
        ttft = serving_ttft(args.model, args.gpu) if args.model and args.gpu else None
        doc = run_sweep(trace, specs, args.points, args.min_fraction, args.max_fraction,
                        ttft=ttft, input_info=info,
                        progress=None if quiet else lambda m: print(m, file=sys.stderr))
    except WorkloadError as exc:
        print_problems(exc.problems)
        print(f"kvlab sweep: {args.input} is invalid; nothing written", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"kvlab sweep: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(doc, indent=2) + "\n"
    if args.out:
        write_atomic(args.out, text)
        if not args.quiet:
            print(table(doc))
    else:
        sys.stdout.write(text)
    return 0
