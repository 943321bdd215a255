"""Charts of one run set: the reports of one workload on one target, one per mode
(``inputs.run_set``). Each ``*_figure`` returns the figure; each ``plot_*`` saves it as PNG and
SVG (``style.save_figure``) and returns both paths."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from .inputs import (ChartInputError, NotApplicable, Report, RunSet, classes_of, ok_requests,
                     percentile, run_set)
from .style import (FIGSIZE, MODE_FILLED, MODE_LINESTYLES, class_markers, mode_colour,
                    plain_log_axis, plt, save_figure, spans_decades, time_unit)


def _mode_label(mode: str, same: Mapping[str, str], detail: str = "") -> str:
    parts = [detail] if detail else []
    if mode in same:
        parts.append(f"same as {same[mode]}")
    return f"{mode} ({'; '.join(parts)})" if parts else mode


def _fmt(value: float) -> str:
    return f"{value:.3g}"


# --- 1. TTFT distributions ---------------------------------------------------------------------

def ttft_distribution_figure(reports: Sequence[Report],
                             names: Sequence[str] | None = None) -> plt.Figure:
    """ECDF of TTFT per mode, one panel per class; log time axis when TTFTs span decades."""
    runs = run_set(reports, names)
    classes = classes_of(runs.reports)
    if not classes:
        raise NotApplicable("no successful request has a TTFT")
    all_ttft = [r["ttft_s"] for rep in runs.reports for r in ok_requests(rep)]
    factor, unit = time_unit(all_ttft)
    log = spans_decades(all_ttft)
    cols = min(len(classes), 4)
    rows = math.ceil(len(classes) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(FIGSIZE[0], FIGSIZE[1] * rows), squeeze=False,
                             sharex=True, sharey=True)
    same = runs.identical_to()
    for index, cls in enumerate(classes):
        ax = axes[index // cols][index % cols]
        count = 0
        for rep in runs.reports:
            values = np.sort([r["ttft_s"] * factor for r in ok_requests(rep) if r["class"] == cls])
            if values.size == 0:
                continue
            count = max(count, values.size)
            mode = rep["mode"]
            # Start each curve at 0 so a single request still draws a step.
            xs = np.concatenate([[values[0]], values])
            ys = np.concatenate([[0.0], np.arange(1, values.size + 1) / values.size])
            ax.step(xs, ys, where="post", color=mode_colour(mode),
                    linestyle=MODE_LINESTYLES.get(mode, "-"), linewidth=1.8, gid=f"mode:{mode}",
                    label=_mode_label(mode, same, f"p50 {_fmt(np.median(values))} {unit}"))
        ax.set_title(f"{cls} ({count} requests per mode)")
        ax.grid(alpha=0.3)
        # Below the panel: inside, it would cover a curve whatever corner it took.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
        if log:
            ax.set_xscale("log")
            plain_log_axis(ax.xaxis, values=all_ttft)
        if index % cols == 0:
            ax.set_ylabel("share of requests (ECDF)")
        ax.set_xlabel(f"time to first token ({unit}{', log scale' if log else ''})")
        ax.xaxis.set_tick_params(labelbottom=True)  # sharex hides them on upper rows
    for index in range(len(classes), rows * cols):
        axes[index // cols][index % cols].set_visible(False)
    fig.suptitle(f"TTFT distribution per class: {' vs '.join(runs.modes)} ({runs.subject()})")
    fig.tight_layout()
    return fig


def plot_ttft_distribution(reports: Sequence[Report], path: str | Path,
                           names: Sequence[str] | None = None) -> list[Path]:
    return save_figure(ttft_distribution_figure(reports, names), path)


# --- 3. TTFT by turn index ---------------------------------------------------------------------

def ttft_by_turn_figure(reports: Sequence[Report],
                        names: Sequence[str] | None = None) -> plt.Figure:
    """Median and p90 TTFT per turn index of a session, per mode (dodged sideways so equal
    modes stay visible); the tick labels carry how many requests each turn has."""
    runs = run_set(reports, names)
    turns = sorted({r["turn"] for rep in runs.reports for r in ok_requests(rep)})
    if len(turns) < 2:
        raise NotApplicable("every request is turn 1: no multi-turn sessions to draw")
    all_ttft = [r["ttft_s"] for rep in runs.reports for r in ok_requests(rep)]
    factor, unit = time_unit(all_ttft)
    fig, ax = plt.subplots(figsize=FIGSIZE)
    width = 0.12 / max(len(runs.reports) - 1, 1)  # sideways dodge between modes, in turns
    same = runs.identical_to()
    counts: dict[int, int] = {}
    for i, rep in enumerate(runs.reports):
        by_turn: dict[int, list[float]] = {}
        for r in ok_requests(rep):
            by_turn.setdefault(r["turn"], []).append(r["ttft_s"] * factor)
        xs = sorted(by_turn)
        for t in xs:
            counts[t] = max(counts.get(t, 0), len(by_turn[t]))
        offset = (i - (len(runs.reports) - 1) / 2) * width
        colour = mode_colour(rep["mode"])
        ax.plot([x + offset for x in xs], [percentile(by_turn[x], 50) for x in xs], "-o",
                color=colour, linewidth=1.8, markersize=5, gid=f"mode:{rep['mode']}",
                label=_mode_label(rep["mode"], same))
        ax.plot([x + offset for x in xs], [percentile(by_turn[x], 90) for x in xs], ":^",
                color=colour, linewidth=1.4, markersize=5, gid=f"mode:{rep['mode']}")
    ax.set_xticks(turns, [f"{t}\nn={counts.get(t, 0)}" for t in turns])
    ax.set_xlim(turns[0] - 0.5, turns[-1] + 0.5)
    ax.set_xlabel("turn index within the session (n = requests per mode)")
    ax.set_ylabel(f"time to first token ({unit})")
    if spans_decades(all_ttft):
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis, values=all_ttft)
    else:
        ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    # One legend (modes, then what the line styles mean): a second legend added with
    # add_artist falls outside the saved bounding box.
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="black", linestyle="-", marker="o", label="median"),
                Line2D([], [], color="black", linestyle=":", marker="^", label="p90")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              title="mode (colour), statistic")
    ax.set_title(f"TTFT by turn: {' vs '.join(runs.modes)} ({runs.subject()})")
    fig.tight_layout()
    return fig


def plot_ttft_by_turn(reports: Sequence[Report], path: str | Path,
                      names: Sequence[str] | None = None) -> list[Path]:
    return save_figure(ttft_by_turn_figure(reports, names), path)


# --- 4. TTFT against cached fraction -----------------------------------------------------------

def _cached_fraction(record: Mapping[str, Any]) -> float | None:
    prompt, cached = record.get("prompt_tokens"), record.get("cached_tokens")
    if not prompt or cached is None:
        return None
    return cached / prompt


def ttft_vs_cached_fraction_figure(reports: Sequence[Report],
                                   names: Sequence[str] | None = None) -> plt.Figure:
    """One point per request: the share of its prompt served from the cache against its TTFT;
    colour = mode, marker = class (hollow markers for cpu_offload, which often equals
    prefix_reuse point for point)."""
    runs = run_set(reports, names)
    classes = classes_of(runs.reports)
    points = {rep["mode"]: [(f, r["ttft_s"], r["class"]) for r in ok_requests(rep)
                            if (f := _cached_fraction(r)) is not None] for rep in runs.reports}
    if not any(points.values()):
        raise NotApplicable("no request has prompt_tokens and cached_tokens")
    all_ttft = [p[1] for pts in points.values() for p in pts]
    factor, unit = time_unit(all_ttft)
    markers = class_markers(classes)
    same = runs.identical_to()
    fig, ax = plt.subplots(figsize=FIGSIZE)
    for mode, pts in points.items():
        colour = mode_colour(mode)
        filled = MODE_FILLED.get(mode, True)
        for cls in classes:
            mine = [(f * 100, t * factor) for f, t, c in pts if c == cls]
            if not mine:
                continue
            xs, ys = zip(*mine)
            ax.scatter(xs, ys, marker=markers[cls], s=36 if filled else 52, linewidths=1.2,
                       facecolors=colour if filled else "none", edgecolors=colour,
                       alpha=0.75 if filled else 0.95, zorder=3 if filled else 4,
                       gid=f"mode:{mode}")
    if spans_decades(all_ttft):
        ax.set_yscale("log")
        plain_log_axis(ax.yaxis, values=all_ttft)
    ax.set_xlim(-3, 103)
    ax.set_xlabel("share of the prompt served from the prefix cache (%)")
    ax.set_ylabel(f"time to first token ({unit})")
    ax.grid(alpha=0.3)
    mode_handles = [Line2D([], [], linestyle="none", marker="o", markersize=7,
                           markerfacecolor=mode_colour(m) if MODE_FILLED.get(m, True) else "none",
                           markeredgecolor=mode_colour(m),
                           label=_mode_label(m, same, f"{len(points[m])} requests"))
                    for m in points]
    class_handles = [Line2D([], [], linestyle="none", marker=markers[c], markersize=7,
                            markerfacecolor="#BBBBBB", markeredgecolor="black", label=c)
                     for c in classes]
    first = ax.legend(handles=mode_handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                      title="mode (colour)")
    ax.add_artist(first)
    ax.legend(handles=class_handles, loc="upper left", bbox_to_anchor=(1.01, 0.5),
              title="class (marker)")
    ax.set_title(f"TTFT against cached share of the prompt ({runs.subject()})")
    fig.tight_layout()
    return fig


def plot_ttft_vs_cached_fraction(reports: Sequence[Report], path: str | Path,
                                 names: Sequence[str] | None = None) -> list[Path]:
    return save_figure(ttft_vs_cached_fraction_figure(reports, names), path)


# --- 5. KV usage over time ---------------------------------------------------------------------

def kv_capacity(report: Report) -> tuple[int | None, int | None]:
    """(KV capacity in tokens, bytes per token) where the report says: an estimate's
    ``provenance.estimator``; a live run's ``cache_config`` (tokens only: vLLM does not report
    the bytes)."""
    est = report["provenance"].get("estimator") or {}
    if est.get("kv_capacity_tokens"):
        return int(est["kv_capacity_tokens"]), est.get("kv_bytes_per_token")
    config = (report["provenance"].get("server") or {}).get("cache_config") or {}
    try:
        tokens = int(config["num_gpu_blocks"]) * int(config["block_size"])
    except (KeyError, TypeError, ValueError):
        return None, None
    try:  # vLLM 0.32 also reports the KV memory: bytes per token follow
        per_token = round(int(config["kv_cache_memory_bytes"])
                          / int(config["kv_cache_size_tokens"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        per_token = None
    return tokens, per_token or None


def _samples(report: Report, name: str) -> list[Mapping[str, Any]]:
    samples = (report.get("server_metrics") or {}).get("samples")
    if not samples:
        raise ChartInputError(name, "server_metrics/samples", "missing or empty: the KV-usage "
                              "chart needs the gauges sampled during the run")
    return [s for s in samples if s.get("kv_cache_usage") is not None]


def kv_usage_figure(reports: Sequence[Report], names: Sequence[str] | None = None) -> plt.Figure:
    """KV-cache usage (share of the GPU KV capacity) and running / waiting requests over the
    run, per mode, from ``server_metrics.samples``; the legend adds peak and time-weighted mean
    usage (estimates: ``provenance.estimator.kv_usage``)."""
    runs = run_set(reports, names)
    fig, (left, right) = plt.subplots(1, 2, figsize=FIGSIZE, sharex=True)
    same = runs.identical_to()
    for rep, name in zip(runs.reports, runs.names):
        samples = _samples(rep, name)
        mode, colour = rep["mode"], mode_colour(rep["mode"])
        style = MODE_LINESTYLES.get(mode, "-")
        t = [s["t_s"] for s in samples]
        usage = [s["kv_cache_usage"] * 100 for s in samples]
        summary = (rep["provenance"].get("estimator") or {}).get("kv_usage") or {}
        peak = summary.get("peak", max(usage, default=0) / 100)
        detail = f"peak {peak:.2%}"
        if summary.get("time_weighted_mean") is not None:
            detail += f", mean {summary['time_weighted_mean']:.2%}"
        left.step(t, usage, where="post", color=colour, linestyle=style, linewidth=1.6,
                  gid=f"mode:{mode}", label=_mode_label(mode, same, detail))
        for field, line in (("running", style), ("waiting", ":")):
            values = [s.get(field) for s in samples]
            if any(v is not None for v in values):
                right.step(t, [v if v is not None else np.nan for v in values], where="post",
                           color=colour, linestyle=line, linewidth=1.4, gid=f"mode:{mode}")
    capacities = {kv_capacity(r) for r in runs.reports}
    left.set_ylim(bottom=0)
    left.set_ylabel("KV cache in use (% of GPU KV capacity)")
    left.set_xlabel("time since the run started (s)")
    left.grid(alpha=0.3)
    title = "KV-cache usage"
    if len(capacities) == 1:
        tokens, per_token = capacities.pop()
        if tokens:
            # Right axis: the same usage in GiB (bytes per token known) or in tokens.
            scale = tokens * per_token / 2**30 / 100 if per_token else tokens / 100
            left.secondary_yaxis("right", functions=(lambda p: p * scale, lambda v: v / scale)
                                 ).set_ylabel(f"KV in use ({'GiB' if per_token else 'tokens'})")
            title += f" (capacity {tokens:,} tokens"
            title += f" = {tokens * per_token / 2**30:,.1f} GiB)" if per_token else ")"
    left.set_title(title)
    right.set_ylim(bottom=0)
    right.set_ylabel("requests")
    right.set_xlabel("time since the run started (s)")
    right.set_title("Requests running (solid) and waiting (dotted)")
    right.grid(alpha=0.3)
    # One legend for both panels (the right one's title says what solid and dotted mean).
    handles, _ = left.get_legend_handles_labels()
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(f"KV usage over time: {' vs '.join(runs.modes)} ({runs.subject()})")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def plot_kv_usage(reports: Sequence[Report], path: str | Path,
                  names: Sequence[str] | None = None) -> list[Path]:
    return save_figure(kv_usage_figure(reports, names), path)


RUN_CHARTS = {
    "ttft_distribution": ttft_distribution_figure,
    "ttft_by_turn": ttft_by_turn_figure,
    "ttft_vs_cached_fraction": ttft_vs_cached_fraction_figure,
    "kv_usage": kv_usage_figure,
}
__all__ = ["RUN_CHARTS", "kv_capacity", "kv_usage_figure", "plot_kv_usage",
           "plot_ttft_by_turn", "plot_ttft_distribution", "plot_ttft_vs_cached_fraction",
           "ttft_by_turn_figure", "ttft_distribution_figure", "ttft_vs_cached_fraction_figure"]
