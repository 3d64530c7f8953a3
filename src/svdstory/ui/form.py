"""The story editor's values: what they build (a Story, sampling settings, a method's `--set` overrides) and,
for a bad value, which field it belongs to, with the one-line message the CLI prints in the page's words."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import SvdStoryError
from ..generate import count_steps
from ..methods.options import as_text, config_from, describe
from ..methods.registry import get_method
from ..preflight import check_prompt_lengths
from ..reference.anchor import check_takes_reference
from ..reference.photo import DEFAULT_PROMPT, Reference, read_photo
from ..resolve import method_config, resolve_sampling
from ..settings import SamplingConfig
from ..story import Story
from ..subject_words import story_token_positions
from .words import in_page_words

SAMPLING_FIELDS = ("steps", "guidance", "height", "width")


@dataclass(frozen=True)
class Form:
    """What the page holds, as its controls give it (numbers may be None or floats, seeds may be text)."""

    subject: str = ""
    tokens: str = ""  # comma-separated subject words; blank: the subject's head noun
    style: str = ""
    negative: str = ""  # blank: the pipeline's own unconditional prompt
    scenes: tuple = ()  # rows (scene, seed); a blank seed is the base seed + the row's index
    seed: object = 0  # the base seed
    method: str = "svd"
    options: dict = field(default_factory=dict)  # the chosen method's option values by name
    steps: object = None  # None: the model's default
    guidance: object = None
    height: object = None
    width: object = None
    reference: object = None  # the uploaded photo's file path; None: the story from text alone
    reference_prompt: str = ""  # blank: "a photo of SUBJECT"


@dataclass(frozen=True)
class Request:
    """A checked form: everything `generate_anchors` takes."""

    story: Story
    method: str
    overrides: dict  # option name -> text, as `--set name=text`; only options off their default
    sampling: SamplingConfig
    reference: Reference | None = None  # a photo of the subject as the story's anchor


def scene_rows(rows) -> list[tuple[str, object]]:
    """The table's rows as (scene, seed); a row left empty is an empty scene, which the story refuses (as the
    command line refuses --scene ""), rather than a row the page would drop unseen."""
    rows = [list(row) + [None] * (2 - len(row)) for row in rows or ()]
    return [("" if scene is None else str(scene).strip(), seed) for scene, seed, *_ in rows]


def whole(value, name: str) -> int | None:
    """A whole number from a control (None, an int, an integral float or its text); blank is None."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SvdStoryError(f"{name} must be a whole number, got {value!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise SvdStoryError(f"{name} must be a whole number, got {value!r}")
    return int(number)


def base_seed(form: Form) -> int:
    return whole(form.seed, "--seed") or 0


def tokens(form: Form) -> tuple[str, ...]:
    return tuple(word.strip() for word in form.tokens.split(",") if word.strip())


def story(form: Form) -> Story:
    rows = scene_rows(form.scenes)
    seeds = [whole(seed, f"the seed of scene {i + 1}") for i, (_, seed) in enumerate(rows)]
    if all(seed is None for seed in seeds):
        seeds = []  # the base seed + each scene's index, as the CLI's --seed
    base = base_seed(form)
    explicit = tuple(base + i if seed is None else seed for i, seed in enumerate(seeds))
    return Story(form.subject, tuple(scene for scene, _ in rows), tokens(form), form.style, explicit)


def sampling(form: Form) -> SamplingConfig:
    guidance = None if form.guidance in (None, "") else float(form.guidance)
    return SamplingConfig(steps=whole(form.steps, "--steps"), guidance=guidance,
                          height=whole(form.height, "--height"), width=whole(form.width, "--width"),
                          seed=base_seed(form), negative_prompt=form.negative.strip() or None)


def option_text(option, value) -> str:
    """A control's value as `--set` text; an integral number in an int option is written as an int."""
    if isinstance(value, float) and value.is_integer() and option.type.startswith("int"):
        value = int(value)
    return as_text(value)


def overrides(form: Form, defaults: dict | None = None) -> dict[str, str]:
    """The options whose control is off the default (the model's, `defaults`: `Backbone.option_defaults`), as
    `--set` texts ("261" in a float option that defaults to 261.0 is not off it; a text that does not parse is,
    and its check says why)."""
    found = {}
    for option in describe(form.method, defaults):
        if option.name in form.options:
            text = option_text(option, form.options[option.name])
            if text != as_text(option.default) and not _means_default(form.method, option, text):
                found[option.name] = text
    return found


def _means_default(method: str, option, text: str) -> bool:
    try:
        config = get_method(method).config
        return getattr(config_from(config, {option.name: text}), option.name) == option.default
    except SvdStoryError:
        return False


def reference(form: Form) -> Reference | None:
    if not form.reference:
        return None
    return Reference(form.reference, form.reference_prompt.strip() or DEFAULT_PROMPT, name="the reference photo")


def build(form: Form, defaults: dict | None = None) -> Request:
    """The request of a checked form; `defaults`: the model's option defaults (`overrides`)."""
    return Request(story(form), form.method, overrides(form, defaults), sampling(form), reference(form))


def problems(form: Form, model, tokenizers) -> dict[str, str]:
    """Field -> the one-line message of what is wrong with it ("option:NAME" for a method option).

    Each check is the library's own, on the part of the form it reads, so the message is the CLI's, in the page's
    words (ui.words)."""
    found: dict[str, str] = {}

    def attempt(name, check):
        try:
            check()
        except SvdStoryError as err:
            found.setdefault(name, in_page_words(str(err)))

    attempt("subject", lambda: Story(form.subject, ("scene",), tokens(form)))
    attempt("seed", lambda: SamplingConfig(seed=base_seed(form)))
    seed = 0 if "seed" in found else form.seed
    attempt("scenes", lambda: story(Form("a subject", "subject", scenes=form.scenes, seed=seed)))
    negative = form.negative.strip() or None
    attempt("negative", lambda: SamplingConfig(negative_prompt=negative))
    if negative:
        attempt("negative", lambda: check_prompt_lengths(tokenizers, [negative], "negative prompt"))
    for name in SAMPLING_FIELDS:
        attempt(name, lambda: sampling(Form(**{name: getattr(form, name)})))
    if not any(name in found for name in (*SAMPLING_FIELDS, "seed", "negative")):  # each fine alone: together
        attempt("negative", lambda: sampling(form))
    if not any(name in found for name in (*SAMPLING_FIELDS, "seed", "negative")):  # all fine: against the model
        _at_named_field(found, lambda: resolve_sampling(model, sampling(form)))
    defaults = model.backbone.option_defaults
    found.update(_option_problems(form, defaults))
    if not {"subject", "scenes", "seed", "method"} & set(found):
        _prompt_problems(form, tokenizers, attempt)
    if form.reference:
        _photo_problems(form, tokenizers, attempt, found)
    if not found:  # the method's own settings against the model (ConsiStory's prepass_steps)
        _at_named_field(found, lambda: count_steps(model, story(form), form.method, overrides(form, defaults),
                                                     sampling(form)))
    return found


def _at_named_field(found: dict, check) -> None:
    """A check against the model, its message put at the field it names: a sampling field, an option, or else
    the method."""
    try:
        check()
    except SvdStoryError as err:
        message = in_page_words(str(err))
        option = re.match(r"option (\w+)", message)
        field = next((name for name in SAMPLING_FIELDS if message.startswith(name)), None)
        found.setdefault(field or (f"option:{option.group(1)}" if option else "method"), message)


def _prompt_problems(form: Form, tokenizers, attempt) -> None:
    """Every prompt the method encodes fits the text encoder; the subject words are in every prompt."""
    whole_story = story(form)
    attempt("scenes", lambda: check_prompt_lengths(tokenizers, get_method(form.method).prompts(whole_story)))
    words = "tokens" if tokens(form) else "subject"
    # the last encoder's tokens, as preflight reads them
    attempt(words, lambda: story_token_positions(tokenizers[-1], whole_story.prompts, whole_story.tokens))


def _photo_problems(form: Form, tokenizers, attempt, found: dict) -> None:
    """The photo reads, the method takes one, and its prompt names the subject (the photo's size is converted)."""
    attempt("reference", lambda: read_photo(reference(form)))
    attempt("method", lambda: check_takes_reference(get_method(form.method)))
    if {"subject", "tokens"} & set(found):
        return
    prompt = reference(form).prompt_for(form.subject)
    words = tokens(form) or Story(form.subject, ("scene",)).tokens
    attempt("reference_prompt", lambda: check_prompt_lengths(tokenizers, [prompt], "reference prompt", "shorten it"))
    attempt("reference_prompt", lambda: story_token_positions(tokenizers[-1], [prompt], words))


def _option_problems(form: Form, defaults: dict) -> dict[str, str]:
    """Each option alone against the defaults, then all together (a rule that ties two options)."""
    try:
        config = get_method(form.method).config
    except SvdStoryError as err:
        return {"method": in_page_words(str(err))}
    found = {}
    texts = overrides(form, defaults)
    for name, text in texts.items():
        try:
            config_from(config, {name: text})
        except SvdStoryError as err:
            found[f"option:{name}"] = in_page_words(str(err))
    if not found:
        try:
            method_config(form.method, texts)
        except SvdStoryError as err:
            found["method"] = in_page_words(str(err))
    return found
