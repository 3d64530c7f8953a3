"""The options of every built-in method: typed, validated, each with its meaning and allowed values.

Kept apart from the methods' code, which needs torch, so that `svdstory methods` and the web UI can
describe every option at once (`options.describe`). Each method module runs with its config from here.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

from ..attention.spatial import check_parts
from ..errors import SvdStoryError
from ..settings import SCHEDULERS
from ..subject_words import TOKEN_RULES
from .options import check_fraction, check_options, check_range, option

CACHE_DEVICES = ("same", "cpu")  # anchors+extras: the anchor cache on the model's device, or offloaded
PREPASS_MODES = ("feature", "full")
SVD_TARGETS = ("kv", "hidden", "attn")  # methods.sharing.svd_targets.TARGETS implements each
DECOMPOSITIONS = ("auto", "exact", "gram", "randomized", "subspace")  # spectral.select registers each


_SCHEDULER = "sampler: ddim (as ConsiStory), or the checkpoint's own"
_ANCHORS = "images whose tokens everyone sees (0: every other image)"
_POOL = "share each anchor's tokens averaged over k x k patches (our speed approximation)"
_UNCOND = "also share in the unconditional half of guidance (false: plain attention there)"
_PARTS = "parts with sharing: UNet decoder (as ConsiStory's SDSA); on a DiT every block (double, single; joint)"
_CACHE = "anchors+extras: keep the anchor cache on the model's device, or cpu"


@dataclass(frozen=True)
class MethodConfig:
    """What every method's options share: the sampler. A subclass that sets `method` is a built-in method,
    run by the module `module` of this package (imported on first use)."""

    method: ClassVar[str | None] = None  # the method's name (`--method`)
    module: ClassVar[str | None] = None  # its module under svdstory.methods
    backbones: ClassVar[tuple[str, ...]] = ("unet",)  # the backbones (backbones.BACKBONES) it runs on

    scheduler: str = option("ddim", _SCHEDULER, SCHEDULERS)

    def __post_init__(self):
        self.check()

    def check(self) -> None:
        """Validate the options (each subclass adds its own checks to its base's)."""
        check_options(self)

    @property
    def anchor_batch(self) -> int:
        """Images in the anchor batch of an anchors-first run."""
        return 2


@dataclass(frozen=True)
class AnchoredConfig(MethodConfig):
    """What the methods whose images share the subject of a few anchor images have in common."""

    n_anchors: int = option(2, _ANCHORS)

    @property
    def anchor_batch(self) -> int:
        return self.n_anchors or 2  # 0 means "every image" in a batch; anchors-first splits at 2


@dataclass(frozen=True)
class SharingConfig(AnchoredConfig):
    """What the methods that share the anchors' self-attention tokens have in common."""

    parts: tuple[str, ...] = option(("up",), _PARTS)
    steps: tuple[float, float] = option((0.0, 1.0), "fraction-of-run window of sharing")
    cache_device: str = option("same", _CACHE, CACHE_DEVICES)

    def check(self) -> None:
        super().check()
        check_range("steps", self.steps)
        if self.n_anchors < 0:
            raise SvdStoryError(f"option n_anchors must be >= 0 (0: every image), got {self.n_anchors}")
        check_parts(self.parts, "parts")


@dataclass(frozen=True)
class VanillaConfig(MethodConfig):
    """plain batch, no sharing"""

    method: ClassVar[str] = "vanilla"
    module: ClassVar[str] = "vanilla"
    backbones: ClassVar[tuple[str, ...]] = ("unet", "flux", "sd3")

    scheduler: str = option("default", "sampler: the checkpoint's own, or ddim as the sharing methods use",
                            SCHEDULERS)


@dataclass(frozen=True)
class ConsiStoryConfig(AnchoredConfig):
    """ConsiStory: SDSA with subject masks, query mixing, feature injection

    Defaults follow the reference release (SDXL): see docs/consistory.md for each source.
    """

    method: ClassVar[str] = "consistory"
    module: ClassVar[str] = "consistory.method"
    backbones: ClassVar[tuple[str, ...]] = ("unet", "flux", "sd3")

    scheduler: str = option("ddim", "sampler (reference: DDIMScheduler)", SCHEDULERS)
    n_anchors: int = option(2, "images whose subject is shared (reference: 2 anchors)")
    sdsa: bool = option(True, "subject-driven self-attention")
    sdsa_parts: tuple[str, ...] = option(("up",), "parts with SDSA (reference: up-blocks; on a DiT every block)")
    sdsa_steps: tuple[float, float] = option((0.0, 1.0), "fraction of steps with SDSA (reference: all steps once "
                                                         "masks exist)")
    mask_dropout: float = option(0.5, "probability of hiding a shared subject token (reference: 0.5)")
    mask_factor: int = option(4, "masks from the layers at latent/k (4: 32x32 for SDXL at 1024 px)")
    mask_window: int = option(20, "steps the maps are averaged over (reference: the last 20)")
    query_mix: bool = option(True, "blend in queries of a vanilla pass for layout diversity")
    query_mix_until: float = option(0.1, "fraction of steps with mixing (reference: first 10%)")
    query_mix_start: float = option(0.9, "vanilla-query weight at the first step")
    query_mix_end: float = option(0.8184, "vanilla-query weight at the last mixing step (reference: 0.81836735)")
    injection: bool = option(True, "feature injection through DIFT correspondences")
    injection_steps: tuple[float, float] = option((0.1, 1 / 3), "fraction of steps with injection (reference: "
                                                                 "steps n//10..n//3, 5-16 of 50)")
    injection_alpha: float = option(0.8, "weight of the corresponding anchor output (reference: 0.8)")
    injection_factor: int = option(2, "inject at the layers at latent/k (2: 64x64 for SDXL at 1024 px)")
    injection_parts: tuple[str, ...] = option(("up", "down"), "parts with injection (reference run script: up and "
                                                              "down blocks; on a DiT every block)")
    dift_block: int = option(0, "UNet up-block whose output gives the DIFT features (on a DiT: the transformer "
                                "block, FLUX's double then single ones counted; the middle one by default)")
    dift_timestep: float = option(261.0, "timestep of the DIFT features, of 1000 training steps (reference: 261)")
    dift_sigma: float = option(1.0, "3x3 Gaussian smoothing of the features (reference: sigma 1)")
    distance_threshold: float | None = option(None, "correspondence distance limit; none: Otsu over each "
                                                    "image's distances (reference: dynamic)")
    prepass: str = option("feature", "feature: stop the pre-pass after the DIFT step; full: run it to the end",
                          PREPASS_MODES)
    prepass_steps: int | None = option(None, "none: the pre-pass follows the run's steps; k: its own k-step "
                                             "schedule (ours)")
    reuse_prepass: bool = option(True, "the main pass takes over the pre-pass where injection starts (same "
                                       "images)")
    cache_device: str = option("same", "anchors+extras: keep the anchor cache on the model's device, or cpu",
                               CACHE_DEVICES)
    subject_tokens: str = option("word", "word: all the subject word's sub-tokens (ours); release: the release's "
                                         "rule (the last position of its first sub-token's id)", TOKEN_RULES)
    release: bool = option(False, "true: the release's choices where our defaults differ (prepass=full, "
                                  "subject_tokens=release), whatever those two options say")

    def __post_init__(self):
        if self.release:  # resolved once, so that the run's config records what ran
            object.__setattr__(self, "prepass", "full")
            object.__setattr__(self, "subject_tokens", "release")
        super().__post_init__()

    def check(self) -> None:
        super().check()
        check_fraction("mask_dropout", self.mask_dropout)
        check_fraction("query_mix_until", self.query_mix_until)
        check_fraction("injection_alpha", self.injection_alpha)
        check_range("sdsa_steps", self.sdsa_steps)
        check_range("injection_steps", self.injection_steps)
        if self.n_anchors < 1:
            raise SvdStoryError(f"option n_anchors must be at least 1, got {self.n_anchors}")
        for name in ("mask_factor", "injection_factor", "mask_window"):
            if getattr(self, name) < 1:
                raise SvdStoryError(f"option {name} must be at least 1, got {getattr(self, name)}")
        if self.prepass_steps is not None and self.prepass_steps < 1:
            raise SvdStoryError(f"option prepass_steps must be at least 1 (or none), got {self.prepass_steps}")
        check_parts(self.sdsa_parts, "sdsa_parts")
        check_parts(self.injection_parts, "injection_parts")


@dataclass(frozen=True)
class SharedConfig(SharingConfig):
    """mask-free extended self-attention (all anchor tokens)"""

    method: ClassVar[str] = "shared"
    module: ClassVar[str] = "sharing.shared"
    backbones: ClassVar[tuple[str, ...]] = ("unet", "flux", "sd3")

    parts: tuple[str, ...] = option(("up",), _PARTS)
    anchor_pool: int = option(1, _POOL)
    share_uncond: bool = option(True, _UNCOND)

    def check(self) -> None:
        super().check()
        if self.anchor_pool < 1:
            raise SvdStoryError(f"option anchor_pool must be at least 1, got {self.anchor_pool}")


@dataclass(frozen=True)
class SvdConfig(SharedConfig):
    """mask-free sharing filtered through singular values (proposed)"""

    method: ClassVar[str] = "svd"
    module: ClassVar[str] = "sharing.svd"
    backbones: ClassVar[tuple[str, ...]] = ("unet", "flux", "sd3")

    parts: tuple[str, ...] = option(("up",), _PARTS)
    target: str = option("kv", "what is filtered: the anchors' keys and values, their hidden states, or the "
                               "cross-image attention", SVD_TARGETS)
    zero: str = option("energy:0.9", "zeroing strategy chain, e.g. rank:8, tau:0.1, gd, soft:0.05")
    reweight: str = option("none", "reweighting chain, e.g. exp:0.01:1.0, power:0.8, topk:4:1.5")
    decomposition: str = option("auto", "how singular values are computed", DECOMPOSITIONS)
    rank: int | None = option(None, "keep only the top rank directions (needed by randomized and subspace)")
    refresh: int = option(5, "decide the filter every refresh steps, apply it unchanged in between (kv, hidden)")

    def check(self) -> None:
        super().check()
        if self.rank is not None and self.rank < 1:
            raise SvdStoryError(f"option rank must be at least 1, got {self.rank}")
        if self.decomposition in ("randomized", "subspace") and self.rank is None:
            raise SvdStoryError(f"option decomposition {self.decomposition!r} needs option rank, e.g. rank=16")
        if self.refresh < 1:
            raise SvdStoryError(f"option refresh must be at least 1, got {self.refresh}")
        self.spec  # parsed now, once: a bad spec fails before any model is loaded

    @cached_property
    def spec(self):
        """`zero` then `reweight`, parsed into one spectral spec (kept: the run's policy reads this one)."""
        from ..spectral import compose

        return compose(_parse_spec(self.zero, "zero"), _parse_spec(self.reweight, "reweight"))


def _parse_spec(text: str, option_name: str):
    from ..spectral import parse_spec

    try:
        return parse_spec(text, option_name)
    except SvdStoryError as err:  # with both options set, the message must say which one is wrong
        raise SvdStoryError(f"option {option_name}: {err}") from None


@dataclass(frozen=True)
class StoryDiffusionConfig(SharingConfig):
    """StoryDiffusion's consistent self-attention (random token sampling)"""

    method: ClassVar[str] = "storydiffusion"
    module: ClassVar[str] = "sharing.storydiffusion"
    backbones: ClassVar[tuple[str, ...]] = ("unet", "flux", "sd3")

    n_anchors: int = option(0, "images whose tokens the others sample (0: every image samples every other "
                               "image, as in the paper's batch)")
    parts: tuple[str, ...] = option(("up",), "parts with consistent self-attention (on a DiT: every block)")
    sample_rate: float = option(0.5, "fraction of the other images' tokens each image sees (paper: 0.5)")

    def check(self) -> None:
        super().check()
        check_fraction("sample_rate", self.sample_rate)


@dataclass(frozen=True)
class OnePromptConfig(MethodConfig):
    """1Prompt1Story: one prompt, singular-value reweighting of its embeddings"""

    method: ClassVar[str] = "1p1s"
    module: ClassVar[str] = "onepromptonestory.method"
    backbones: ClassVar[tuple[str, ...]] = ("unet", "flux", "sd3")

    scheduler: str = option("default", "sampler: the checkpoint's own, or ddim", SCHEDULERS)
    enhance_alpha: float = option(0.01, "s <- beta * exp(alpha * s) * s on the current frame (alpha > 0 "
                                        "enhances)")
    enhance_beta: float = option(1.0, "beta of the current frame's reweighting")
    suppress_alpha: float = option(-0.01, "alpha on the other frames (alpha < 0 suppresses)")
    suppress_beta: float = option(0.5, "beta on the other frames (beta < 1 suppresses)")
    ipca: bool = option(False, "identity-preserving cross-attention: also attend to the subject's prompt alone "
                               "(UNet only: a DiT has no cross-attention)")


# The built-in methods, declared by their configs (in the order defined here):
# name -> (module under svdstory.methods, config).
BUILTIN = {cls.method: (cls.module, cls) for cls in list(globals().values())
           if isinstance(cls, type) and issubclass(cls, MethodConfig) and cls.method}


def builtin_config(method: str) -> type | None:
    return BUILTIN[method][1] if method in BUILTIN else None
