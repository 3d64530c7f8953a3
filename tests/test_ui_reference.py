"""The web UI with a reference photo: the form checks it at its field, Generate makes the story against it (a
compared method that cannot take a photo runs from text), More scenes go on against it, the zip holds it."""
import dataclasses
import zipfile

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio")

from svdstory.ui.form import Form, build, problems  # noqa: E402
from svdstory.ui.runfiles import write_zip  # noqa: E402
from svdstory.ui.runs import Host, more_scenes, story_columns  # noqa: E402
from svdstory.world import sample  # noqa: E402


@pytest.fixture(scope="module")
def photo(tmp_path_factory):
    path = tmp_path_factory.mktemp("ui-photo") / "cat.png"
    Image.fromarray(sample(3, subject="cat", scene="beach", size=64).image).save(path)
    return str(path)


def form(photo, **changes) -> Form:
    base = dict(subject="a cat", scenes=(("in a forest", None), ("in the snow", None)), method="shared", steps=2,
                guidance=5.0, height=32, width=32, reference=photo)
    return Form(**{**base, **changes})


def test_a_form_with_a_photo_builds_a_request_that_names_it(sd_model, photo):
    assert problems(form(photo), sd_model, [sd_model.pipe.tokenizer]) == {}
    request = build(form(photo, reference_prompt="a picture of SUBJECT"))
    assert request.reference.photo == photo and request.reference.prompt == "a picture of SUBJECT"
    assert build(form(None)).reference is None


@pytest.mark.parametrize("changes,field,words", [
    (dict(method="1p1s"), "method", "method '1p1s' cannot take a reference photo"),
    (dict(reference_prompt="a photo of a dog"), "reference_prompt", "not found in prompt 'a photo of a dog'"),
    (dict(reference="BAD"), "reference", "cannot be read as an image"),
])
def test_a_photo_that_cannot_act_is_reported_at_its_field(sd_model, photo, tmp_path, changes, field, words):
    if changes.get("reference") == "BAD":
        (tmp_path / "bad.png").write_bytes(b"not an image")
        changes = dict(reference=str(tmp_path / "bad.png"))
    found = problems(form(photo, **changes), sd_model, [sd_model.pipe.tokenizer])
    assert list(found) == [field] and words in found[field] and "--" not in found[field]


def test_generate_compare_and_more_scenes_against_the_photo(sd_model, photo, tmp_path):
    host = Host(sd_model)
    request = build(form(photo))
    columns = story_columns(host, request, [("shared", {}), ("vanilla", {"scheduler": "ddim"})])
    shared, vanilla = columns
    assert shared.result.photo is not None and vanilla.result.photo is None  # vanilla: the text alone
    text = story_columns(host, dataclasses.replace(request, reference=None), [("shared", {})])[0]
    assert not np.array_equal(np.asarray(shared.result.images[0]), np.asarray(text.result.images[0]))
    more = more_scenes(host, [shared], ["at night"])[0]
    assert len(more.result.images) == 3 and more.result.photo is shared.result.photo
    archive = write_zip([more], tmp_path / "zip")
    assert "reference.png" in zipfile.ZipFile(archive).namelist()
