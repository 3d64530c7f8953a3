"""Where attention layers sit: the grid of their tokens without assuming square maps, and the parts options
that name them (a layer itself is a backbone's `Site`)."""
from __future__ import annotations

import re

from ..errors import SvdStoryError


def token_grid(n_tokens: int, latent_hw: tuple[int, int]) -> tuple[int, int]:
    """(h, w) of a layer whose n_tokens come from the latent downsampled k times by stride-2 convs."""
    h, w = latent_hw
    for _ in range(12):
        if h * w == n_tokens:
            return h, w
        h, w = (h + 1) // 2, (w + 1) // 2  # a 3x3 stride-2 conv with padding 1 rounds up
    raise SvdStoryError(f"cannot place {n_tokens} attention tokens on a {latent_hw} latent grid")


_PART = re.compile(r"(down|up|double|single|joint)(\.\d+)?|mid")


def check_parts(parts, option: str) -> None:
    """UNet parts are down, mid, up, or one block of down/up such as up.0 (SDXL's 32x32 decoder block); FLUX's
    are double and single (its dual- and single-stream blocks), SD3's joint (its MMDiT blocks), or one block
    such as double.3. Which of them a model has is checked against its layers when it runs (`check_parts_match`)."""
    bad = [p for p in parts if not _PART.fullmatch(p)]
    if bad or not parts:
        raise SvdStoryError(f"option {option} must be among down, mid, up (UNet), double, single (FLUX), joint (SD3) "
                            f"or a block such as up.0; got {list(parts)}")


def check_parts_match(parts, sites, option: str) -> None:
    """Fail in one line if `parts` selects none of the self- or joint-attention `sites` of this model."""
    own = [site for site in sites if site.kind != "cross"]
    if own and not any(site.within(parts) for site in own):
        blocks = sorted({site.stage if site.stage == "mid" else f"{site.stage}.{site.depth}" for site in own})
        raise SvdStoryError(f"option {option}={','.join(parts)} selects no attention layer of this model "
                            f"(its attention blocks: {', '.join(blocks)})")
