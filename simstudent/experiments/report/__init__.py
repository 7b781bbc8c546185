"""The report: tables (paper Tab. 1-3 + closed loop), figures (Fig. 2-4), HTML and
Markdown, all from runs' ``metrics.json``."""

from __future__ import annotations

from simstudent.experiments.report.html import Report, build_report, report_command

__all__ = ["Report", "build_report", "report_command"]
