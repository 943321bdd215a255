"""Charts the lab draws (matplotlib, PNG and SVG, one consistent colour per class)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI or a GPU host
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from .stats import RequestTokens  # noqa: E402

CLASS_COLOURS = {
    "shared_prompt_chat": "#4C72B0",
    "planner": "#DD8452",
    "subagent": "#55A868",
    "session_continuity": "#8172B3",
}


def save_figure(fig: plt.Figure, path: str | Path) -> list[Path]:
    """Write ``path`` (PNG) and an SVG beside it; return both paths."""
    png = Path(path)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120, bbox_inches="tight", metadata={"Software": None})
    svg = png.with_suffix(".svg")
    # A fixed hashsalt and no date keep the SVG byte-stable between runs.
    plt.rcParams["svg.hashsalt"] = "kv-agent-lab"
    fig.savefig(svg, bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return [png, svg]


def plot_workload_stats(stats: dict[str, Any], rows: Sequence[RequestTokens],
                        path: str | Path) -> list[Path]:
    classes = list(stats["classes"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    data = [[r.prompt_tokens for r in rows if r.cls == cls] for cls in classes]
    boxes = left.boxplot(data, patch_artist=True, widths=0.5,
                         medianprops={"color": "black", "linewidth": 1.5})
    left.set_xticks(range(1, len(classes) + 1), [c.replace("_", "\n") for c in classes])
    for patch, cls in zip(boxes["boxes"], classes):
        patch.set_facecolor(CLASS_COLOURS[cls])
        patch.set_alpha(0.75)
    left.set_ylabel("prompt length (tokens)")
    left.set_title("Prompt length per request, by class")
    left.grid(axis="y", alpha=0.3)

    cached = [stats["classes"][c]["ideal_cached_tokens"] for c in classes]
    computed = [stats["classes"][c]["prompt_tokens"]["total"] - k for c, k in zip(classes, cached)]
    x = range(len(classes))
    right.bar(x, cached, color=[CLASS_COLOURS[c] for c in classes])
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
    right.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, fontsize=8, frameon=False)
    right.grid(axis="y", alpha=0.3)
    overall = stats["overall"]
    fig.suptitle(f"Workload {stats['workload']}: {overall['requests']} requests, "
                 f"{overall['sessions']} sessions, ideal reuse "
                 f"{overall['ideal_prefix_reuse_ratio']:.0%} ({stats['tokenizer']} tokens)")
    fig.tight_layout()
    return save_figure(fig, path)
