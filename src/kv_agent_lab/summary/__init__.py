"""The study summary (``results/summary.json``) and the report a platform team reads
(``results/report.md``), gathered from the pipeline's outputs."""

from .build import SummaryInputError, build_summary
from .markdown import render_report

__all__ = ["SummaryInputError", "build_summary", "render_report"]
