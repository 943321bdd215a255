"""Charts the lab draws (matplotlib; PNG and a byte-stable SVG beside it, written atomically).

One colour per class (``CLASS_COLOURS``), per mode (``MODE_COLOURS``) and per retention policy
(``POLICY_COLOURS``) in every chart. Each chart is a ``*_figure`` function returning the figure
and a ``plot_*`` function saving it (``save_figure``) and returning the PNG and SVG paths.

Charts and the inputs they take:

- Run reports (``schemas/report.schema.json``) of one workload on one target, one per mode,
  e.g. ``results/estimates/<model>@<gpu>/<workload>/{baseline,prefix_reuse,cpu_offload}.json``
  or ``results/live/<target>/<workload>/<mode>/report.json``:
  ``ttft_distribution`` (ECDF of TTFT per mode, a panel per class), ``ttft_by_turn`` (median
  and p90 per turn index; skipped when every request is turn 1), ``ttft_vs_cached_fraction``
  (a point per request: colour = mode, marker = class), ``kv_usage`` (``server_metrics.samples``:
  KV usage and running / waiting requests over time).
- A capacity sweep (``schemas/sweep.schema.json``, ``results/whatif/<input>/capacity_sweep.json``):
  ``capacity_sweep`` (achieved vs ideal hit rate, and mean TTFT, against KV capacity) and
  ``policy_comparison`` (hit rate per retention policy, and the gain over LRU; needs
  ``--compare-policies``).
- Pairs (estimate report, live report) of one workload and mode: ``parity`` (per class: hit
  rate, mean and median TTFT, output throughput; y = x and a +-10% band).

Command line (``kvlab charts``; any combination in one call; exit 2 and nothing written on bad
input, which is reported as ``FILE: FIELD: message``)::

    kvlab charts --reports results/estimates/M@G/W/*.json --out charts/W/estimate_M@G/
    kvlab charts --sweep results/whatif/W/capacity_sweep.json [--kv-model MODEL] \
        --out charts/W/whatif/
    kvlab charts --parity EST.json LIVE.json [--parity EST2.json LIVE2.json ...] \
        --out charts/parity/

Each chart goes to ``OUT/<chart>.png`` and ``OUT/<chart>.svg``; a chart that says nothing for
the inputs (``NotApplicable``) is skipped with a note on stderr.
"""

from .capacity import (capacity_sweep_figure, plot_capacity_sweep, plot_policy_comparison,
                       policy_comparison_figure)
from .inputs import ChartInputError, NotApplicable, load_report, load_sweep, run_set
from .parity import class_metrics, parity_figure, plot_parity
from .runs import (kv_usage_figure, plot_kv_usage, plot_ttft_by_turn, plot_ttft_distribution,
                   plot_ttft_vs_cached_fraction, ttft_by_turn_figure, ttft_distribution_figure,
                   ttft_vs_cached_fraction_figure)
from .style import CLASS_COLOURS, MODE_COLOURS, POLICY_COLOURS, save_figure
from .workload import plot_workload_stats

__all__ = [
    "CLASS_COLOURS", "MODE_COLOURS", "POLICY_COLOURS", "ChartInputError", "NotApplicable",
    "capacity_sweep_figure", "class_metrics", "kv_usage_figure", "load_report", "load_sweep",
    "parity_figure", "plot_capacity_sweep", "plot_kv_usage", "plot_parity",
    "plot_policy_comparison", "plot_ttft_by_turn", "plot_ttft_distribution",
    "plot_ttft_vs_cached_fraction", "plot_workload_stats", "policy_comparison_figure",
    "run_set", "save_figure", "ttft_by_turn_figure", "ttft_distribution_figure",
    "ttft_vs_cached_fraction_figure",
]
