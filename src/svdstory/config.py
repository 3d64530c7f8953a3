"""Typed run configuration shared by every method, and `key=value` overrides for method configs."""
from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass

from .errors import SvdStoryError

FREEU_RELEASE = (0.6, 0.4, 1.1, 1.2)  # FreeU's s1, s2, b1, b2 in ConsiStory's SDXL release
SEED_MAX = 2**64 - 1  # torch.Generator.manual_seed takes 0..2**64-1 (negative seeds alias large ones: refused)


def check_seed(value, what: str = "--seed") -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SvdStoryError(f"{what} must be a whole number, got {value!r}")
    if not 0 <= value <= SEED_MAX:
        raise SvdStoryError(f"{what} must lie in 0..{SEED_MAX} (what random generators accept), got {value}")


def check_finite(what: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise SvdStoryError(f"{what} must be a finite number, got {value!r}")


@dataclass(frozen=True)
class SamplingConfig:
    """How the denoising loop runs; None means "the model's or the method's default"."""

    steps: int | None = None  # denoising steps
    guidance: float | None = None  # classifier-free guidance scale; <= 1 turns guidance off
    height: int | None = None  # image height in pixels (None: the model's sample size)
    width: int | None = None  # image width in pixels
    seed: int = 0  # image i uses seed + i unless the story lists its own seeds
    same_latent: bool = False  # every image starts from image 0's initial noise
    negative_prompt: str | None = None  # the unconditional prompt; None: the pipeline's own (SDXL: zeros)
    attention_chunk: int | None = None  # queries per extended-attention call, to bound memory
    freeu: tuple[float, float, float, float] | None = None  # FreeU's (s1, s2, b1, b2); None: off

    def __post_init__(self):
        check_seed(self.seed)
        if self.guidance is not None:
            check_finite("--guidance", self.guidance)
        if self.negative_prompt is not None and not isinstance(self.negative_prompt, str):
            raise SvdStoryError(f"the negative prompt must be text, got {self.negative_prompt!r}")
        if self.negative_prompt and self.guidance is not None and self.guidance <= 1:  # it would be dropped unseen
            raise SvdStoryError(f"a negative prompt has no effect at --guidance {self.guidance:g}: guidance of 1 or "
                                "less turns it off")
        if self.freeu is not None:
            if len(self.freeu) != 4:
                raise SvdStoryError(f"--freeu takes four numbers s1,s2,b1,b2, got {self.freeu}")
            for value in self.freeu:
                check_finite("--freeu", value)
        if self.steps is not None and self.steps < 1:
            raise SvdStoryError(f"--steps must be at least 1, got {self.steps}")
        if self.attention_chunk is not None and self.attention_chunk < 1:
            raise SvdStoryError(f"--attention-chunk must be at least 1, got {self.attention_chunk}")
        for name in ("height", "width"):
            value = getattr(self, name)
            if value is not None and value < 8:
                raise SvdStoryError(f"--{name} must be a positive pixel count, got {value}")


def _coerce(text: str, annotation, key: str):
    """Turn the text of one `--set key=value` into the field's declared type."""
    origin = typing.get_origin(annotation)
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if origin in (typing.Union, types.UnionType):
        if text.lower() in ("none", "null"):
            return None
        return _coerce(text, args[0], key)
    if origin is tuple:
        parts = [p for p in text.replace("(", "").replace(")", "").split(",") if p.strip()]
        inner = args[0] if args else str
        return tuple(_coerce(p.strip(), inner, key) for p in parts)
    if annotation is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise SvdStoryError(f"option {key}: expected true/false, got {text!r}")
    try:
        return annotation(text)  # the config's check_options refuses numbers that are not finite
    except (TypeError, ValueError):
        raise SvdStoryError(f"option {key}: expected {annotation.__name__}, got {text!r}") from None


def apply_overrides(config, pairs: list[str] | dict):
    """Return a copy of a frozen config dataclass with `key=value` pairs applied and validated."""
    items = pairs.items() if isinstance(pairs, dict) else [_split_pair(p) for p in pairs]
    hints = typing.get_type_hints(type(config))
    names = {f.name for f in dataclasses.fields(config)}
    changes = {}
    for key, value in items:
        if key not in names:
            known = ", ".join(sorted(names))
            raise SvdStoryError(f"unknown option {key!r} for {type(config).__name__} (known: {known})")
        changes[key] = _coerce(value, hints[key], key) if isinstance(value, str) else value
    return dataclasses.replace(config, **changes)


def _split_pair(pair: str) -> tuple[str, str]:
    key, sep, value = pair.partition("=")
    if not sep or not key.strip():
        raise SvdStoryError(f"--set expects key=value, got {pair!r}")
    return key.strip(), value.strip()


def check_fraction(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise SvdStoryError(f"option {name} must lie in [0, 1], got {value}")


def check_range(name: str, value: tuple[float, float]) -> None:
    if len(value) != 2 or not 0.0 <= value[0] <= value[1] <= 1.0:
        raise SvdStoryError(f"option {name} must be start,end with 0 <= start <= end <= 1, got {value}")


SCHEDULERS = ("default", "ddim")  # names sampling.make_scheduler understands


def check_scheduler(value: str) -> None:
    if value not in SCHEDULERS:
        raise SvdStoryError(f"option scheduler must be one of {', '.join(SCHEDULERS)}, got {value!r}")
