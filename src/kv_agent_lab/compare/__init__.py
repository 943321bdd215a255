"""Comparing runs: two reports of the shared schema against each other (``compare_reports``,
``kvlab compare``), and an estimate against a live run of the same workload and mode
(``estimate_error``, ``kvlab parity``). docs/compare.md explains the method.

Modules: inputs (reading reports, lining up requests), bootstrap (the resampling),
run_level (throughput, KV usage, preemptions), comparison and parity (the two documents),
verdict (sentences), render (markdown), output (schema check, atomic writes), command (CLI).
"""

from .comparison import compare_reports
from .inputs import CompareError, load_report
from .output import output_problems, to_json, write_output
from .parity import estimate_error
from .render import render_markdown, render_parity_markdown

__all__ = ["CompareError", "compare_reports", "estimate_error", "load_report", "output_problems",
           "render_markdown", "render_parity_markdown", "to_json", "write_output"]
