"""The estimate-vs-live parity chart: for each (estimate, live) pair of one workload and mode,
per class, the estimate's value against the live run's for hit rate, mean and median TTFT and
output throughput, with y = x and a +-10% band. The per-class values are computed here from the
requests (``class_metrics``), so the chart needs nothing but the two reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.lines import Line2D

from .inputs import ChartInputError, Report, check_report, ok_requests, percentile
from .style import (class_colour, plain_log_axis, plt, save_figure, short_target, spans_decades,
                    time_unit)

METRICS = ("hit_rate", "ttft_mean_s", "ttft_p50_s", "output_tokens_per_s")
_TITLES = {"hit_rate": "prefix-cache hit rate (%)", "ttft_mean_s": "mean TTFT",
           "ttft_p50_s": "median TTFT", "output_tokens_per_s": "output throughput (tokens/s)"}
MODE_MARKERS = {"baseline": "o", "prefix_reuse": "s", "cpu_offload": "^"}
BAND = 0.10


def class_metrics(report: Report) -> dict[str, dict[str, float | None]]:
    """class -> the METRICS over its successful requests. ``hit_rate``: cached / prompt tokens
    (None when no request reports cached tokens); TTFTs in seconds; ``output_tokens_per_s``:
    completion tokens over the class's span, first send to last completion (None without
    send times)."""
    out: dict[str, dict[str, float | None]] = {}
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in ok_requests(report):
        groups.setdefault(r["class"], []).append(r)
    for cls, records in sorted(groups.items()):
        with_cache = [r for r in records if r.get("cached_tokens") is not None
                      and r.get("prompt_tokens")]
        prompt = sum(r["prompt_tokens"] for r in with_cache)
        ttft = [r["ttft_s"] for r in records]
        timed = [r for r in records if r.get("send_time_s") is not None
                 and r.get("e2e_s") is not None]
        span = (max(r["send_time_s"] + r["e2e_s"] for r in timed)
                - min(r["send_time_s"] for r in timed)) if timed else 0.0
        completion = sum(r.get("completion_tokens") or 0 for r in timed)
        out[cls] = {
            "hit_rate": sum(r["cached_tokens"] for r in with_cache) / prompt if prompt else None,
            "ttft_mean_s": float(np.mean(ttft)),
            "ttft_p50_s": percentile(ttft, 50),
            "output_tokens_per_s": completion / span if span > 0 and completion else None,
        }
    return out


def _check_pair(estimate: Any, reference: Any, est_name: str, ref_name: str) -> None:
    check_report(estimate, est_name)
    check_report(reference, ref_name)
    for field, a, b in (("workload/sha256", estimate["workload"]["sha256"],
                         reference["workload"]["sha256"]),
                        ("mode", estimate["mode"], reference["mode"])):
        if a != b:
            raise ChartInputError(ref_name, field, f"{b!r} differs from {a!r} in {est_name}: a "
                                  "parity pair is one workload in one mode")
    if (estimate["kind"], estimate["target"]) == (reference["kind"], reference["target"]):
        raise ChartInputError(ref_name, "target", f"{reference['kind']} {reference['target']!r} "
                              f"is also {est_name}'s: a pair compares two different runs")


def _side(reports: Sequence[Report]) -> str:
    """'live local-cpu' for axis labels: the kinds and targets on one side of the pairs."""
    return ", ".join(dict.fromkeys(f"{r['kind']} {short_target(r['target'])}" for r in reports))


def parity_figure(pairs: Sequence[tuple[Report, Report]],
                  names: Sequence[tuple[str, str]] | None = None) -> plt.Figure:
    """``pairs``: (estimate report, live report) of the same workload and mode. One panel per
    metric; one point per (pair, class): colour = class, marker = mode. A point on the line
    means the estimate equals the live value; the grey band is +-10%."""
    if not pairs:
        raise ValueError("no pairs")
    labels = ([tuple(n) for n in names] if names is not None else
              [(f"pair {i + 1} estimate", f"pair {i + 1} live") for i in range(len(pairs))])
    if len(labels) != len(pairs):
        raise ValueError("one (estimate, live) name per pair")
    points: dict[str, list[tuple[float, float, str, str]]] = {m: [] for m in METRICS}
    for (estimate, reference), (est_name, ref_name) in zip(pairs, labels):
        _check_pair(estimate, reference, est_name, ref_name)
        est, ref = class_metrics(estimate), class_metrics(reference)
        common = sorted(set(est) & set(ref))
        if not common:
            raise ChartInputError(ref_name, "requests/*/class", f"no class in common with "
                                  f"{est_name}: nothing to compare")
        for cls in common:
            for metric in METRICS:
                x, y = ref[cls][metric], est[cls][metric]
                if x is not None and y is not None:
                    points[metric].append((x, y, cls, estimate["mode"]))
    fig, axes = plt.subplots(2, 2, figsize=(10, 9))
    for ax, metric in zip(axes.flat, METRICS):
        _parity_panel(ax, metric, points[metric])
    estimates, references = [p[0] for p in pairs], [p[1] for p in pairs]
    for ax in axes[1]:
        ax.set_xlabel("live (measured)")
    for ax in axes[:, 0]:
        ax.set_ylabel("estimate")
    classes = sorted({p[2] for pts in points.values() for p in pts})
    modes = [m for m in MODE_MARKERS if any(p[3] == m for pts in points.values() for p in pts)]
    handles = [Line2D([], [], linestyle="none", marker="o", markersize=8, color=class_colour(c),
                      label=c) for c in classes]
    handles += [Line2D([], [], linestyle="none", marker=MODE_MARKERS[m], markersize=8,
                       markerfacecolor="white", markeredgecolor="black", label=m) for m in modes]
    handles += [Line2D([], [], color="black", linewidth=1, label="y = x"),
                Line2D([], [], color="#BBBBBB", linewidth=8, alpha=0.6,
                       label=f"±{BAND:.0%}")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 7),
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    workloads = ", ".join(dict.fromkeys(p[0]["workload"]["name"] for p in pairs))
    fig.suptitle(f"Estimate vs live per class, workload {workloads}\n"
                 f"y: {_side(estimates)}; x: {_side(references)}")
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _parity_panel(ax: plt.Axes, metric: str, points: list[tuple[float, float, str, str]]) -> None:
    is_time = metric.endswith("_s") and metric != "output_tokens_per_s"
    factor, unit = time_unit([v for p in points for v in p[:2]]) if is_time else (1.0, "")
    if metric == "hit_rate":
        factor = 100.0
    title = _TITLES[metric] + (f" ({unit})" if unit else "")
    if not points:
        ax.text(0.5, 0.5, "no values on both sides", transform=ax.transAxes, ha="center")
        ax.set_title(title)
        return
    xs = [p[0] * factor for p in points]
    ys = [p[1] * factor for p in points]
    values = xs + ys
    log = metric != "hit_rate" and spans_decades(values, 10.0)
    if metric == "hit_rate":
        lo, hi = 0.0, 100.0
    else:
        lo, hi = min(values), max(values)
        lo, hi = (lo / 1.5, hi * 1.5) if log else (0.0, hi * 1.1)
    line = np.geomspace(max(lo, 1e-12), hi, 200) if log else np.linspace(lo, hi, 200)
    ax.fill_between(line, line * (1 - BAND), line * (1 + BAND), color="#BBBBBB", alpha=0.6,
                    linewidth=0)
    ax.plot(line, line, color="black", linewidth=1)
    for (x, y, cls, mode), px, py in zip(points, xs, ys):
        ax.scatter([px], [py], marker=MODE_MARKERS.get(mode, "o"), s=50, color=class_colour(cls),
                   edgecolors="black", linewidths=0.6, zorder=3, gid=f"class:{cls}")
    # In the title, not in a corner of the panel, where it could hide a point.
    within = sum(abs(y - x) <= BAND * abs(x) for x, y, *_ in points)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain_log_axis(ax.xaxis, compact=True, values=(lo, hi))
        plain_log_axis(ax.yaxis, compact=True, values=(lo, hi))
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal", adjustable="box")
    ax.set_title(f"{title}{', log scale' if log else ''}\n"
                 f"{within} of {len(points)} within ±{BAND:.0%}")
    ax.grid(alpha=0.3)


def plot_parity(pairs: Sequence[tuple[Report, Report]], path: str | Path,
                names: Sequence[tuple[str, str]] | None = None) -> list[Path]:
    return save_figure(parity_figure(pairs, names), path)


__all__ = ["METRICS", "class_metrics", "parity_figure", "plot_parity"]
