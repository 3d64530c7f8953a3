"""The web UI's runs on a tiny model: progress over every step, compare, more scenes on cached anchors, stops."""
import dataclasses

import pytest

pytest.importorskip("gradio")

from svdstory.generate import count_steps# noqa: E402
from svdstory.resolve import method_config# noqa: E402
from svdstory.ui.form import Form, build  # noqa: E402
from svdstory.ui.runs import Host, PageClosed, compare_options, more_scenes, story_columns  # noqa: E402


@pytest.fixture(scope="module")
def host(sd_model):
    return Host(sd_model)


FORM = Form(subject="a cat", scenes=(("on a beach", None), ("in a city", None), ("in snow", None)), steps=2,
            guidance=5.0, height=32, width=32, seed=3)


def request(method="svd", **options):
    return build(dataclasses.replace(FORM, method=method, options=options))


@pytest.fixture(scope="module")
def consistory(host):
    calls = []
    columns = story_columns(host, request("consistory"), [("consistory", {})], lambda *c: calls.append(c))
    return columns, calls


def test_progress_runs_to_the_total_over_every_pass(host, consistory):
    columns, calls = consistory
    req = request("consistory")
    total = count_steps(host.model, req.story, "consistory", {}, req.sampling)
    assert total > req.sampling.steps  # the pre-pass and the main pass
    assert calls == [(i, total) for i in range(total + 1)]
    assert len(columns) == 1 and len(columns[0].result.images) == 3 and columns[0].result.masks is not None


def test_more_scenes_reuse_the_anchors_and_continue_the_seeds(host, consistory):
    columns, _ = consistory
    calls = []
    more = more_scenes(host, columns, ["at night", "in a forest"], lambda *c: calls.append(c))
    result = more[0].result
    assert result.images[:3] == columns[0].result.images and len(result.images) == 5
    assert result.seeds == [3, 4, 5, 6, 7]
    assert list(result.info["story"]["scenes"][-2:]) == ["at night", "in a forest"] and len(result.masks) == 5
    one_extra = count_steps(host.model, request().story.with_scenes(["at night"]), "consistory", {},
                            request().sampling)
    assert calls[-1] == (2 * one_extra, 2 * one_extra)  # the extras alone: no anchor is generated again
    assert more[0].subject is columns[0].subject


def test_compare_runs_both_methods_on_the_same_seeds_and_sampler(host):
    req = request("svd")
    other = compare_options(method_config("svd")[1], "vanilla")
    assert other == {"scheduler": "ddim"}
    columns = story_columns(host, req, [("svd", {}), ("vanilla", other)])
    assert [c.method for c in columns] == ["svd", "vanilla"]
    assert columns[0].result.seeds == columns[1].result.seeds == [3, 4, 5]
    assert columns[1].subject.config.scheduler == "ddim"


def test_a_closed_page_stops_its_run_and_frees_the_model(host):
    host.close_page("gone")
    with pytest.raises(PageClosed):
        story_columns(host, request(), [("svd", {})], page="gone")
    assert not host.lock.locked()
    assert len(story_columns(host, request(), [("vanilla", {})], page="open")[0].result.images) == 3


def test_a_page_that_closes_releases_its_runs_and_their_anchor_caches(host):
    import gc
    import weakref

    import gradio as gr

    from svdstory.ui.app import build_app

    runs = story_columns(host, request(), [("svd", {})], page="leaving")
    assert host.runs("leaving") == runs and host.runs("staying") == []
    subject = weakref.ref(runs[0].subject)  # holds the anchor cache
    del runs
    (closed,) = [fn.fn for fn in build_app(host).fns.values() if fn.name == "closed"]  # the page's unload
    closed(gr.Request(session_hash="leaving"))
    gc.collect()
    assert host.runs("leaving") == [] and subject() is None
    host.keep("leaving", story_columns(host, request(), [("vanilla", {})]))  # a run that ended as its page closed
    assert host.runs("leaving") == []


def test_out_of_memory_gives_the_command_lines_advice_on_the_page(host, monkeypatch):
    import gradio as gr
    import torch

    from svdstory.errors import SvdStoryError
    from svdstory.generate import run_story
    from svdstory.ui import handlers
    from svdstory.ui.words import in_page_words

    def full(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    req = request()
    runs = story_columns(host, req, [("svd", {})], page="more")
    monkeypatch.setattr(host.model.pipe.unet, "forward", full)
    with pytest.raises(SvdStoryError) as cli:
        run_story(host.model, req.story, "svd", {}, req.sampling)
    fields = handlers.Fields({name: None for name in handlers.STORY_FIELDS}, {})
    values = [getattr(FORM, name) for name in handlers.STORY_FIELDS]
    with pytest.raises(gr.Error) as page:
        handlers.generate(host, fields, values)
    assert str(cli.value).startswith("out of GPU memory with 3 images") and "--set cache_device=cpu" in str(cli.value)
    assert page.value.message == in_page_words(str(cli.value)) and "--" not in page.value.message
    assert "More scenes" in page.value.message and "cache_device to cpu" in page.value.message
    with pytest.raises(SvdStoryError) as one:
        run_story(host.model, req.story.with_scenes(["at night"]), "svd", {}, req.sampling)
    with pytest.raises(gr.Error) as extra:  # an extra scene is a batch of one beside the cached anchors
        handlers.more(host, "at night", page="more")
    assert extra.value.message == in_page_words(str(one.value)) and "with 1 image in" in str(one.value)
    assert host.runs("more") == runs  # what the page shows stays


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_the_page_compares_methods_on_a_dit_with_its_own_sampler(runs, kind):
    """On a DiT the chosen method's sampler is the checkpoint's own (DDIM is not offered), so is the compared one's."""
    from svdstory.ui.handlers import generate

    host = Host(runs.model(kind))
    fields = type("Fields", (), {"form": staticmethod(lambda values: values)})()
    columns = generate(host, fields, dataclasses.replace(FORM, method="consistory"), compare_with="vanilla")
    assert [c.method for c in columns] == ["consistory", "vanilla"]
    assert [c.subject.config.scheduler for c in columns] == ["default", "default"]
    assert columns[0].result.seeds == columns[1].result.seeds and columns[0].result.masks is not None
