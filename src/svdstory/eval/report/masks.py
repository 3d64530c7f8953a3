"""Does failure follow mask quality? For every method whose bench records hold subject-mask metrics: per family,
the mean localisation of its masks (mask_iou, mask_auroc), the share of them on props (mask_on_props), and the
rank correlation over stories of each localisation metric with the identity metric."""
from __future__ import annotations

from ..metric_info import arrow
from .correlation import correlation_cell, spearman
from .doc import Heading, Table, Text, cell
from .stats import bootstrap_ci

MASK_METRICS = ("mask_iou", "mask_auroc", "mask_on_props")  # docs/metrics.md
LOCALISATION = ("mask_iou", "mask_auroc")  # the ones correlated with identity


def mask_section(data, identity: str | None, n_boot: int, seed: int) -> list:
    present = [m for m in MASK_METRICS if m in data.metrics()]
    methods = [m for m in data.methods if any(data.story_values(m, k) for k in present)]
    if not methods:
        return []
    located = [m for m in LOCALISATION if m in present] if identity else []
    header = ("method", "family", "stories", *[f"{m} {arrow(m)}" for m in present],
              *[f"ρ({m}, {identity})" for m in located])
    families = [("all", None)] + [(c, data.stories_in(c)) for c in data.categories()]
    rows = []
    for method in methods:
        for family, stories in families:
            values = {m: data.story_values(method, m, stories) for m in present}
            identity_values = data.story_values(method, identity, stories) if identity else {}
            n_masked = len(set().union(*values.values()))
            rows.append((method, family, str(n_masked),
                         *[cell(bootstrap_ci(list(values[m].values()), n_boot, seed)) for m in present],
                         *[correlation_cell(spearman(values[m], identity_values)) for m in located]))
    return [Heading("Subject masks and failures"),
            Text("Methods that make subject masks: the mean over stories (95% bootstrap interval) of how well "
                 "their masks cover the evaluator's subject (mask_iou, mask_auroc) and how much of them lies on "
                 "props (mask_on_props), by family; ρ: Spearman's rank correlation over stories of a localisation "
                 f"metric with {identity or 'the identity metric'} (p, stories). Where failure follows mask quality, "
                 "ρ is positive for a higher-is-better identity metric (↑), negative for a lower-is-better one."),
            Table(header, tuple(rows))]
