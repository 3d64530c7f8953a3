"""Progress: run_story reports every sampler step of every pass, ending at the total count_steps gives."""
import pytest

from svdstory import Story
from svdstory.generate import count_steps, run_story

STORY = Story("a cat", ("on a beach", "in a city", "in snow"))
CASES = [
    ("vanilla", {}),
    ("shared", {}),
    ("svd", {}),
    ("storydiffusion", {}),
    ("1p1s", {}),
    ("consistory", {}),  # pre-pass to the DIFT step, main pass from the first injection step
    ("consistory", {"prepass": "full"}),
    ("consistory", {"prepass_steps": 3}),
    ("consistory", {"reuse_prepass": False}),
    ("consistory", {"injection": False}),
]


@pytest.mark.parametrize("anchors_first", [False, True])
@pytest.mark.parametrize("method,options", CASES)
def test_progress_ends_at_the_counted_total(sd_model, runs, method, options, anchors_first):
    sampling = runs.sampling(10)  # ConsiStory's main pass takes over at step 1 of 10 (0 of fewer)
    calls = []
    run_story(sd_model, STORY, method, options, sampling, anchors_first, lambda done, total: calls.append((done, total)))
    total = count_steps(sd_model, STORY, method, options, sampling, anchors_first)
    assert calls == [(i, total) for i in range(total + 1)]  # (0, total) before the first step


def test_multi_pass_and_anchors_first_counts(sd_model, runs):
    sampling = runs.sampling(10)
    assert count_steps(sd_model, STORY, "svd", {}, sampling) == 10
    assert count_steps(sd_model, STORY, "svd", {}, sampling, anchors_first=True) == 20  # 2 anchors, then 1 extra
    # the pre-pass stops after its DIFT step and the main pass takes over at the first injection step (1 of 10)
    assert 10 < count_steps(sd_model, STORY, "consistory", {}, sampling) < 20
    assert count_steps(sd_model, STORY, "consistory", {"prepass": "full", "reuse_prepass": False}, sampling) == 20


@pytest.mark.parametrize("kind", ["flux", "sd3"])
@pytest.mark.parametrize("options", [{}, {"prepass": "full"}])
def test_progress_on_a_dit_ends_at_the_counted_total(runs, kind, options):
    """FLUX's schedule, and with it ConsiStory's DIFT step, depends on the image size."""
    model, sampling, calls = runs.model(kind), runs.sampling(6), []
    run_story(model, STORY, "consistory", options, sampling, False, lambda done, total: calls.append((done, total)))
    total = count_steps(model, STORY, "consistory", options, sampling)
    assert calls == [(i, total) for i in range(total + 1)]
