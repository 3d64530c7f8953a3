"""`svdstory report`: a bench folder read back (data), its statistics (stats), the document's sections, and the
document in Markdown and HTML (doc, put together by build). Sections: what identity costs, with Pareto fronts
(tradeoff, drawn by plot, fronts from pareto), how metrics track one another (correlation), subject masks against
failures (masks), best and worst stories (stories), the claims under test (claims). tables: the bench's CSV/JSON."""

from .build import ReportOptions, build_report

__all__ = ["ReportOptions", "build_report"]
