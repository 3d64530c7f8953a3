"""The web UI's pieces without a browser: controls from option descriptions, the form's components, scene
edits, mask overlays, the zip of a run and a run.json read back (on the tiny model)."""
import json
import zipfile

import numpy as np
import pytest

gr = pytest.importorskip("gradio")

from PIL import Image  # noqa: E402

from svdstory.generate import generate  # noqa: E402
from svdstory.methods.options import describe  # noqa: E402
from svdstory.methods.registry import method_names  # noqa: E402
from svdstory.ui import scenes  # noqa: E402
from svdstory.ui.app import build_app  # noqa: E402
from svdstory.ui.controls import control, kind  # noqa: E402
from svdstory.ui.form import Form, build, overrides, problems  # noqa: E402
from svdstory.ui.gallery import overlay  # noqa: E402
from svdstory.ui.handlers import STORY_FIELDS, Fields, load_run  # noqa: E402
from svdstory.runfile import read_run_file  # noqa: E402
from svdstory.ui.runfiles import form_from_run, write_zip  # noqa: E402
from svdstory.ui.runs import Host, more_scenes, story_columns  # noqa: E402

FORM = Form(subject="a cat", scenes=(("on a beach", None), ("in a city", 9)), method="consistory",
            options={"mask_dropout": 0.25, "sdsa_parts": "up,mid"}, steps=2, guidance=4.0, height=32, width=32,
            seed=2, negative="blurry")


@pytest.fixture(scope="module")
def host(sd_model):
    return Host(sd_model)


@pytest.fixture(scope="module")
def app(host):
    return build_app(host)


@pytest.fixture(scope="module")
def columns(host):
    request = build(FORM)
    return story_columns(host, request, [(request.method, request.overrides), ("vanilla", {})])


@pytest.mark.parametrize("type_,choices,expected", [
    ("bool", None, "checkbox"), ("str", ("a", "b"), "choice"), ("int", None, "int"), ("int | None", None, "text"),
    ("float", None, "float"), ("float | None", None, "text"), ("tuple[str, ...]", None, "text"), ("str", None, "text"),
])
def test_an_options_type_picks_its_control(type_, choices, expected):
    from svdstory.methods.options import Option

    assert kind(Option("x", type_, None, choices, "")) == expected


def test_every_option_of_every_method_gets_a_control_with_its_default_and_meaning(app):
    ids = {block.elem_id: block for block in app.blocks.values() if getattr(block, "elem_id", None)}
    for method in method_names():
        for option in describe(method):
            block = ids[f"option-{method}-{option.name}"]
            assert block.label == option.name and (block.info or "") == option.help
    with gr.Blocks():
        box = control(describe("consistory")[3], "x")  # sdsa_parts, a tuple: comma text as --set takes it
    assert box.value == "up"


@pytest.mark.parametrize("method", method_names())
def test_untouched_controls_set_no_option_and_pass_the_checks(app, host, method):
    ids = {block.elem_id: block for block in app.blocks.values() if getattr(block, "elem_id", None)}
    options = {o.name: ids[f"option-{method}-{o.name}"].value for o in describe(method)}
    options = {name: float(v) if isinstance(v, int) and not isinstance(v, bool) else v for name, v in options.items()}
    form = Form(subject="a cat", scenes=(("on a beach", None),), method=method, options=options, steps=2, height=32,
                width=32)
    assert overrides(form) == {}
    assert problems(form, host.model, host.tokenizers) == {}


def fields_and_values(form):
    with gr.Blocks():
        named = {name: gr.Textbox() for name in STORY_FIELDS}
        options = {(m, o.name): gr.Textbox() for m in ("vanilla", "consistory") for o in describe(m)}
    fields = Fields(named, options)
    return fields, fields.values_of(form)


def test_every_input_has_a_label_to_name_its_errors(app):
    """Gradio names a message at an unlabelled text box "Textbox"."""
    inputs = (gr.Textbox, gr.Number, gr.Dropdown, gr.Checkbox, gr.Dataframe)
    unlabelled = [block.elem_id for block in app.blocks.values() if isinstance(block, inputs) and not block.label]
    assert unlabelled == []


def test_more_scenes_with_no_scene_says_so_in_the_pages_words():
    from svdstory.ui.handlers import NO_STORY, check_more

    assert [mark["is_valid"] for mark in check_more(2, " \n ")] == [True, False, True, True]
    assert check_more(2, " \n ")[1]["message"] == "write at least one scene, one a line"
    assert check_more(0, "at night")[1]["message"] == NO_STORY
    assert all(mark["is_valid"] for mark in check_more(2, "at night"))


def test_the_gallery_is_titled_masks_only_while_they_are_laid_over(columns):
    from svdstory.ui.handlers import galleries

    plain, other = galleries(columns, False)
    assert plain["label"] == "consistory" and other["label"] == "vanilla"
    overlaid, other = galleries(columns, True)
    assert overlaid["label"] == "consistory · masks" and other["label"] == "vanilla"  # vanilla makes no masks


def test_the_form_round_trips_through_its_components():
    fields, values = fields_and_values(FORM)
    assert fields.form(values).options["mask_dropout"] == 0.25
    again = fields.form(values)
    assert build(again) == build(FORM)


def test_validations_mark_the_component_of_each_field():
    fields, values = fields_and_values(FORM)
    marks = fields.validations({"steps": "bad steps", "option:mask_dropout": "bad dropout"}, "consistory")
    bad = [i for i, mark in enumerate(marks) if not mark["is_valid"]]
    keys = list(STORY_FIELDS) + [f"{m}:{name}" for m, name in fields.options]
    assert [keys[i] for i in bad] == ["steps", "consistory:mask_dropout"]


def test_scene_edits():
    table = scenes.add([["in a city", None]], "on a beach\n\n in snow ")
    assert table == [["in a city", None], ["on a beach", None], ["in snow", None]]
    table, at = scenes.move(table, 2, -1)
    assert [r[0] for r in table] == ["in a city", "in snow", "on a beach"] and at == 1
    assert scenes.move(table, 0, -1) == (table, 0)  # the first row stays first
    table, at = scenes.remove(table, 2)
    assert [r[0] for r in table] == ["in a city", "in snow"] and at == 1


def test_an_overlay_tints_the_masked_pixels_only():
    image = Image.new("RGB", (8, 8), (0, 0, 0))
    mask = Image.new("L", (8, 8), 0)
    mask.paste(255, (0, 0, 4, 8))
    out = np.asarray(overlay(image, [mask]))
    assert out[:, :4].any() and not out[:, 4:].any()


def test_the_zip_holds_a_run_folder_per_method(columns, tmp_path):
    with zipfile.ZipFile(write_zip(columns, tmp_path)) as archive:
        names = set(archive.namelist())
        info = json.loads(archive.read("consistory/run.json"))
    assert {"consistory/image_01.png", "consistory/grid.png", "consistory/masks.png", "vanilla/run.json"} <= names
    assert info["seeds"] == [2, 9] and info["config"]["mask_dropout"] == 0.25


def test_a_run_json_reproduces_its_images(host, columns, tmp_path):
    write_zip(columns[:1], tmp_path)
    with zipfile.ZipFile(next(tmp_path.glob("*.zip"))) as archive:
        archive.extract("run.json", tmp_path)
    form = form_from_run(read_run_file(tmp_path / "run.json"))
    fields, values = fields_and_values(form)
    request = build(fields.form(values))
    assert request.story == columns[0].subject.story
    again = generate(host.model, request.story, request.method, request.overrides, request.sampling)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(again.images, columns[0].result.images))


def test_svdstory_rerun_repeats_a_run_downloaded_from_the_page(columns, tmp_path):
    from svdstory.cli import main

    with zipfile.ZipFile(write_zip(columns[:1], tmp_path)) as archive:
        archive.extractall(tmp_path / "run")
    assert main(["rerun", str(tmp_path / "run"), "--out", str(tmp_path / "again")]) == 0
    for i in range(2):
        name = f"image_{i:02d}.png"
        assert np.array_equal(np.asarray(Image.open(tmp_path / "run" / name)),
                              np.asarray(Image.open(tmp_path / "again" / name)))


@pytest.mark.parametrize("content", ["[1, 2", "[1, 2]", '{"method": "svd"}', '{"method": "svd", "story": {}, '
                                     '"sampling": {}, "config": {}}'])
def test_a_broken_run_json_gets_the_clis_one_line_message_in_the_page(host, tmp_path, capsys, content):
    from svdstory.cli import main

    (tmp_path / "run").mkdir()
    path = tmp_path / "run" / "run.json"
    path.write_text(content)
    assert main(["rerun", str(path.parent), "--out", str(tmp_path / "new")]) == 2
    line = capsys.readouterr().err.strip()
    fields, _ = fields_and_values(FORM)
    with pytest.raises(gr.Error) as shown:
        load_run(fields, host, str(path))
    assert "\n" not in line and line == "svdstory: error: " + shown.value.message.replace("'run.json'", repr(str(path)))


@pytest.fixture(scope="module")
def extended(host, columns):
    """The consistory story with two scenes added by More scenes."""
    return more_scenes(host, columns[:1], ["at night", "in a forest"])


def test_the_mask_overlay_covers_the_extra_scenes_too(extended, tmp_path):
    from svdstory.ui.handlers import results

    status, main, _, _, masks = results(extended, True, tmp_path)
    result = extended[0].result
    assert len(main["value"]) == 4 and masks["value"] is True and masks["interactive"] is True
    for i in (2, 3):  # the extras
        assert np.array_equal(np.asarray(main["value"][i][0]), np.asarray(overlay(result.images[i], result.masks[i])))


@pytest.mark.parametrize("failing", ["PIL.Image.Image.save", "shutil.make_archive"])
def test_a_full_disk_shows_the_images_and_says_why_there_is_no_zip(columns, tmp_path, monkeypatch, failing):
    import errno
    import os

    from svdstory.ui.handlers import results

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(failing, no_space)
    status, main, _, download, _ = results(columns[:1], False, tmp_path / "page")
    assert "the zip for download could not be written: No space left on device" in status
    assert len(main["value"]) == 2 and download["interactive"] is False and download["value"] is None
    assert [p for p in (tmp_path / "page").rglob("*") if p.is_file()] == []  # no half-written zip or image


@pytest.mark.parametrize("method", ["consistory", "svd", "storydiffusion", "1p1s"])  # the last two: not as one batch
def test_svdstory_rerun_repeats_a_run_extended_with_more_scenes(host, tmp_path, method):
    from svdstory.cli import main

    request = build(FORM)
    runs = more_scenes(host, story_columns(host, request, [(method, {})]), ["at night", "in a forest"])
    with zipfile.ZipFile(write_zip(runs, tmp_path)) as archive:
        archive.extractall(tmp_path / "run")
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["anchors_first"] is True and info["anchor_batch"] == 2 and info["seeds"] == [2, 9, 10, 11]
    assert main(["rerun", str(tmp_path / "run"), "--out", str(tmp_path / "again")]) == 0
    for i in range(4):
        name = f"image_{i:02d}.png"
        assert np.array_equal(np.asarray(Image.open(tmp_path / "run" / name)),
                              np.asarray(Image.open(tmp_path / "again" / name))), name


@pytest.mark.parametrize("kind", ["sd", "flux", "sd3"])
def test_the_page_lists_the_methods_the_model_runs(runs, unet_only, kind):
    app = build_app(Host(runs.model(kind)))
    ids = {block.elem_id: block for block in app.blocks.values() if getattr(block, "elem_id", None)}
    listed = [value for _, value in ids["method"].choices]
    assert (unet_only in listed) == (kind == "sd")
    assert listed == [value for _, value in ids["compare-with"].choices]
    assert set(listed) >= {"vanilla", "consistory", "shared", "svd", "storydiffusion", "1p1s"}
    assert not any(elem_id.startswith(f"option-{unet_only}-") for elem_id in ids) or kind == "sd"


@pytest.mark.parametrize("kind", ["flux", "sd3"])
def test_on_a_dit_the_controls_show_the_models_defaults_and_set_no_option(runs, kind):
    model = runs.model(kind)
    host = Host(model)
    ids = {block.elem_id: block for block in build_app(host).blocks.values() if getattr(block, "elem_id", None)}
    parts = ",".join(model.backbone.parts)
    for method, name, value in [("svd", "parts", parts), ("svd", "scheduler", "default"),
                                ("consistory", "sdsa_parts", parts), ("consistory", "injection_parts", parts),
                                ("consistory", "dift_block", model.backbone.option_defaults["dift_block"]),
                                ("storydiffusion", "parts", parts)]:
        assert ids[f"option-{method}-{name}"].value == value, (method, name)
    for method in ("svd", "consistory", "storydiffusion"):
        options = {o.name: ids[f"option-{method}-{o.name}"].value for o in describe(method)}
        options = {name: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                   for name, v in options.items()}
        form = Form(subject="a cat", scenes=(("on a beach", None),), method=method, options=options, steps=2,
                    height=32, width=32)
        assert overrides(form, model.backbone.option_defaults) == {}
        assert problems(form, model, host.tokenizers) == {}
