"""Backbones: one interface (`Backbone`) over the diffusers model families svdstory runs."""
from __future__ import annotations

from ..errors import SvdStoryError
from .base import Backbone, Site, guided

__all__ = ["BACKBONES", "PIPELINES", "Backbone", "Site", "backbone_for", "backbone_name", "guided"]

# the diffusers pipeline classes svdstory loads, and the backbone each one runs on
PIPELINES = {"StableDiffusionPipeline": "unet", "StableDiffusionXLPipeline": "unet", "FluxPipeline": "flux",
             "StableDiffusion3Pipeline": "sd3"}
BACKBONES = ("unet", "flux", "sd3")


def backbone_name(pipeline_class: str) -> str | None:
    """The backbone of a pipeline class name (from a model_index.json); None for one svdstory does not run."""
    return PIPELINES.get(pipeline_class)


def backbone_for(pipe) -> Backbone:
    """The backbone of a loaded pipeline, by its class (or the class it derives from)."""
    name = next((backbone_name(cls.__name__) for cls in type(pipe).__mro__ if backbone_name(cls.__name__)), None)
    if name == "unet":
        from .unet import UNetBackbone

        return UNetBackbone(pipe)
    if name in ("flux", "sd3"):
        from .mmdit import FluxBackbone, SD3Backbone

        return FluxBackbone(pipe) if name == "flux" else SD3Backbone(pipe)
    raise SvdStoryError(f"a {type(pipe).__name__} is not a pipeline svdstory runs ({', '.join(PIPELINES)})")
