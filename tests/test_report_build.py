"""The report over tests/data/bench_small, a hand-made bench folder whose metric values were chosen by hand
(see tests/data/make_bench_small.py): two methods, two animal and two object stories, an extra seed."""
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from svdstory.errors import SvdStoryError
from svdstory.eval.report import ReportOptions, build_report
from svdstory.eval.report.data import load_bench

DATA = Path(__file__).parent / "data" / "bench_small"


@pytest.fixture
def bench(tmp_path):
    root = tmp_path / "bench"
    shutil.copytree(DATA, root)
    return root


def row(markdown: str, first_cell: str, after: str = "") -> list[str]:
    text = markdown[markdown.index(after):] if after else markdown
    line = next(l for l in text.splitlines() if l.startswith(f"| {first_cell} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_story_values_average_seeds(bench):
    data = load_bench(bench)
    assert data.methods == ["alpha", "beta"]
    assert data.story_values("alpha", "clip_i")["cat"] == pytest.approx(0.85)  # seeds 0.90 and 0.80
    assert data.categories() == ["animal", "object"]


def test_report_tables_categories_and_paired_comparison(bench):
    md_path, html_path = build_report(bench, bench, ReportOptions(vs=("alpha", "beta"), n_boot=500, top=2))
    md = md_path.read_text()
    overall = row(md, "alpha", after="## Methods x metrics")
    header = row(md, "method", after="## Methods x metrics")
    clip_i = overall[header.index("clip_i ↑")]
    assert clip_i.startswith("0.8000 [")  # (0.85 + 0.85 + 0.80 + 0.70) / 4
    low, high = map(float, re.findall(r"[\d.]+", clip_i)[1:])
    assert 0.70 <= low < 0.80 < high <= 0.85
    assert row(md, "alpha", after="### animal")[header.index("clip_i ↑")].startswith("0.8500")
    assert row(md, "alpha", after="### object")[header.index("clip_i ↑")].startswith("0.7500")
    paired = md[md.index("## Paired comparison"):]
    # cells: metric, stories, alpha wins, beta wins, ties, mean diff, p
    assert row(paired, "clip_i ↑")[1:5] == ["4", "4", "0", "0"]
    assert row(paired, "dreamsim ↓")[1:5] == ["4", "4", "0", "0"]  # lower is better: alpha wins
    assert row(paired, "clip_t ↑")[1:5] == ["4", "2", "1", "1"]
    assert row(paired, "clip_i ↑")[5].startswith("0.0625")


def test_best_and_worst_use_the_identity_metric_direction(bench):
    md_path, _ = build_report(bench, bench, ReportOptions(method="beta", n_boot=200, top=1))
    md = md_path.read_text()
    # identity metric: dreamsim (lower is better); beta: cat 0.30, dog 0.35, bus 0.35, mug 0.50
    assert "by dreamsim ↓" in md
    assert "best 1: cat (animal)" in md and "worst 1: mug (object)" in md  # ranked within each family
    strip = Image.open(bench / "report_files" / "beta-animal-best-01.png")
    assert strip.size == (3 * 128, 128)


def test_html_is_self_contained_and_scatter_is_drawn(bench):
    _, html_path = build_report(bench, bench, ReportOptions(n_boot=200, top=2))
    page = html_path.read_text()
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/") for s in sources)
    assert len(sources) == 1 + 2 * 2 * 3  # the scatter, then 2 best and 2 worst stories of 3 images
    scatter = Image.open(bench / "report_files" / "scatter.png")
    colours = {c for _, c in scatter.convert("RGB").getcolors(1 << 20)}
    assert (31, 119, 180) in colours and (255, 127, 14) in colours  # one colour per method


def test_report_refuses_unknown_methods_and_metrics(bench):
    with pytest.raises(SvdStoryError, match="method 'gamma'"):
        build_report(bench, bench, ReportOptions(vs=("alpha", "gamma")))
    with pytest.raises(SvdStoryError, match="--rank-by 'nope'"):
        build_report(bench, bench, ReportOptions(rank_by="nope"))


def test_report_command(bench, tmp_path, capsys):
    from svdstory.cli import main

    out = tmp_path / "rep"
    assert main(["report", str(bench), "--vs", "beta", "alpha", "--out", str(out), "--bootstrap", "200"]) == 0
    assert (out / "report.md").is_file() and (out / "report.html").is_file()
    assert main(["report", str(tmp_path / "nothing")]) == 2
    assert "not a bench folder" in capsys.readouterr().err


def test_records_without_their_images_still_report(bench):
    """A folder of records copied back without the images (e.g. from a GPU machine) says so per story."""
    shutil.rmtree(bench / "images")
    md_path, html_path = build_report(bench, bench, ReportOptions(method="beta", n_boot=200, top=1))
    md = md_path.read_text()
    assert "best 1: cat (animal), dreamsim = 0.3000: images not in this bench folder." in md
    assert not (bench / "report_files" / "beta-animal-best-01.png").exists() and html_path.is_file()


def test_wide_tables_scroll_inside_their_box(bench):
    _, html_path = build_report(bench, bench, ReportOptions(n_boot=200, top=1))
    page = html_path.read_text()
    assert page.count("<table>") == page.count('<div class="wide"><table>') > 0
    assert re.search(r"\.wide\{[^}]*overflow-x:auto", page)


@pytest.mark.parametrize("top", [3, 10])
def test_best_and_worst_do_not_repeat_stories_when_there_are_few(bench, top):
    md_path, _ = build_report(bench, bench, ReportOptions(method="beta", n_boot=200, top=top))
    md = md_path.read_text()
    best = set(re.findall(r"\*\*best \d+: (\w+) \(", md))
    worst = set(re.findall(r"\*\*worst \d+: (\w+) \(", md))
    assert all(f"### {family}: 1 {kind}" in md for family in ("animal", "object") for kind in ("best", "worst"))
    assert not best & worst and best | worst == {"bus", "cat", "dog", "mug"}  # the bench's 4 stories, each once
    assert best == {"cat", "bus"} and worst == {"dog", "mug"}  # 2 stories a family: 1 best, 1 worst


def test_background_leakage_section_when_the_bench_has_background_agreement(bench):
    import json

    # alpha is the bench's vanilla; beta copies backgrounds: its stories agree more
    agreement = {"alpha": {"cat": 0.3, "dog": 0.2, "bus": 0.3, "mug": 0.25},
                 "beta": {"cat": 0.8, "dog": 0.7, "bus": 0.9, "mug": 0.75}}
    for path in (bench / "records").glob("*/*.json"):
        record = json.loads(path.read_text())
        record["metrics"]["background_agreement"] = agreement[record["method"]][record["story"]["id"]]
        record["metrics"]["background_agreement_chance"] = 0.278
        path.write_text(json.dumps(record))
    md = build_report(bench, bench, ReportOptions(n_boot=200, top=2))[0].read_text()
    section = md[md.index("## Background leakage over alpha"):]
    cells = row(section, "beta")
    assert cells[1:4] == ["4", "0.7875", "0.2625"] and cells[4].startswith("0.5250 [")
    assert "chance level 0.278" in section


def test_no_background_leakage_section_without_background_agreement(bench):
    md = build_report(bench, bench, ReportOptions(n_boot=200, top=2))[0].read_text()
    assert "Background leakage" not in md
