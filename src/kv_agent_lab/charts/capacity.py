"""Charts of a capacity sweep (``kvlab sweep``, ``results/whatif/<input>/capacity_sweep.json``):
hit rate and mean TTFT against KV capacity, and the retention policies against vLLM's LRU."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .inputs import NotApplicable, check_sweep
from .style import (FIGSIZE, IDEAL_COLOUR, POLICY_LINESTYLES, plain_log_axis, plt,
                    policy_colour, save_figure, spans_decades, time_unit)

Sweep = Mapping[str, Any]
_SERVING_HOOK = re.compile(r"serving_ttft\((?P<model>[^@()]+)@(?P<gpu>[^@()]+)\)$")


def sweep_target(sweep: Sweep) -> tuple[str, str] | None:
    """(model, gpu) of the serving simulator that filled ``mean_ttft_s``, from ``ttft.hook``
    (the only place a sweep names them), or None."""
    match = _SERVING_HOOK.search(sweep["ttft"]["hook"])
    return (match["model"], match["gpu"]) if match else None


def kv_bytes_per_token_of(sweep: Sweep, model: str | None = None) -> tuple[int | None, str | None]:
    """(KV bytes per token, model name) for labelling capacities in GiB: ``model`` if given,
    else the sweep's serving model; (None, None) when unknown."""
    from ..specs import load_model

    name = model or (sweep_target(sweep) or (None, None))[0]
    if not name:
        return None, None
    try:
        return int(load_model(name).kv_bytes_per_token), name
    except Exception:  # an unknown model only costs the GiB axis, never the chart
        return None, None


def _policies(sweep: Sweep) -> list[Mapping[str, Any]]:
    return list(sweep["policies"])


def _capacity_axis(ax: plt.Axes, sweep: Sweep, per_token: int | None, model: str | None,
                   top: str) -> None:
    """Log capacity axis in tokens, the working set marked, and a top axis in GiB (``top`` =
    'gib', when the bytes per token are known) or in % of the working set."""
    ws_tokens = sweep["working_set"]["tokens"]
    ax.set_xscale("log")
    capacities = [p["capacity_tokens"] for r in sweep["policies"] for p in r["points"]]
    plain_log_axis(ax.xaxis, compact=True, values=capacities)
    ax.set_xlim(min(capacities) / 1.15, max(capacities) * 1.15)  # the same on every panel
    ax.set_xlabel(f"KV capacity (tokens, log scale; block {sweep['block_size']})")
    if ws_tokens:
        ax.axvline(ws_tokens, color="#999999", linestyle=":", linewidth=1.2)
        ax.annotate("working set", (ws_tokens, 0.5), xycoords=("data", "axes fraction"),
                    rotation=90, ha="right", va="center", fontsize=9, color="#555555")
    if top == "gib" and per_token:
        scale = per_token / 2**30
        sec = ax.secondary_xaxis("top", functions=(lambda t: t * scale, lambda g: g / scale))
        sec.set_xlabel(f"KV memory (GiB, {model})")
    elif ws_tokens:
        sec = ax.secondary_xaxis("top", functions=(lambda t: t / ws_tokens * 100,
                                                   lambda p: p * ws_tokens / 100))
        sec.set_xlabel("% of the working set")
    else:
        return
    plain_log_axis(sec.xaxis, values=capacities)


def _hit_rate_axis(ax: plt.Axes, sweep: Sweep) -> None:
    ideal = sweep["ideal"]["hit_rate"]
    ax.axhline(ideal * 100, color=IDEAL_COLOUR, linestyle="--", linewidth=1.2,
               label=f"ideal, unbounded cache ({ideal:.1%})")
    ax.set_ylim(0, 105)
    ax.set_ylabel("hit rate (% of prompt tokens from cache)")
    ax.grid(alpha=0.3)


def _plot_policy(ax: plt.Axes, run: Mapping[str, Any], field: str, factor: float = 1.0,
                 label: str | None = None) -> None:
    points = [(p["capacity_tokens"], p[field]) for p in run["points"] if p.get(field) is not None]
    if not points:
        return
    xs, ys = zip(*points)
    # LRU is drawn wide and underneath: where a policy equals it, LRU still shows at the edges.
    lru = run["name"] == "lru"
    ax.plot(xs, [y * factor for y in ys], marker="o", markersize=5 if lru else 4,
            linewidth=3.0 if lru else 1.8, zorder=1.5 if lru else 2,
            color=policy_colour(run["name"]), linestyle=POLICY_LINESTYLES.get(run["name"], "-"),
            label=label or run["label"], gid=f"policy:{run['name']}")


def _title(sweep: Sweep) -> str:
    ws = sweep["working_set"]
    return (f"input {sweep['input']['name']}: {ws['requests']:,} requests, working set "
            f"{ws['tokens']:,} tokens, sequential replay")


def capacity_sweep_figure(sweep: Sweep, name: str = "sweep", model: str | None = None
                          ) -> plt.Figure:
    """Left: the hit rate vLLM's LRU (or the sweep's first policy) achieves against KV
    capacity, under the ideal (a cache that never evicts). Right: mean TTFT against capacity
    where the sweep has it (the serving simulator; LRU only)."""
    check_sweep(sweep, name)
    runs = _policies(sweep)
    main = next((r for r in runs if r["name"] == "lru"), runs[0])
    per_token, model = kv_bytes_per_token_of(sweep, model)
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE)
    _hit_rate_axis(left, sweep)
    _plot_policy(left, main, "hit_rate", 100, f"achieved, {main['label']}"
                 f"{' (vLLM)' if main['name'] == 'lru' else ''}")
    _capacity_axis(left, sweep, per_token, model, "gib")
    left.legend(loc="best")
    left.set_title("Prefix-cache hit rate")
    timed = [r for r in runs if any(p.get("mean_ttft_s") is not None for p in r["points"])]
    if timed:
        factor, unit = time_unit(p["mean_ttft_s"] for r in timed for p in r["points"])
        for run in timed:
            _plot_policy(right, run, "mean_ttft_s", factor)
        values = [p["mean_ttft_s"] for r in timed for p in r["points"]]
        if spans_decades(values):
            right.set_yscale("log")
            plain_log_axis(right.yaxis, values=values)
        else:
            right.set_ylim(bottom=0)
        right.set_ylabel(f"mean time to first token ({unit}"
                         f"{', log scale' if spans_decades(values) else ''})")
        right.legend(loc="upper right", title="policy")
        target = sweep_target(sweep)
        right.set_title("Mean TTFT, serving simulator" + (f" ({target[0]}@{target[1]})"
                                                          if target else ""))
    else:
        right.text(0.5, 0.8, "no mean TTFT in this sweep\n(kvlab sweep --model M --gpu G "
                   "adds it)", transform=right.transAxes, ha="center", va="center")
        right.set_yticks([])
        right.set_title("Mean TTFT")
    right.grid(alpha=0.3)
    _capacity_axis(right, sweep, per_token, model, "gib")
    fig.suptitle(f"Hit rate and TTFT against KV capacity ({_title(sweep)})")
    fig.tight_layout()
    return fig


def plot_capacity_sweep(sweep: Sweep, path: str | Path, name: str = "sweep",
                        model: str | None = None) -> list[Path]:
    return save_figure(capacity_sweep_figure(sweep, name, model), path)


def policy_comparison_figure(sweep: Sweep, name: str = "sweep") -> plt.Figure:
    """Left: hit rate against capacity for every policy in the sweep, under the ideal. Right:
    each policy's hit rate minus LRU's, in percentage points (above 0: it keeps more)."""
    check_sweep(sweep, name)
    runs = _policies(sweep)
    lru = next((r for r in runs if r["name"] == "lru"), None)
    if lru is None or len(runs) < 2:
        raise NotApplicable("the policy comparison needs lru and another policy "
                            "(kvlab sweep --compare-policies)")
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE)
    _hit_rate_axis(left, sweep)
    for run in runs:
        _plot_policy(left, run, "hit_rate", 100,
                     f"{run['label']}{' (vLLM)' if run['name'] == 'lru' else ''}")
    left.legend(loc="best")
    left.set_title("Hit rate per retention policy")
    _capacity_axis(left, sweep, None, None, "share")
    right.axhline(0, color=policy_colour("lru"), linewidth=1.2, label="lru (vLLM)")
    base = {p["capacity_blocks"]: p["hit_rate"] for p in lru["points"]}
    for run in runs:
        if run is lru:
            continue
        xs = [p["capacity_tokens"] for p in run["points"] if p["capacity_blocks"] in base]
        ys = [(p["hit_rate"] - base[p["capacity_blocks"]]) * 100 for p in run["points"]
              if p["capacity_blocks"] in base]
        right.plot(xs, ys, marker="o", markersize=4, linewidth=1.8,
                   color=policy_colour(run["name"]),
                   linestyle=POLICY_LINESTYLES.get(run["name"], "-"), label=run["label"],
                   gid=f"policy:{run['name']}")
    right.set_ylabel("hit rate minus LRU's (percentage points)")
    right.grid(alpha=0.3)
    right.legend(loc="upper right", title="policy")
    right.set_title("Gain over vLLM's LRU")
    _capacity_axis(right, sweep, None, None, "share")
    fig.suptitle(f"Retention policies against KV capacity ({_title(sweep)})")
    fig.tight_layout()
    return fig


def plot_policy_comparison(sweep: Sweep, path: str | Path, name: str = "sweep") -> list[Path]:
    return save_figure(policy_comparison_figure(sweep, name), path)


__all__ = ["capacity_sweep_figure", "kv_bytes_per_token_of", "plot_capacity_sweep",
           "plot_policy_comparison", "policy_comparison_figure", "sweep_target"]
