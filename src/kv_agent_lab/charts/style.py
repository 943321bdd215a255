"""What every chart shares: one colour per class, mode and retention policy, the figure size,
time units, and ``save_figure`` (PNG and byte-stable SVG, each written atomically)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI or a GPU host
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

from ..atomic import write_atomic  # noqa: E402

CLASS_COLOURS = {
    "shared_prompt_chat": "#4C72B0",
    "planner": "#DD8452",
    "subagent": "#55A868",
    "session_continuity": "#8172B3",
}
# Modes and policies use hues the classes do not (Paul Tol's "vibrant" set), so a chart that
# colours by mode and marks by class never reads one as the other.
MODE_COLOURS = {
    "baseline": "#595959",      # grey: no cache
    "prefix_reuse": "#CC3311",  # red
    "cpu_offload": "#009988",   # teal
}
# cpu_offload equals prefix_reuse whenever the GPU cache never fills; a dashed line (and
# hollow markers) keeps the one drawn second from hiding the first.
MODE_LINESTYLES = {"baseline": "-", "prefix_reuse": "-", "cpu_offload": "--"}
MODE_FILLED = {"baseline": True, "prefix_reuse": True, "cpu_offload": False}
POLICY_COLOURS = {
    "lru": "#0077BB",     # vLLM's own eviction
    "shared": "#EE7733",
    "prefix": "#EE3377",
    "oracle": "#777777",  # a clairvoyant reference, not a proposal
}
POLICY_LINESTYLES = {"lru": "-", "shared": "-", "prefix": "-", "oracle": "-."}
IDEAL_COLOUR = "#000000"  # the unbounded cache
CLASS_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_SPARE = ("#882255", "#117733", "#AA4499", "#44AA99", "#999933", "#332288")

FIGSIZE = (10, 4.5)  # inches; at 120 dpi a 1200-pixel PNG, readable at 100% zoom
DPI = 120
plt.rcParams.update({"font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10,
                     "legend.fontsize": 9, "xtick.labelsize": 9, "ytick.labelsize": 9,
                     "figure.titlesize": 11.5})


def _colour(table: dict[str, str], name: str) -> str:
    """The table's colour, or a spare one picked by a stable hash of the name (never
    ``hash()``, which changes between runs)."""
    if name in table:
        return table[name]
    return _SPARE[sum(name.encode()) % len(_SPARE)]


def mode_colour(mode: str) -> str:
    return _colour(MODE_COLOURS, mode)


def class_colour(cls: str) -> str:
    return _colour(CLASS_COLOURS, cls)


def policy_colour(policy: str) -> str:
    return _colour(POLICY_COLOURS, policy)


def class_markers(classes: Iterable[str]) -> dict[str, str]:
    return {cls: CLASS_MARKERS[i % len(CLASS_MARKERS)] for i, cls in enumerate(classes)}


def time_unit(values_s: Iterable[float]) -> tuple[float, str]:
    """(factor, unit) to show seconds in: ms when everything is under a second."""
    values = [v for v in values_s if v is not None]
    return (1000.0, "ms") if values and max(values) < 1.0 else (1.0, "s")


def spans_decades(values: Iterable[float], ratio: float = 20.0) -> bool:
    """Whether positive ``values`` spread wide enough that a log axis reads better."""
    positive = [v for v in values if v is not None and v > 0]
    return bool(positive) and max(positive) / min(positive) >= ratio


def _plain(value: float) -> str:
    return f"{value:,.6g}"


def _compact(value: float) -> str:
    """10k, 2.5M: token counts on a log axis stay short."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{suffix}"
    return f"{value:.3g}"


def plain_log_axis(axis: "matplotlib.axis.Axis", compact: bool = False,
                   values: Iterable[float] | None = None) -> None:
    """Log ticks written as plain numbers (0.02, 5, 300; with ``compact``, 20k and 1.5M)
    rather than powers of ten: at 1, 2 and 5 of each decade, or only at the decades when
    ``values`` span more than three of them (so labels never run into each other)."""
    positive = [v for v in values or () if v and v > 0]
    wide = bool(positive) and max(positive) / min(positive) > 1000
    fmt = _compact if compact else _plain
    axis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0,) if wide
                                                        else (1.0, 2.0, 5.0)))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt(v)))
    axis.set_minor_locator(matplotlib.ticker.LogLocator(base=10, subs="auto"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def short_target(target: str) -> str:
    """A target for labels: ``/path/to/model@H100`` becomes ``model@H100``."""
    model, at, gpu = target.rpartition("@")
    if not at:
        return Path(target).name or target
    return f"{Path(model).name or model}@{gpu}"


def save_figure(fig: plt.Figure, path: str | Path) -> list[Path]:
    """Write ``path`` (PNG) and an SVG beside it; return both paths. Each file is rendered in
    memory and renamed into place, so a reader never sees half a chart."""
    png = Path(path)
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight",
                    metadata={"Software": None})
        write_atomic(png, buffer.getvalue())
        # A fixed hashsalt and no date keep the SVG byte-stable between runs.
        plt.rcParams["svg.hashsalt"] = "kv-agent-lab"
        buffer = io.BytesIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight",
                    metadata={"Date": None, "Creator": None})
        svg = png.with_suffix(".svg")
        write_atomic(svg, buffer.getvalue())
    finally:
        plt.close(fig)
    return [png, svg]
