"""The claims under test: paired comparisons that the user names, method A against method B on the same
stories, each optionally on one family's stories (story category: animal, object) and on chosen metrics.

From `--vs A B` (repeatable) and a claims file, YAML or JSON, a list of:

    - a: svd                         # method labels of the bench
      b: consistory
      family: object                 # optional: only these stories
      metrics: [identity_attr, prompt_alignment]   # optional: default every metric, headline ones first
      claim: svd is more consistent than consistory on objects   # optional: shown above the table
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ...errors import SvdStoryError
from ..metric_info import arrow, higher_is_better, main_metrics
from .doc import Heading, Table, Text, cell, p_cell
from .stats import holm, paired_comparison

KEYS = ("a", "b", "family", "metrics", "claim")


@dataclass(frozen=True)
class Claim:
    a: str
    b: str
    family: str | None = None  # a story category; None: every story
    metrics: tuple[str, ...] = ()  # (): every metric of the bench
    text: str = ""  # the claim in words

    @property
    def title(self) -> str:
        return f"Paired comparison: {self.a} vs {self.b}" + (f", {self.family} stories" if self.family else "")


def claims_from(vs_pairs=(), path: str | Path | None = None) -> tuple[Claim, ...]:
    """--vs pairs first, then the claims file's, in order."""
    return tuple(Claim(a, b) for a, b in vs_pairs) + (load_claims(Path(path)) if path else ())


def load_claims(path: Path) -> tuple[Claim, ...]:
    import yaml

    try:
        items = yaml.safe_load(path.read_text())
    except OSError as err:
        raise SvdStoryError(f"claims file {str(path)!r} cannot be read ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise SvdStoryError(f"claims file {str(path)!r} is not YAML or JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(items, list) or not items:
        raise SvdStoryError(f"claims file {str(path)!r} must hold a non-empty list of claims (a, b, ...)")
    return tuple(_claim(item, f"claims file {str(path)!r}, claim {k}") for k, item in enumerate(items, start=1))


def _claim(item, where: str) -> Claim:
    if not isinstance(item, dict):
        raise SvdStoryError(f"{where}: expected a mapping with keys {', '.join(KEYS)}")
    unknown = sorted(set(map(str, item)) - set(KEYS))
    if unknown:
        raise SvdStoryError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    for key in ("a", "b"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise SvdStoryError(f"{where}: {key!r} must name a method, got {item.get(key)!r}")
    for key in ("family", "claim"):
        if not isinstance(item.get(key) or "", str):
            raise SvdStoryError(f"{where}: {key!r} must be a string, got {item[key]!r}")
    metrics = item.get("metrics") or ()
    metrics = (metrics,) if isinstance(metrics, str) else metrics
    if not isinstance(metrics, list | tuple) or not all(isinstance(m, str) for m in metrics):
        raise SvdStoryError(f"{where}: 'metrics' must be a list of metric names, got {metrics!r}")
    return Claim(item["a"], item["b"], item.get("family") or None, tuple(metrics), item.get("claim") or "")


def check_claims(data, claims) -> None:
    """Unknown methods, families or metrics fail before anything is written."""
    for claim in claims:
        for name in (claim.a, claim.b):
            if name not in data.methods:
                raise SvdStoryError(f"method {name!r} is not in this bench (it has: {', '.join(data.methods)})")
        if claim.family is not None and claim.family not in data.categories():
            raise SvdStoryError(f"family {claim.family!r} of {claim.a} vs {claim.b} is not a story category of this "
                                f"bench (it has: {', '.join(data.categories())})")
        for metric in claim.metrics:
            if metric not in data.metrics():
                raise SvdStoryError(f"metric {metric!r} of {claim.a} vs {claim.b} is not a metric of this bench "
                                    f"(it has: {', '.join(data.metrics())})")


def compare(data, claim: Claim, n_boot: int, seed: int) -> list:
    """One Paired per metric with stories on both sides, over the claim's family only."""
    stories = data.stories_in(claim.family) if claim.family else None
    every = data.metrics()
    metrics = claim.metrics or main_metrics(every) + [m for m in every if m not in main_metrics(every)]
    found = [paired_comparison(data.story_values(claim.a, m, stories), data.story_values(claim.b, m, stories), m,
                               higher_is_better(m), n_boot, seed) for m in metrics]
    return [p for p in found if p.n]


def claims_section(data, claims, n_boot: int, seed: int) -> list:
    if not claims:
        return []
    results = [compare(data, claim, n_boot, seed) for claim in claims]
    # a metric on which every story ties tests nothing: it does not count against the others
    adjusted = iter(holm([p.p_value if p.wins + p.losses else math.nan for rows in results for p in rows]))
    blocks = [Heading("Paired comparisons"),
              Text("Per story (seeds averaged), over the stories both methods finished (of the named family only). "
                   "A win is A better in the metric's direction; the interval is a paired bootstrap of the mean "
                   "difference A - B; p is the two-sided Wilcoxon signed-rank test; p (Holm) is adjusted for every "
                   "row of this section together, rows where every story ties left out.")]
    for claim, rows in zip(claims, results):
        a, b = claim.a, claim.b
        table = tuple((f"{p.metric} {arrow(p.metric)}", str(p.n), str(p.wins), str(p.losses), str(p.ties),
                       cell(p.diff), p_cell(p.p_value), p_cell(next(adjusted))) for p in rows)
        blocks += [Heading(claim.title, 3)] + ([Text(claim.text)] if claim.text else [])
        blocks.append(Table(("metric", "stories", f"{a} wins", f"{b} wins", "ties", f"mean {a} - {b} [95% CI]", "p",
                             "p (Holm)"), table) if table else Text("No story has values of both methods."))
    return blocks
