"""The report's study sections on a hand-made world-v2 bench built in tmp_path: identity gain over vanilla against
background leakage and layout agreement (Pareto fronts), the claims (paired comparisons, one family), metric
agreement (Spearman, known signs), subject masks against failures, best and worst stories with masks tinted."""
import io
import json
import math
import re

import numpy as np
import pytest
from PIL import Image

from svdstory.errors import SvdStoryError
from svdstory.eval.report import ReportOptions, build_report
from svdstory.eval.report.claims import Claim, claims_from, load_claims
from svdstory.eval.report.correlation import spearman
from svdstory.eval.report.pareto import pareto_front
from svdstory.eval.report.stats import holm

ANIMALS, OBJECTS = [f"a{k}" for k in range(6)], [f"o{k}" for k in range(6)]
# label -> (method name, identity_attr base, background_agreement, layout_agreement)
METHODS = {"vanilla": ("vanilla", 0.25, 0.28, 0.33), "consistory": ("consistory", 0.30, 0.30, 0.35),
           "svd": ("svd", 0.60, 0.36, 0.40), "leaky": ("shared", 0.75, 0.80, 0.70), "bad": ("svd", 0.35, 0.60, 0.65)}


def _metrics(label: str, story: str) -> dict:
    k = int(story[1:])
    _, identity, background, layout = METHODS[label]
    identity += 0.02 * k  # story k is a little more consistent with every method
    if label == "svd" and story in OBJECTS:
        identity -= 0.5  # svd loses to consistory on objects only
    metrics = {"identity_attr": identity, "prompt_alignment": 1.0 - 0.01 * k, "clip_i": 0.5 + 0.3 * identity,
               "dreamsim": 1.0 - identity, "background_agreement": background + 0.001 * k,
               "background_agreement_chance": 0.278, "layout_agreement": layout + 0.001 * k}
    if label == "consistory":  # masks that find the subject go with consistent stories
        metrics.update(mask_iou=0.1 + 0.1 * k, mask_auroc=0.4 + 0.05 * k, mask_on_props=0.2)
    return metrics


def make_bench(root):
    """Five methods, six animal and six object stories of three 16x16 images; consistory keeps its masks (the
    left half of each image)."""
    methods = {label: {"name": name, "spec": f"{label}={name}", "config": {}} for label, (name, *_) in METHODS.items()}
    (root / "records").mkdir(parents=True)
    (root / "bench.json").write_text(json.dumps({"fingerprint": {"methods": methods}, "suite_name": "handmade"}))
    for index, story in enumerate(ANIMALS + OBJECTS):
        item = {"id": story, "subject": "a cat", "category": "animal" if story in ANIMALS else "object",
                "scenes": ["in a forest", "on a beach", "in the snow"], "seeds": [1, 2, 3]}
        for label in METHODS:
            unit = root / "images" / label / story
            unit.mkdir(parents=True)
            images, masks = [], []
            for i in range(3):
                Image.new("RGB", (16, 16), (40 * i, 120, 60)).save(unit / f"{i:02d}.png")
                images.append(f"images/{label}/{story}/{i:02d}.png")
                mask = np.zeros((16, 16), np.uint8)
                mask[:, :8] = 255
                Image.fromarray(mask).save(unit / f"{i:02d}_mask0.png")
                masks.append([f"images/{label}/{story}/{i:02d}_mask0.png"])
            record = {"format": 1, "unit": story, "method": label, "story_index": index, "seed_index": 0,
                      "story": item, "prompts": item["scenes"], "seeds": item["seeds"], "images": images,
                      "masks": masks if label == "consistory" else None, "per_image": [{"image": i} for i in range(3)],
                      "metrics": _metrics(label, story), "seconds": 0.1, "worker": 0}
            (root / "records" / label).mkdir(exist_ok=True)
            (root / "records" / label / f"{story}.json").write_text(json.dumps(record))
    return root


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The report of the hand-made bench: its Markdown text and its folder."""
    root = make_bench(tmp_path_factory.mktemp("study") / "bench")
    claims = (Claim("svd", "consistory", "object", ("identity_attr",), "svd wins on objects"),
              Claim("svd", "consistory", metrics=("identity_attr",)))
    md, _ = build_report(root, root, ReportOptions(method="consistory", claims=claims, n_boot=200, top=2))
    return md.read_text(), root


def section(md: str, heading: str) -> str:
    start = md.index(heading)
    end = md.find("\n## ", start + 1)
    return md[start:end if end > 0 else None]


def cells(text: str, first: str, second: str | None = None) -> list[str]:
    for line in text.splitlines():
        parts = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("|") and parts[0] == first and (second is None or parts[1] == second):
            return parts
    raise AssertionError(f"no row {first} {second or ''}")


@pytest.mark.parametrize("points, maximize, front", [
    ([(0, 0), (1, 1), (0.5, 0.5)], (True, True), [1]),
    ([(0, 1), (1, 0), (0.4, 0.4), (0.6, 0.6)], (True, True), [0, 1, 3]),
    ([(0, 1), (1, 0), (0.4, 0.4), (0.6, 0.6)], (False, True), [0]),  # x lower is better
    ([(0.2, 0.3), (0.2, 0.3), (0.1, 0.1)], (True, True), [0, 1]),  # equal points: neither beats the other
    ([(float("nan"), 5.0), (0.0, 0.0)], (True, True), [1]),
])
def test_pareto_front_of_hand_made_points(points, maximize, front):
    assert pareto_front(points, maximize) == front


def test_holm_adjusts_in_order_and_skips_nan():
    assert holm([0.01, 0.04, float("nan"), 0.03]) == pytest.approx([0.03, 0.06, float("nan"), 0.06], nan_ok=True)
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_spearman_of_few_stories_has_a_permutation_p():
    stories = {s: float(k) for k, s in enumerate("abcd")}
    up = spearman(stories, {s: 2 * v for s, v in stories.items()})
    down = spearman(stories, {s: -v for s, v in stories.items()})
    assert (up.n, up.rho, down.rho) == (4, pytest.approx(1.0), pytest.approx(-1.0))
    assert up.p == down.p == pytest.approx(2 / 24)  # 2 of the 4! orderings are as extreme
    assert math.isnan(spearman(stories, {s: 1.0 for s in stories}).rho)  # a constant metric tracks nothing


def test_gain_plots_are_pngs_and_the_table_names_the_front(report):
    md, root = report
    gains = section(md, "## Identity gain over vanilla")
    for cost in ("background_agreement", "layout_agreement"):
        png = Image.open(root / "report_files" / f"gain-{cost}.png")
        assert png.format == "PNG" and png.size[0] >= 900 and png.size[1] >= 400
        assert f"report_files/gain-{cost}.png" in gains
    leaky, svd, bad = (cells(gains, m) for m in ("leaky", "svd", "bad"))
    assert leaky[2].startswith("0.5000 [") and leaky[3].startswith("0.5200 [")  # identity, background, paired
    assert svd[5] == "background_agreement, layout_agreement"  # the highest gain for its leakage
    assert bad[5] == "-"  # less gain and more leakage than svd


def test_no_gain_plots_without_world_v2_metrics(tmp_path):
    root = make_bench(tmp_path / "bench")
    for path in (root / "records").glob("*/*.json"):
        record = json.loads(path.read_text())
        for key in ("background_agreement", "background_agreement_chance", "layout_agreement"):
            del record["metrics"][key]
        path.write_text(json.dumps(record))
    md = build_report(root, root, ReportOptions(n_boot=100, top=1))[0].read_text()
    assert "Identity gain" not in md and "## Prompt alignment vs identity" in md
    assert not list((root / "report_files").glob("gain-*.png"))


def test_a_family_restricted_claim_uses_only_that_familys_stories(report):
    md, _ = report
    claims = section(md, "## Paired comparisons")
    objects = claims[claims.index("### Paired comparison: svd vs consistory, object stories"):]
    assert "svd wins on objects" in objects
    # metric, stories, svd wins, consistory wins, ties, mean diff, p, p (Holm)
    assert cells(objects, "identity_attr ↑")[1:5] == ["6", "0", "6", "0"]
    everything = claims[claims.index("### Paired comparison: svd vs consistory\n"):]
    assert cells(everything, "identity_attr ↑")[1:5] == ["12", "6", "6", "0"]
    p, holm = (float(v) for v in cells(objects, "identity_attr ↑")[6:8])
    assert holm == pytest.approx(min(1.0, 2 * p), rel=0.01)  # two rows in the section; 3 digits shown


def test_metric_agreement_has_the_known_signs(report):
    md, _ = report
    table = section(md, "## Metric agreement over stories")
    header = cells(table, "method")
    clip_i, dreamsim = header.index("clip_i ↑ ~ identity_attr ↑"), header.index("dreamsim ↓ ~ identity_attr ↑")
    for method in ("vanilla", "svd", "pooled"):
        row = cells(table, method)
        assert row[clip_i].startswith("+1.00") and row[dreamsim].startswith("-1.00")
    assert cells(table, "pooled")[clip_i].endswith("n 60)")  # 5 methods x 12 stories


def test_mask_quality_table_correlates_mask_iou_with_identity(report):
    md, _ = report
    masks = section(md, "## Subject masks and failures")
    header = cells(masks, "method")
    row = cells(masks, "consistory", "object")
    assert row[2] == "6" and row[header.index("mask_on_props ↓")].startswith("0.2000")
    assert row[header.index("ρ(mask_iou, identity_attr)")].startswith("+1.00")
    assert "| svd |" not in masks  # only methods with masks


def test_best_and_worst_per_family_tint_the_masks(report):
    md, root = report
    best = section(md, "## Best and worst stories of consistory")
    assert "### animal: 2 best" in best and "### object: 2 worst" in best
    assert "best 1: a5 (animal), identity_attr = 0.4000, mask_iou = 0.60, mask_on_props = 0.20" in best
    tinted = np.asarray(Image.open(root / "report_files" / "consistory-animal-best-01-00.png")).astype(int)
    plain = np.asarray(Image.open(root / "images" / "consistory" / "a5" / "00.png").resize(tinted.shape[1::-1]))
    assert np.abs(tinted[:, 80:] - plain[:, 80:]).max() <= 1  # outside the mask: the image
    assert tinted[:, :40, 0].mean() > plain[:, :40, 0].mean() + 60  # inside: tinted magenta


def test_claims_file_and_its_errors(tmp_path):
    path = tmp_path / "claims.yaml"
    path.write_text("- {a: svd, b: consistory, family: object, metrics: [identity_attr], claim: svd wins}\n"
                    "- {a: leaky, b: vanilla}\n")
    assert load_claims(path) == (Claim("svd", "consistory", "object", ("identity_attr",), "svd wins"),
                                 Claim("leaky", "vanilla"))
    assert claims_from([("a", "b")], path)[0] == Claim("a", "b")
    path.write_text("- {a: svd, b: consistory, famliy: object}\n")
    with pytest.raises(SvdStoryError, match="unknown key 'famliy'"):
        load_claims(path)
    root = make_bench(tmp_path / "bench")
    for claim, message in ((Claim("svd", "nope"), "method 'nope'"),
                           (Claim("svd", "vanilla", "plant"), "family 'plant'"),
                           (Claim("svd", "vanilla", metrics=("clip_z",)), "metric 'clip_z'")):
        with pytest.raises(SvdStoryError, match=message):
            build_report(root, root, ReportOptions(claims=(claim,)))


def test_report_html_embeds_every_figure(report):
    _, root = report
    page = (root / "report.html").read_text()
    sources = re.findall(r'src="data:image/(\w+);base64,([^"]*)"', page)
    pngs = [s for kind, s in sources if kind == "png"]
    assert len(pngs) == 3  # the prompt scatter and the two gain plots
    import base64

    assert all(Image.open(io.BytesIO(base64.b64decode(s))).format == "PNG" for s in pngs)


def test_the_command_line_takes_repeated_vs_and_a_claims_file(tmp_path, capsys):
    from svdstory.cli import main

    root = make_bench(tmp_path / "bench")
    path = tmp_path / "claims.yaml"
    path.write_text("- {a: svd, b: consistory, family: object, metrics: [identity_attr], claim: svd wins on objects}\n")
    assert main(["report", str(root), "--vs", "svd", "vanilla", "--vs", "consistory", "vanilla",
                 "--claims", str(path), "--bootstrap", "100"]) == 0
    claims = section((root / "report.md").read_text(), "## Paired comparisons")
    for heading in ("svd vs vanilla\n", "consistory vs vanilla\n", "svd vs consistory, object stories"):
        assert f"### Paired comparison: {heading}" in claims
    path.write_text("- {a: svd, b: nope}\n")
    assert main(["report", str(root), "--claims", str(path)]) == 2
    assert "method 'nope'" in capsys.readouterr().err
