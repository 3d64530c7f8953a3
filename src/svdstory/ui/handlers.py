"""What the page's buttons do: functions of the page's values that return what its components show."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

import gradio as gr

from ..errors import SvdStoryError
from ..methods.options import describe
from ..resolve import method_config
from ..runfile import read_run_file
from . import gallery, runfiles, scenes
from .controls import shown
from .form import Form, build, problems
from .runs import Host, PageClosed, compare_options, more_scenes, story_columns
from .words import in_page_words

STORY_FIELDS = ("subject", "tokens", "style", "negative", "scenes", "seed", "method", "steps", "guidance", "height",
                "width", "reference", "reference_prompt")


class Fields:
    """The form's components in the order events pass their values, and the Form those values make."""

    def __init__(self, named: dict, options: dict):
        self.named = named  # STORY_FIELDS -> component
        self.options = options  # (method, option name) -> component

    @property
    def components(self) -> list:
        return [self.named[name] for name in STORY_FIELDS] + list(self.options.values())

    def form(self, values) -> Form:
        named = dict(zip(STORY_FIELDS, values))
        chosen = {name: value for (method, name), value in zip(self.options, values[len(STORY_FIELDS):])
                  if method == named["method"]}
        return Form(**{**named, "scenes": tuple(map(tuple, scenes.rows(named["scenes"])))}, options=chosen)

    def validations(self, found: dict[str, str], method: str) -> list:
        """A gr.validate per component: the message of its field, or valid."""
        keys = list(STORY_FIELDS) + [f"option:{name}" if m == method else None for m, name in self.options]
        return [gr.validate(key not in found, found.get(key, "")) for key in keys]

    def values_of(self, form: Form, defaults: dict | None = None) -> list:
        """Component values that show `form`: its method's options (defaults where it names none, the model's
        `defaults` first) included, the other methods' controls left as they are."""
        named = [getattr(form, name) for name in STORY_FIELDS]
        named[STORY_FIELDS.index("scenes")] = [list(row) for row in form.scenes]
        options = {o.name: o for o in describe(form.method, defaults)}
        rest = [shown(options[name], form.options.get(name, options[name].default))
                if m == form.method and name in options else gr.skip() for m, name in self.options]
        return named + rest


def check(host: Host, fields: Fields, values) -> list:
    form = fields.form(values)
    return fields.validations(problems(form, host.model, host.tokenizers), form.method)


NO_STORY = "generate a story first: more scenes reuse its anchors"


def check_more(shown, text, table=None, with_masks=False) -> list:
    """The validations of "More scenes"' inputs [images shown, scenes text, scenes table, masks checkbox]."""
    if not shown:
        message = NO_STORY
    else:
        message = "" if scenes.add([], text) else "write at least one scene, one a line"
    return [gr.validate(True, ""), gr.validate(not message, message), gr.validate(True, ""), gr.validate(True, "")]


def generate(host: Host, fields: Fields, values, compare_with=None, page=None, progress=None) -> list:
    """The story of the form's values under its method (and `compare_with`'s, same seeds): one run each, kept as
    the page's."""
    try:
        request = build(fields.form(values), host.model.backbone.option_defaults)
        methods = [(request.method, request.overrides)]
        if compare_with:
            chosen = method_config(request.method, request.overrides, host.model.backbone)[1]
            methods.append((compare_with, compare_options(chosen, compare_with)))
        return story_columns(host, request, methods, _reporter(progress), page)
    except (SvdStoryError, PageClosed) as err:  # out of memory included: generate.memory_advice, as the CLI's
        raise gr.Error(_message(err), print_exception=False) from None


def more(host: Host, text, page=None, progress=None) -> list:
    """The page's runs with the scenes of `text` (one a line) added against their cached anchors."""
    runs = host.runs(page)
    try:
        if not runs:
            raise SvdStoryError(NO_STORY)
        return more_scenes(host, runs, [row[0] for row in scenes.add([], text)], _reporter(progress), page)
    except (SvdStoryError, PageClosed) as err:
        raise gr.Error(_message(err), print_exception=False) from None


def _message(err: Exception) -> str:
    if isinstance(err, PageClosed):
        return "the page that asked for this run was closed"
    return in_page_words(str(err))


def _reporter(progress):
    if progress is None:
        return None
    return lambda done, total: progress((done, total), desc="sampling", unit="steps")


def galleries(runs, with_masks: bool) -> list:
    """[main gallery, compare gallery]: one run each, the compare gallery hidden without a second column."""
    if not runs:
        return [gr.skip(), gr.update(visible=False)]
    per_row = 4 if len(runs) == 1 else 2
    shown = [gr.update(value=gallery.items(run.result, with_masks), label=_label(run, with_masks), visible=True,
                       columns=per_row) for run in runs]
    return shown if len(shown) > 1 else shown + [gr.update(value=None, visible=False)]


def results(runs, with_masks: bool, folder: Path, seconds: float | None = None) -> list:
    """[status, main gallery, compare gallery, download, masks checkbox] for the page's runs; the zip is
    written to the page's `folder`, replacing its previous one (Gradio serves its own copy of each)."""
    if not runs:
        return ["", *galleries(runs, with_masks), gr.update(value=None, interactive=False),
                gr.update(interactive=False)]
    has_masks = runs[0].result.masks is not None
    shutil.rmtree(folder, ignore_errors=True)
    line = status(runs, seconds)
    try:  # the images show even when their zip cannot be written (a full disk): the status says why
        download = gr.update(value=str(runfiles.write_zip(runs, folder)), interactive=True)
    except SvdStoryError as err:
        line, download = f"{line}\n\n{err}", gr.update(value=None, interactive=False)
    masks = gr.update(interactive=has_masks, value=with_masks and has_masks)
    return [line, *galleries(runs, with_masks), download, masks]


def rows_after_more(table, text: str, runs) -> list[list]:
    """The scenes table with the scenes "More scenes" added, each with the seed it was given."""
    added = [row[0] for row in scenes.add([], text)]
    seeds = runs[0].result.seeds[-len(added):] if added else []
    return scenes.rows(table) + [[scene, seed] for scene, seed in zip(added, seeds)]


def _label(run, with_masks: bool) -> str:
    masks = " · masks" if with_masks and run.result.masks is not None else ""  # as the gallery shows them
    return f"{run.method}{masks}"


def status(runs, seconds: float | None) -> str:
    result, sampling = runs[0].result, runs[0].subject.sampling
    names = " beside ".join(f"**{run.method}**" for run in runs)
    took = "" if seconds is None else f" · {seconds:.1f} s"
    return (f"{names} · {len(result.images)} images, seeds {', '.join(map(str, result.seeds))} · {sampling.steps} "
            f"steps · guidance {sampling.guidance:g} · {sampling.width}×{sampling.height}{took}")


def load_run(fields: Fields, host: Host, path) -> list:
    """The form's values that reproduce a run.json (press Generate to run it)."""
    if not path:
        return [gr.skip()] * len(fields.components)
    try:
        run = read_run_file(path, Path(path).name)
        form = runfiles.form_from_run(run)
        describe(form.method)
    except SvdStoryError as err:
        raise gr.Error(in_page_words(str(err)), print_exception=False) from None
    if run.model not in (None, host.model.source):
        gr.Warning(f"this run was made with {run.model}; the page serves {host.model.source}")
    if run.reference is not None:
        gr.Warning(f"this run was made from a reference photo ({run.reference.photo} in its folder): upload it as "
                   "the reference photo to reproduce it")
    gr.Info(runfiles.loaded_message(run))
    return fields.values_of(form, host.model.backbone.option_defaults)


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start
