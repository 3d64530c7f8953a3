"""The page: a story editor and method panel on the left, the results on the right, wired to `handlers`."""
from __future__ import annotations

import shutil
import tempfile
import weakref
from pathlib import Path

import gradio as gr

from ..methods.options import backbones, describe, summary
from ..methods.registry import method_names
from ..models import local_path
from ..resolve import resolve_sampling
from ..settings import SamplingConfig
from . import handlers, scenes
from .controls import control
from .examples import EXAMPLES
from .handlers import Fields
from .runs import Host

DEFAULT_METHOD = "svd"
MODEL_EVENT = dict(concurrency_id="model", concurrency_limit=1)  # one generation at a time; the rest queue
CSS = """
.gradio-container {max-width: 1400px !important}
#status {min-height: 1.6em}
#gallery .grid-wrap, #gallery-compare .grid-wrap {min-height: 200px}
"""


def build_app(host: Host) -> gr.Blocks:
    files = Path(tempfile.mkdtemp(prefix="svdstory-ui-"))  # each open page's last zip, for its download button
    # No telemetry or version check: the page must work offline, and calls nowhere but its own server.
    with gr.Blocks(title="svdstory", delete_cache=(3600, 3600), analytics_enabled=False) as demo:
        gr.Markdown(_header(host.model))
        shown = gr.State(0)  # images the page shows; their runs (and anchor caches) live on the Host
        with gr.Row(equal_height=False):
            with gr.Column(scale=5, min_width=440):
                fields, compare_with, buttons = _editor(host)
            with gr.Column(scale=6, elem_id="results"):
                out = _results()
        _wire(demo, host, fields, compare_with, buttons, out, shown, files)
    weakref.finalize(demo, shutil.rmtree, files, True)
    return demo


def _editor(host: Host):
    story = _story_fields()
    gr.Examples([[e.subject, e.tokens, e.style, [[s, None] for s in e.scenes]] for e in EXAMPLES],
                list(story.values()), example_labels=[e.name for e in EXAMPLES], label="Example stories")
    with gr.Group():
        with gr.Row():
            story["subject"].render()
            story["tokens"].render()
        with gr.Row():
            story["style"].render()
            negative = gr.Textbox(label="Negative prompt", placeholder="blank: the pipeline's own",
                                  elem_id="negative")
    story["scenes"].render()
    photo = _reference_fields()
    with gr.Row(equal_height=True):
        new_scene = gr.Textbox(label="New scene", show_label=False, placeholder="a new scene, e.g. at night", scale=4,
                               min_width=160, elem_id="new-scene", max_lines=1)
        add = gr.Button("Add", scale=1, min_width=60, elem_id="add-scene")
        up = gr.Button("↑", scale=0, min_width=44, elem_id="scene-up")
        down = gr.Button("↓", scale=0, min_width=44, elem_id="scene-down")
        remove = gr.Button("Remove", scale=1, min_width=80, elem_id="scene-remove")
    method, options, groups = _method_panel(host)
    named = dict(**story, negative=negative, method=method, **_sampling_panel(host), **photo)
    with gr.Row(equal_height=True):
        generate = gr.Button("Generate", variant="primary", scale=2, elem_id="generate")
        compare = gr.Button("Compare", scale=1, min_width=100, elem_id="compare")
        compare_with = gr.Dropdown(runnable(host), value="vanilla", label="Compare with", show_label=False,
                                   container=False, scale=1, min_width=120, elem_id="compare-with")
    buttons = dict(generate=generate, compare=compare, add=add, up=up, down=down, remove=remove,
                   new_scene=new_scene, groups=groups, selected=gr.State(None))
    return Fields(named, options), compare_with, buttons


def _story_fields() -> dict:
    """Subject, subject words, style and scenes, made before the examples that fill them, placed after."""
    first = EXAMPLES[0]
    return dict(
        subject=gr.Textbox(first.subject, label="Subject", placeholder="a giraffe", elem_id="subject", render=False),
        tokens=gr.Textbox(first.tokens, label="Subject words", placeholder="blank: its head noun",
                          elem_id="tokens", render=False),
        style=gr.Textbox(first.style, label="Style (before the subject)", placeholder="a photo of",
                         elem_id="style", render=False),
        scenes=gr.Dataframe([[s, None] for s in first.scenes], headers=["scene", "seed"], datatype=["str", "number"],
                            type="array", column_count=2, show_row_numbers=True, interactive=True,
                            label="Scenes: select a row to move or remove it; a blank seed is seed + the row's index",
                            elem_id="scenes", render=False))


def _reference_fields() -> dict:
    """A photo of the subject to start the story from (docs/reference.md), and the prompt it is inverted under."""
    with gr.Accordion("Reference photo (optional): the story's subject from your image", open=False,
                      elem_id="reference-panel"):
        with gr.Row(equal_height=False):
            photo = gr.Image(label="Reference photo", type="filepath", image_mode=None, format="png",
                             sources=["upload"], height=160, elem_id="reference")
            prompt = gr.Textbox(label="Reference prompt", placeholder="blank: a photo of SUBJECT",
                                elem_id="reference-prompt", max_lines=1)
    return dict(reference=photo, reference_prompt=prompt)


def _header(model) -> str:
    name = Path(local_path(model.source)).name if Path(local_path(model.source)).exists() else model.source
    dtype = str(model.dtype).removeprefix("torch.")
    return (f"## svdstory · one subject, many scenes\nThe same subject in every image. Model **{name}** on "
            f"{model.device} ({dtype}); one generation at a time, the others wait in the queue.")


def runnable(host: Host) -> list[str]:
    """The methods that run on the loaded model's backbone."""
    return [name for name in method_names() if host.model.backbone.name in backbones(name)]


def _method_panel(host: Host):
    """The method picker (the methods the model runs) and, per method, a group of option controls built from its
    description, at the model's defaults."""
    names = runnable(host)
    first = DEFAULT_METHOD if DEFAULT_METHOD in names else names[0]
    method = gr.Dropdown(names, value=first, label="Method", info=summary(first), elem_id="method")
    options, groups = {}, {}
    with gr.Accordion("Method options", open=False, elem_id="method-options"):
        for name in names:
            with gr.Row(visible=name == first) as groups[name]:
                for option in describe(name, host.model.backbone.option_defaults):
                    options[(name, option.name)] = control(option, f"option-{name}-{option.name}")
    return method, options, groups


def _sampling_panel(host: Host) -> dict:
    """The base seed, steps, guidance and size, at the model's defaults."""
    defaults = resolve_sampling(host.model, SamplingConfig())
    number = lambda name, value, label, **kw: gr.Number(value, label=label, elem_id=name, min_width=70, **kw)
    with gr.Accordion("Sampling", open=True, elem_id="sampling"):
        with gr.Row():
            return dict(seed=number("seed", 0, "seed", precision=0),
                        steps=number("steps", defaults.steps, "steps", precision=0),
                        guidance=number("guidance", defaults.guidance, "guidance"),
                        height=number("height", defaults.height, "height", precision=0),
                        width=number("width", defaults.width, "width", precision=0))


def _results() -> dict:
    status = gr.Markdown("Pick an example or write a story, then **Generate**.", elem_id="status")
    with gr.Row(equal_height=True):
        main = gr.Gallery(label="results", columns=4, height="auto", object_fit="contain", elem_id="gallery",
                          preview=False, interactive=False)
        other = gr.Gallery(label="compare", columns=2, height="auto", object_fit="contain", visible=False,
                           elem_id="gallery-compare", preview=False, interactive=False)
    with gr.Row(equal_height=True):
        more_text = gr.Textbox(label="More scenes", show_label=False,  # the label names its errors
                               placeholder="more scenes, one per line: they reuse the anchors", lines=1, max_lines=4,
                               scale=4, elem_id="more-text")
        more = gr.Button("More scenes", scale=1, elem_id="more")
    with gr.Row(equal_height=True):
        masks = gr.Checkbox(label="Overlay subject masks", interactive=False, elem_id="masks")
        download = gr.DownloadButton("Download zip", interactive=False, elem_id="download")
        load = gr.UploadButton("Load run.json", file_types=[".json"], type="filepath", elem_id="load")
    return dict(status=status, main=main, other=other, masks=masks, download=download, load=load,
                more_text=more_text, more=more)


def _wire(demo, host: Host, fields: Fields, compare_with, b: dict, out: dict, shown, files: Path) -> None:
    f = fields.named
    results = [out["status"], out["main"], out["other"], out["download"], out["masks"]]
    n_fields = len(fields.components)

    def show_method(name):
        return [gr.update(info=summary(name))] + [gr.update(visible=m == name) for m in b["groups"]]

    f["method"].change(show_method, f["method"], [f["method"], *b["groups"].values()])

    def run(request: gr.Request, progress=gr.Progress(), *values):
        compare = values[n_fields] if len(values) > n_fields else None
        runs, seconds = handlers.timed(handlers.generate, host, fields, values[:n_fields], compare,
                                       request.session_hash, progress)
        return [len(runs[0].result.images), *handlers.results(runs, False, files / request.session_hash, seconds)]

    def check(*values):
        found = handlers.check(host, fields, values[:n_fields])
        return found + [gr.validate(True, "")] * (len(values) - n_fields)

    on = dict(show_progress_on=[out["main"]], **MODEL_EVENT)
    b["generate"].click(run, fields.components, [shown, *results], validator=check, **on)
    b["compare"].click(run, [*fields.components, compare_with], [shown, *results], validator=check, **on)

    def run_more(request: gr.Request, progress=gr.Progress(), n_shown=0, text="", table=None, with_masks=False):
        runs, seconds = handlers.timed(handlers.more, host, text, request.session_hash, progress)
        rows = handlers.rows_after_more(table, text, runs)
        folder = files / request.session_hash
        return [len(runs[0].result.images), *handlers.results(runs, with_masks, folder, seconds), rows, ""]

    # The overlay stays as it was: on, it covers the extra images with their masks too.
    out["more"].click(run_more, [shown, out["more_text"], f["scenes"], out["masks"]],
                      [shown, *results, f["scenes"], out["more_text"]],
                      validator=handlers.check_more, **on)

    def overlay(request: gr.Request, with_masks=False):
        return handlers.galleries(host.runs(request.session_hash), with_masks)

    out["masks"].change(overlay, out["masks"], [out["main"], out["other"]])
    out["load"].upload(lambda path: handlers.load_run(fields, host, path), out["load"], fields.components)
    _wire_scenes(f["scenes"], b)

    def closed(request: gr.Request):
        host.close_page(request.session_hash)
        shutil.rmtree(files / request.session_hash, ignore_errors=True)

    demo.unload(closed)


def _wire_scenes(table, b: dict) -> None:
    selected = b["selected"]

    def pick(evt: gr.SelectData):
        return evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index

    table.select(pick, None, selected)
    b["add"].click(lambda t, text: (scenes.add(t, text), ""), [table, b["new_scene"]], [table, b["new_scene"]])
    b["new_scene"].submit(lambda t, text: (scenes.add(t, text), ""), [table, b["new_scene"]], [table, b["new_scene"]])
    b["up"].click(lambda t, i: scenes.move(t, i, -1), [table, selected], [table, selected])
    b["down"].click(lambda t, i: scenes.move(t, i, 1), [table, selected], [table, selected])
    b["remove"].click(scenes.remove, [table, selected], [table, selected])


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, share: bool = False, **kwargs):
    """Start the page's server (the queue keeps one generation at a time; page events run beside it)."""
    demo.queue(default_concurrency_limit=None)
    return demo.launch(server_name=host, server_port=port, share=share, css=CSS, theme=gr.themes.Soft(),
                       show_error=True, **kwargs)
