"""`svdstory report DIR`: methods x metrics with bootstrap intervals over stories, per-category tables,
a prompt-vs-identity scatter, best and worst stories of a method, and an optional paired comparison."""
from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ...errors import SvdStoryError
from ...output import atomic_write_bytes
from ..fingerprint import fingerprint_of
from ..metric_info import arrow, higher_is_better, main_metrics, role_metric
from .plot import Series, axis_for, scatter_image
from .data import BenchData, load_bench
from .doc import Figure, Heading, Strip, Table, Text, to_html, to_markdown
from .stats import Estimate, bootstrap_ci, paired_comparison
from ..synthworld.metrics import background_leakage

FILES = "report_files"


@dataclass(frozen=True)
class ReportOptions:
    vs: tuple[str, str] | None = None  # paired comparison A vs B
    method: str | None = None  # best/worst stories of this method (default: the first)
    rank_by: str | None = None  # metric that ranks them (default: the identity metric)
    prompt_metric: str | None = None
    identity_metric: str | None = None
    top: int = 10
    n_boot: int = 2000
    seed: int = 0  # bootstrap seed: the same folder always gives the same intervals


def build_report(root: Path, out: Path, options: ReportOptions = ReportOptions()) -> list[Path]:
    data = load_bench(root)
    roles = _check_options(data, options)
    (out / FILES).mkdir(parents=True, exist_ok=True)
    for old in (out / FILES).glob("*.png"):  # a previous report's strips would linger unreferenced
        old.unlink()
    blocks = _overview(data) + _metric_tables(data, options)
    blocks += _category_tables(data, options) + _scatter(data, roles, out, options)
    blocks += _best_worst(data, roles, out, options) + _background_leakage(data)
    if options.vs:
        blocks += _paired(data, options)
    md, page = out / "report.md", out / "report.html"
    atomic_write_bytes(md, to_markdown(blocks, out).encode())
    atomic_write_bytes(page, to_html(blocks, f"svdstory bench report: {root.name}").encode())
    return [md, page]


def _check_options(data: BenchData, options: ReportOptions) -> dict:
    for name in [options.method, *(options.vs or ())]:
        if name is not None and name not in data.methods:
            raise SvdStoryError(f"method {name!r} is not in this bench (it has: {', '.join(data.methods)})")
    metrics = data.metrics()
    # Roles prefer metrics every method has: a -fg metric missing for mask-free methods would hide them.
    common = [m for m in metrics if all(data.story_values(method, m) for method in data.methods)]
    for option, name in (("--rank-by", options.rank_by), ("--prompt-metric", options.prompt_metric),
                         ("--identity-metric", options.identity_metric)):
        if name is not None and name not in metrics:
            raise SvdStoryError(f"{option} {name!r} is not a metric of this bench (it has: {', '.join(metrics)})")
    return {role: role_metric(role, metrics, override) if override else
            role_metric(role, common) or role_metric(role, metrics)
            for role, override in (("prompt", options.prompt_metric), ("identity", options.identity_metric))}


def _cell(e: Estimate) -> str:
    return "-" if e.n == 0 else f"{e.mean:.4f} [{e.low:.4f}, {e.high:.4f}]"


def _estimate(data: BenchData, method: str, metric: str, options, stories=None) -> Estimate:
    values = data.story_values(method, metric)
    return bootstrap_ci([v for s, v in values.items() if stories is None or s in stories], options.n_boot, options.seed)


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


def _methods_table(data: BenchData, metrics, options, stories=None) -> Table:
    header = ("method", *[f"{m} {arrow(m)}" for m in metrics])
    rows = tuple((method, *[_cell(_estimate(data, method, m, options, stories)) for m in metrics])
                 for method in data.methods)
    return Table(header, rows)


def _metric_tables(data: BenchData, options) -> list:
    metrics = data.metrics()
    main = main_metrics(metrics)
    blocks = [Heading("Methods x metrics"), _methods_table(data, main, options)]
    rest = [m for m in metrics if m not in main]
    if rest:
        blocks += [Heading("Other metrics", 3), _methods_table(data, rest, options)]
    return blocks


def _category_tables(data: BenchData, options) -> list:
    main = main_metrics(data.metrics())
    blocks = [Heading("By category")]
    for category in data.categories():
        stories = {s for s, item in data.stories.items() if item["category"] == category}
        noun = "story" if len(stories) == 1 else "stories"
        blocks += [Heading(f"{category} ({len(stories)} {noun})", 3), _methods_table(data, main, options, stories)]
    return blocks


def _scatter(data: BenchData, roles: dict, out: Path, options) -> list:
    px, py = roles["prompt"], roles["identity"]
    if px is None or py is None:
        return [Heading("Prompt alignment vs identity"), Text("This bench lacks a prompt or an identity metric.")]
    series = []
    for method in data.methods:
        xs, ys = data.story_values(method, px), data.story_values(method, py)
        points = tuple((xs[s], ys[s]) for s in sorted(set(xs) & set(ys)))
        if not points:
            continue
        ex, ey = (bootstrap_ci([p[k] for p in points], options.n_boot, options.seed) for k in (0, 1))
        series.append(Series(method, points, (ex.mean, ey.mean), (ex.low, ex.high), (ey.low, ey.high)))
    x = axis_for(px, [p[0] for s in series for p in s.points], not higher_is_better(px))
    y = axis_for(py, [p[1] for s in series for p in s.points], not higher_is_better(py))
    path = out / FILES / "scatter.png"
    save_png(path, scatter_image(series, x, y))
    return [Heading("Prompt alignment vs identity"),
            Figure(path, f"{px} (x) against {py} (y): one faint dot per story, method means with 95% intervals")]


def _best_worst(data: BenchData, roles: dict, out: Path, options) -> list:
    method = options.method or data.methods[0]
    metric = options.rank_by or roles["identity"] or (data.metrics() or [None])[0]
    values = data.story_values(method, metric) if metric else {}
    ranked = sorted((s for s, v in values.items() if math.isfinite(v)), key=lambda s: values[s],
                    reverse=higher_is_better(metric or ""))
    if not ranked:
        return [Heading(f"Best and worst stories of {method}"), Text(f"{method} has no values of {metric}.")]
    blocks = [Heading(f"Best and worst stories of {method} by {metric} {arrow(metric)}")]
    n_best = min(options.top, (len(ranked) + 1) // 2)  # with fewer than 2 x top stories, no story is in both
    n_worst = min(options.top, len(ranked) - n_best)
    for kind, chosen in (("best", ranked[:n_best]), ("worst", ranked[::-1][:n_worst])):
        if not chosen:
            continue
        blocks.append(Heading(f"{len(chosen)} {kind}", 3))
        for rank, story in enumerate(chosen, start=1):
            title = f"{kind} {rank}: {story} ({data.stories[story]['category']}), {metric} = {values[story]:.4f}"
            blocks.append(_strip(data, method, story, title, out / FILES / f"{method}-{kind}-{rank:02d}.png"))
    return blocks


def _strip(data: BenchData, method: str, story: str, title: str, path: Path) -> Strip | Text:
    from PIL import Image

    from ...output import image_grid

    record = data.record(method, story)
    images = tuple(data.root / p for p in record["images"])
    if not all(p.is_file() for p in images):  # records copied without their images (e.g. from a GPU machine)
        return Text(f"{title}: images not in this bench folder.")
    thumbs = []
    for p in images:
        with Image.open(p) as img:  # 128 px high, aspect kept
            thumbs.append(img.convert("RGB").resize((max(1, round(128 * img.width / img.height)), 128)))
    save_png(path, image_grid(thumbs))
    return Strip(title, path, images)


def save_png(path: Path, image) -> None:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    atomic_write_bytes(path, buffer.getvalue())


def _paired(data: BenchData, options) -> list:
    a, b = options.vs
    metrics = main_metrics(data.metrics()) + [m for m in data.metrics() if m not in main_metrics(data.metrics())]
    rows = []
    for metric in metrics:
        p = paired_comparison(data.story_values(a, metric), data.story_values(b, metric), metric,
                              higher_is_better(metric), options.n_boot, options.seed)
        if p.n:
            rows.append((f"{metric} {arrow(metric)}", str(p.n), str(p.wins), str(p.losses), str(p.ties),
                         _cell(p.diff), f"{p.p_value:.3g}"))
    return [Heading(f"Paired comparison: {a} vs {b}"),
            Text(f"Per story (seeds averaged), over the stories both methods finished. A win is {a} better "
                 "in the metric's direction; the interval is a paired bootstrap of the mean difference "
                 f"{a} - {b}; p is the two-sided Wilcoxon signed-rank test."),
            Table(("metric", "stories", f"{a} wins", f"{b} wins", "ties", f"mean {a} - {b} [95% CI]", "p"),
                  tuple(rows))]


def _vanilla(data: BenchData) -> str | None:
    """The label of the bench's vanilla method (bench.json names each label's method), if it has one."""
    named = (fingerprint_of(data.info) or {}).get("methods", {})
    labels = [label for label in data.methods if named.get(label, {}).get("name", label) == "vanilla"]
    return labels[0] if labels else None


def _background_leakage(data: BenchData) -> list:
    """World v2 benches: every method's background agreement above vanilla's on the same stories."""
    reference = _vanilla(data)
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
                     _cell(Estimate(leak["background_leakage"], leak["ci_low"], leak["ci_high"], leak["n_stories"]))))
    if not rows:
        return []
    level = f" (chance level {next(iter(chance.values())):.3f})" if chance else ""
    return [Heading(f"Background leakage over {reference}"),
            Text("Background agreement: the share of image pairs of a story whose evaluator calls of the hidden "
                 f"background attributes agree{level}. Leakage: a method's agreement minus {reference}'s on the "
                 "same stories, with a 95% bootstrap interval over stories (docs/metrics.md)."),
            Table(("method", "stories", "agreement", f"{reference} agreement", "leakage [95% CI]"), tuple(rows))]
