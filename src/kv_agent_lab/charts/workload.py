"""The workload statistics chart (``kvlab stats --chart``): prompt lengths and ideal reuse per
class."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib.ticker
from matplotlib.patches import Patch

from ..stats import RequestTokens
from .style import class_colour, plt, save_figure


def plot_workload_stats(stats: dict[str, Any], rows: Sequence[RequestTokens],
                        path: str | Path) -> list[Path]:
    classes = list(stats["classes"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    data = [[r.prompt_tokens for r in rows if r.cls == cls] for cls in classes]
    boxes = left.boxplot(data, patch_artist=True, widths=0.5,
                         medianprops={"color": "black", "linewidth": 1.5})
    left.set_xticks(range(1, len(classes) + 1), [c.replace("_", "\n") for c in classes])
    for patch, cls in zip(boxes["boxes"], classes):
        patch.set_facecolor(class_colour(cls))
        patch.set_alpha(0.75)
    left.set_ylabel("prompt length (tokens)")
    left.set_title("Prompt length per request, by class")
    left.grid(axis="y", alpha=0.3)

    cached = [stats["classes"][c]["ideal_cached_tokens"] for c in classes]
    computed = [stats["classes"][c]["prompt_tokens"]["total"] - k for c, k in zip(classes, cached)]
    x = range(len(classes))
    right.bar(x, cached, color=[class_colour(c) for c in classes])
    right.bar(x, computed, bottom=cached, color="#BBBBBB")
    for i, cls in enumerate(classes):
        ratio = stats["classes"][cls]["ideal_prefix_reuse_ratio"]
        right.text(i, cached[i] + computed[i], f"{ratio:.0%}", ha="center", va="bottom")
    right.set_xticks(list(x), [c.replace("_", "\n") for c in classes])
    right.set_ylabel("prompt tokens, all requests")
    right.set_ylim(top=max(c + k for c, k in zip(cached, computed)) * 1.12)  # room for labels
    for axis in (left, right):
        axis.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    right.set_title(f"Ideal prefix reuse (unbounded cache, block {stats['block_size']})")
    handles = [Patch(facecolor="white", edgecolor="black", label="reusable from cache (class colour)"),
               Patch(facecolor="#BBBBBB", label="must be computed")]
    right.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=9, frameon=False)
    right.grid(axis="y", alpha=0.3)
    overall = stats["overall"]
    fig.suptitle(f"Workload {stats['workload']}: {overall['requests']} requests, "
                 f"{overall['sessions']} sessions, ideal reuse "
                 f"{overall['ideal_prefix_reuse_ratio']:.0%} ({stats['tokenizer']} tokens)")
    fig.tight_layout()
    return save_figure(fig, path)
