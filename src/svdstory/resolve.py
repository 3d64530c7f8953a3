"""Resolve once: a run's method name, its options and its sampling settings become objects where the run enters
(the command line, the API's functions, the web UI), and what runs after takes those objects."""
from __future__ import annotations

from dataclasses import fields, replace

from .limits import check_largest
from .methods.options import config_from
from .methods.registry import get_method
from .preflight import check_backbone, check_size
from .settings import SamplingConfig


def resolve_sampling(model, sampling: SamplingConfig) -> SamplingConfig:
    """The settings with the model's defaults filled in, checked against what the model allows."""
    defaults = {**model.backbone.defaults, **(model.defaults or {})}  # a folder's own svdstory.json wins
    backbone = model.backbone
    height, width = sampling.height or backbone.side, sampling.width or backbone.side
    check_size(backbone.size_factor, height, width)
    check_largest(backbone.side, {"--height": height, "--width": width})
    steps = sampling.steps or defaults.get("steps", 50)
    backbone.check_steps(steps)
    guidance = sampling.guidance if sampling.guidance is not None else defaults.get("guidance", 5.0)
    return replace(sampling, steps=steps, guidance=guidance, height=height, width=width)  # every other as given


def resolve(model, method_name: str, options=None, sampling: SamplingConfig | None = None):
    """(method, config, sampling settings) of a run on `model`: the name, its options and the settings resolved
    once, where the run enters."""
    method, config = method_config(method_name, options, model.backbone)
    return method, config, resolve_sampling(model, sampling or SamplingConfig())


def method_config(method_name: str, options=None, backbone=None):
    """The method named `method_name` (resolved here, once per run) and its config (`make_config`); on a model's
    `backbone`, a method that does not run there fails first."""
    method = get_method(method_name)
    if backbone is not None:
        check_backbone(method, backbone.name)
    return method, make_config(method, options, backbone)


def make_config(method, options=None, backbone=None):
    """The config of `method`: `options` is a config (taken as it is), or overrides as a dict or `key=value` strings
    over the method's defaults on `backbone` (`backbone_defaults`). Made once: a config validates itself when it is
    made, spectral specs included."""
    if type(options) is method.config:
        return options
    return config_from(method.config, options or {}, backbone_defaults(method, backbone))


def backbone_defaults(method, backbone) -> dict:
    """The options of `method` whose default differs on `backbone` (`Backbone.option_defaults`; none without one)."""
    names = {f.name for f in fields(method.config)}
    return {k: v for k, v in (backbone.option_defaults if backbone else {}).items() if k in names}
