"""`svdstory report DIR`: methods x metrics with bootstrap intervals over stories, per-category tables, what
identity costs (plots with Pareto fronts), background leakage, how proxy metrics track exact ones, subject masks
against failures, the best and worst stories of a method per family, and the paired comparisons the user names.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ...errors import SvdStoryError
from ...output import atomic_write_bytes
from ..fingerprint import fingerprint_of
from ..metric_info import arrow, main_metrics, role_metric
from ..synthworld.metrics import background_leakage
from .claims import Claim, check_claims, claims_section
from .correlation import agreement_section, default_pairs
from .data import BenchData, load_bench
from .doc import FILES, Heading, Table, Text, cell, to_html, to_markdown
from .masks import mask_section
from .stats import Estimate, bootstrap_ci
from .stories import best_worst_section
from .tradeoff import gain_sections, prompt_scatter_section


@dataclass(frozen=True)
class ReportOptions:
    vs: tuple[str, str] | None = None  # a paired comparison A vs B (shown before `claims`)
    claims: tuple[Claim, ...] = ()  # paired comparisons, each optionally on one family and some metrics
    correlations: tuple[tuple[str, str], ...] = ()  # metric pairs correlated over stories (default: proxies vs exact)
    method: str | None = None  # best/worst stories of this method (default: the first)
    rank_by: str | None = None  # metric that ranks them (default: the identity metric)
    prompt_metric: str | None = None
    identity_metric: str | None = None
    top: int = 10  # best and worst stories per family
    n_boot: int = 2000
    seed: int = 0  # bootstrap seed: the same folder always gives the same intervals

    @property
    def all_claims(self) -> tuple[Claim, ...]:
        return ((Claim(*self.vs),) if self.vs else ()) + tuple(self.claims)


def build_report(root: Path, out: Path, options: ReportOptions = ReportOptions()) -> list[Path]:
    data = load_bench(root)
    roles = _check_options(data, options)
    (out / FILES).mkdir(parents=True, exist_ok=True)
    for old in (out / FILES).glob("*.png"):  # a previous report's strips would linger unreferenced
        old.unlink()
    boot = (options.n_boot, options.seed)
    identity = roles["identity"]
    blocks = _overview(data) + _metric_tables(data, boot) + _category_tables(data, boot)
    blocks += prompt_scatter_section(data, roles, out, *boot) + gain_sections(data, identity, out, *boot)
    blocks += _background_leakage(data)
    blocks += agreement_section(data, options.correlations or default_pairs(data.metrics()))
    blocks += mask_section(data, identity, *boot)
    blocks += best_worst_section(data, options.method or data.methods[0],
                                 options.rank_by or identity or (data.metrics() or [None])[0], out, options.top)
    blocks += claims_section(data, options.all_claims, *boot)
    md, page = out / "report.md", out / "report.html"
    atomic_write_bytes(md, to_markdown(blocks, out).encode())
    atomic_write_bytes(page, to_html(blocks, f"svdstory bench report: {root.name}").encode())
    return [md, page]


def _check_options(data: BenchData, options: ReportOptions) -> dict:
    if options.method is not None and options.method not in data.methods:
        raise SvdStoryError(f"method {options.method!r} is not in this bench (it has: {', '.join(data.methods)})")
    check_claims(data, options.all_claims)
    metrics = data.metrics()
    # Roles prefer metrics every method has: a -fg metric missing for mask-free methods would hide them.
    common = [m for m in metrics if all(data.story_values(method, m) for method in data.methods)]
    named = [("--rank-by", options.rank_by), ("--prompt-metric", options.prompt_metric),
             ("--identity-metric", options.identity_metric)]
    named += [("correlation", m) for pair in options.correlations for m in pair]
    for option, name in named:
        if name is not None and name not in metrics:
            raise SvdStoryError(f"{option} {name!r} is not a metric of this bench (it has: {', '.join(metrics)})")
    return {role: role_metric(role, metrics, override) if override else
            role_metric(role, common) or role_metric(role, metrics)
            for role, override in (("prompt", options.prompt_metric), ("identity", options.identity_metric))}


def _overview(data: BenchData) -> list:
    fingerprint = fingerprint_of(data.info) or {}
    suite = fingerprint.get("suite", {})
    line = (f"Suite {data.info.get('suite_name', '?')} ({len(data.stories)} stories here, "
            f"digest {suite.get('digest', '?')}), model {fingerprint.get('model', '?')}, "
            f"dtype {fingerprint.get('dtype', '?')}, sampling {json.dumps(fingerprint.get('sampling', {}))}, "
            f"{len(data.records)} finished units.")
    specs = fingerprint.get("methods", {})
    rows = tuple((m, specs.get(m, {}).get("spec", "?"), str(len(data.values.get(m, {})))) for m in data.methods)
    return [Heading("svdstory bench report", 1), Text(line),
            Text("Means over stories (seeds averaged first) with 95% bootstrap intervals over stories; "
                 "↑ higher is better, ↓ lower is better."),
            Table(("method", "spec", "stories"), rows)]


def _methods_table(data: BenchData, metrics, boot, stories=None) -> Table:
    header = ("method", *[f"{m} {arrow(m)}" for m in metrics])
    rows = tuple((method, *[cell(bootstrap_ci(list(data.story_values(method, m, stories).values()), *boot))
                            for m in metrics]) for method in data.methods)
    return Table(header, rows)


def _metric_tables(data: BenchData, boot) -> list:
    metrics = data.metrics()
    main = main_metrics(metrics)
    blocks = [Heading("Methods x metrics"), _methods_table(data, main, boot)]
    rest = [m for m in metrics if m not in main]
    if rest:
        blocks += [Heading("Other metrics", 3), _methods_table(data, rest, boot)]
    return blocks


def _category_tables(data: BenchData, boot) -> list:
    main = main_metrics(data.metrics())
    blocks = [Heading("By category")]
    for category in data.categories():
        stories = data.stories_in(category)
        noun = "story" if len(stories) == 1 else "stories"
        blocks += [Heading(f"{category} ({len(stories)} {noun})", 3), _methods_table(data, main, boot, stories)]
    return blocks


def _background_leakage(data: BenchData) -> list:
    """World v2 benches: every method's background agreement above vanilla's on the same stories."""
    reference = data.vanilla()
    if reference is None or "background_agreement" not in data.metrics():
        return []
    base = data.story_values(reference, "background_agreement")
    chance = data.story_values(reference, "background_agreement_chance")
    rows = []
    for method in data.methods:
        values = data.story_values(method, "background_agreement")
        if method == reference or not set(values) & set(base):
            continue
        leak = background_leakage(values, base)
        rows.append((method, str(leak["n_stories"]), f"{leak['method']:.4f}", f"{leak['vanilla']:.4f}",
                     cell(Estimate(leak["background_leakage"], leak["ci_low"], leak["ci_high"], leak["n_stories"]))))
    if not rows:
        return []
    level = f" (chance level {next(iter(chance.values())):.3f})" if chance else ""
    return [Heading(f"Background leakage over {reference}"),
            Text("Background agreement: the share of image pairs of a story whose evaluator calls of the hidden "
                 f"background attributes agree{level}. Leakage: a method's agreement minus {reference}'s on the "
                 "same stories, with a 95% bootstrap interval over stories (docs/metrics.md)."),
            Table(("method", "stories", "agreement", f"{reference} agreement", "leakage [95% CI]"), tuple(rows))]
