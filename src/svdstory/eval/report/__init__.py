"""`svdstory report`: a bench folder read back (data), its statistics (stats), tables, plots and the
document they make (doc), in Markdown and HTML (build)."""

from .build import ReportOptions, build_report

__all__ = ["ReportOptions", "build_report"]
