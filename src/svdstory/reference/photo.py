"""The reference photo: what a story's photo may be, read and converted once where it enters.

Conversions (docs/reference.md): any 8-bit mode PIL reads (greyscale, palette, CMYK, ...) becomes RGB; an alpha
channel that is opaque everywhere is dropped; the photo is centre-cropped to the run's aspect and resized to its
size. Refused in one line: a file that is not an image, a mode that is not 8-bit, transparent pixels, a side
under a quarter of the run's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import check_finite
from ..errors import SvdStoryError

DEFAULT_PROMPT = "a photo of SUBJECT"  # SUBJECT stands for the story's subject
PHOTO_FILE = "reference.png"  # the photo in a run folder: its pixels as the run read them, lossless
_EIGHT_BIT = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")


@dataclass(frozen=True)
class Reference:
    """A photo of the story's subject, its inverted path the anchor every image shares."""

    photo: object  # the image: a path to a file, or a PIL image
    prompt: str = DEFAULT_PROMPT  # the prompt it is inverted (and its anchor pass run) under
    guidance: float = 1.0  # the guidance it is inverted under (1 or less: the prompt alone, as DDIM inversion is)
    name: str = "--reference"  # how errors name the photo (the web page names its upload)

    def __post_init__(self):
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise SvdStoryError(f"the reference prompt must be non-empty text, got {self.prompt!r}")
        check_finite("--reference-guidance", self.guidance)

    @property
    def where(self) -> str:
        """How an error names the photo: the option and, for a file, its path."""
        from PIL import Image

        return self.name if isinstance(self.photo, Image.Image) else f"{self.name} {str(self.photo)!r}"

    def prompt_for(self, subject: str) -> str:
        return self.prompt.replace("SUBJECT", subject)

    def record(self) -> dict:
        """What run.json keeps of it (the photo itself is written beside it as PHOTO_FILE)."""
        return {"photo": PHOTO_FILE, "prompt": self.prompt, "guidance": self.guidance}


def read_photo(reference: Reference):
    """The photo as an RGB PIL image at its own size, or one line naming it and what is wrong."""
    from PIL import Image

    photo, where = reference.photo, reference.where
    if not isinstance(photo, Image.Image):
        path = Path(photo)
        if not path.is_file():
            raise SvdStoryError(f"{where} is not a file")
        try:
            with Image.open(path) as opened:
                opened.load()
                photo = opened.copy()
        except Image.DecompressionBombError:
            raise SvdStoryError(f"{where} has too many pixels to read safely") from None
        except (OSError, SyntaxError, ValueError) as err:
            raise SvdStoryError(f"{where} cannot be read as an image ({type(err).__name__})") from None
    return _as_rgb(photo, where)


def _as_rgb(image, where: str):
    if image.mode not in _EIGHT_BIT:
        raise SvdStoryError(f"{where} is a {image.mode!r} image, not 8-bit: save it as 8-bit RGB")
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA")
    if "A" in image.mode:
        alpha = image.getchannel("A")
        if alpha.getextrema()[0] < 255:
            raise SvdStoryError(f"{where} has transparent pixels: flatten it onto a background first")
    return image.convert("RGB")


def fit_photo(image, height: int, width: int, where: str = "--reference"):
    """The photo centre-cropped to the run's aspect and resized to (width, height); refused when a side is under a
    quarter of the run's (too little of the subject to stand for it)."""
    from PIL import Image

    w, h = image.size
    if w * 4 < width or h * 4 < height:
        raise SvdStoryError(f"{where} is {w}x{h} pixels, too small for {width}x{height} images "
                            f"(at least {(width + 3) // 4}x{(height + 3) // 4})")
    if (w, h) == (width, height):
        return image
    scale = min(w / width, h / height)
    cw, ch = round(width * scale), round(height * scale)
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch)).resize((width, height), Image.Resampling.LANCZOS)
