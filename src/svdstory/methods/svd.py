"""`svd`: the proposed method. Mask-free sharing whose cross-image part is filtered by its spectrum.

Targets: `kv` (the anchors' keys and values), `hidden` (the anchors' stacked hidden states before
the key/value projections), `attn` (the cross-image block of the attention probabilities).
`zero` drops the lower singular values (meant against background leakage; docs/results.md); `reweight` reshapes the kept
ones (for subject similarity); both take the spectral spec grammar of `svdstory.spectral.spec`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..attention.share_policy import SharePolicy
from ..attention.spectral_share import TARGETS
from ..errors import SvdStoryError
from ..spectral import compose, decomposition_names, parse_spec
from .sharing import check_sharing, register_sharing


@dataclass(frozen=True)
class SvdConfig:
    scheduler: str = "ddim"
    n_anchors: int = 2  # images whose tokens everyone sees (0: every other image)
    parts: tuple[str, ...] = ("up",)  # UNet parts with sharing
    steps: tuple[float, float] = (0.0, 1.0)  # fraction-of-run window of sharing
    target: str = "kv"  # kv | hidden | attn
    zero: str = "energy:0.9"  # zeroing strategy chain, e.g. rank:8, tau:0.1, gd, soft:0.05
    reweight: str = "none"  # reweighting chain, e.g. exp:0.01:1.0, power:0.8, topk:4:1.5
    decomposition: str = "auto"  # auto | exact | gram | randomized | subspace
    rank: int | None = None  # keep only the top `rank` directions (needed by randomized and subspace)
    refresh: int = 5  # decide the filter every `refresh` steps, apply it unchanged in between (kv, hidden)
    anchor_pool: int = 1  # share each anchor's tokens averaged over k x k patches (our speed approximation)
    share_uncond: bool = True  # also share in the unconditional half of guidance (False: plain attention there)
    cache_device: str = "same"

    def __post_init__(self):
        check_sharing(self)
        if self.target not in TARGETS:
            raise SvdStoryError(f"option target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.decomposition not in decomposition_names():
            raise SvdStoryError(f"option decomposition must be one of {', '.join(decomposition_names())}, "
                                f"got {self.decomposition!r}")
        if self.rank is not None and self.rank < 1:
            raise SvdStoryError(f"option rank must be at least 1 (or none), got {self.rank}")
        if self.decomposition in ("randomized", "subspace") and self.rank is None:
            raise SvdStoryError(f"option decomposition {self.decomposition!r} needs option rank, e.g. rank=16")
        if self.refresh < 1:
            raise SvdStoryError(f"option refresh must be at least 1, got {self.refresh}")
        self.spec()  # parse now: a bad spec fails before any model is loaded

    def spec(self):
        return compose(_parse(self.zero, "zero"), _parse(self.reweight, "reweight"))


def _parse(text: str, option: str):
    try:
        return parse_spec(text, option)
    except SvdStoryError as err:  # with both options set, the message must say which one is wrong
        raise SvdStoryError(f"option {option}: {err}") from None


def make_policy(ctx, config: SvdConfig, anchors, cache):
    transform = TARGETS[config.target](config.spec(), config.decomposition, config.rank, config.refresh)
    return SharePolicy(config.parts, config.steps, anchors, transform, cache=cache, keep_hidden=config.target == "hidden",
                       uncond=config.share_uncond, pool=config.anchor_pool)


register_sharing("svd", SvdConfig, make_policy, "mask-free sharing filtered through singular values (proposed)")
