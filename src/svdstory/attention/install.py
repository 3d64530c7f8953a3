"""Install svdstory's processors on a UNet for one run, and always restore the originals."""
from __future__ import annotations

from contextlib import contextmanager

from .processor import StoryAttnProcessor
from .spatial import LayerInfo


@contextmanager
def story_processors(unet, policy, state):
    original = dict(unet.attn_processors)
    layers = {name: LayerInfo.from_name(name) for name in original}
    policy.check_layers(list(layers.values()))  # e.g. options naming UNet parts that this model does not have
    unet.set_attn_processor({name: StoryAttnProcessor(policy, state, layer) for name, layer in layers.items()})
    try:
        yield
    finally:
        unet.set_attn_processor(original)


@contextmanager
def forward_hooks(hooks):
    """Register (module, fn) forward hooks for the duration of a run."""
    handles = [module.register_forward_hook(fn) for module, fn in hooks]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def joint_processors(transformer, sites, policy, state, text_first: bool):
    """svdstory's joint processor on every site of an MMDiT (FLUX, SD3) for one run; the originals restored after.
    text_first: where the text tokens sit in the joint sequence (FLUX: first; SD3: last)."""
    from .joint_processor import JointStoryProcessor

    original = dict(transformer.attn_processors)
    layers = {site.name: LayerInfo(site.name, site.stage, site.depth, site.kind == "cross") for site in sites}
    policy.check_layers(list(layers.values()))
    transformer.set_attn_processor({site.name: JointStoryProcessor(policy, state, layers[site.name], site.grid,
                                                                   text_first) for site in sites})
    try:
        yield
    finally:
        transformer.set_attn_processor(original)
