"""A method option's control, built from its description (type, default, allowed values, meaning):
a new method or option gets its control with no code here."""
from __future__ import annotations

import gradio as gr

from ..methods.options import Option, as_text


def kind(option: Option) -> str:
    """checkbox, choice, int, float or text: `--set` text for tuples, free text and optional numbers (whose
    "none" a number box cannot hold)."""
    if option.type == "bool":
        return "checkbox"
    if option.choices:
        return "choice"
    return option.type if option.type in ("int", "float") else "text"


def shown(option: Option, value):
    """A value (a default, or one read from run.json, where tuples are lists) as the control shows it."""
    if isinstance(value, list):
        value = tuple(value)
    k = kind(option)
    if k in ("checkbox", "int", "float"):
        return value
    return as_text(value)


def control(option: Option, elem_id: str, visible: bool = True):
    """The option's component, labelled with its name, its meaning below the label."""
    common = dict(label=option.name, info=option.help or None, elem_id=elem_id, visible=visible, min_width=170,
                  value=shown(option, option.default))
    k = kind(option)
    if k == "checkbox":
        return gr.Checkbox(**common)
    if k == "choice":
        return gr.Dropdown(choices=[as_text(c) for c in option.choices], **common)
    if k in ("int", "float"):
        return gr.Number(precision=0 if k == "int" else None, **common)
    return gr.Textbox(max_lines=1, **common)
