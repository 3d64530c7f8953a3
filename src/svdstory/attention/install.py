"""Install svdstory's processors on a UNet for one run, and always restore the originals."""
from __future__ import annotations

from contextlib import contextmanager

from .processor import StoryAttnProcessor


@contextmanager
def story_processors(unet, sites, policy, state):
    """svdstory's processor on every attention site of a UNet for one run; the originals restored after."""
    original = dict(unet.attn_processors)
    policy.check_layers(sites)  # e.g. options naming UNet parts that this model does not have
    unet.set_attn_processor({site.name: StoryAttnProcessor(policy, state, site) for site in sites})
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
    policy.check_layers(sites)
    transformer.set_attn_processor({site.name: JointStoryProcessor(policy, state, site, text_first) for site in sites})
    try:
        yield
    finally:
        transformer.set_attn_processor(original)
