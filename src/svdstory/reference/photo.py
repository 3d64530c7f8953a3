"""The reference photo: what a story's photo may be, read and converted once where it enters.

Conversions (docs/reference.md): any 8-bit mode PIL reads (greyscale, palette, CMYK, ...) becomes RGB; an alpha
channel that is opaque everywhere is dropped; the photo is centre-cropped to the run's aspect and resized to its
size. Refused in one line: a file that is not an image, a mode that is not 8-bit, transparent pixels, a side
under a quarter of the run's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..settings import check_finite
from ..errors import SvdStoryError

DEFAULT_PROMPT = "a photo of SUBJECT"  # SUBJECT stands for the story's subject
PHOTO_FILE = "reference.png"  # the photo in a run folder: its pixels as the run read them, lossless
MASK_FILE = "reference_mask.png"  # its subject mask there, where one was given
_EIGHT_BIT = ("1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "LAB", "HSV")


@dataclass(frozen=True)
class Reference:
    """A photo of the story's subject, its inverted path the anchor every image shares."""

    photo: object  # the image: a path to a file, or a PIL image
    prompt: str = DEFAULT_PROMPT  # the prompt it is inverted (and its anchor pass run) under
    guidance: float = 1.0  # the guidance it is inverted under (1 or less: the prompt alone, as DDIM inversion is)
    name: str = "--reference"  # how errors name the photo (the web page names its upload)
    mask: object = None  # the subject's mask in the photo: a file or PIL image, white on the subject (None: the
    # method's own maps, or every token for a mask-free method)

    def __post_init__(self):
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise SvdStoryError(f"the reference prompt must be non-empty text, got {self.prompt!r}")
        check_finite("--reference-guidance", self.guidance)

    @property
    def where(self) -> str:
        """How an error names the photo: the option and, for a file, its path."""
        return self.name if _is_image(self.photo) else f"{self.name} {str(self.photo)!r}"

    def prompt_for(self, subject: str) -> str:
        return self.prompt.replace("SUBJECT", subject)

    def record(self) -> dict:
        """What run.json keeps of it (the photo itself, and its mask, are written beside it)."""
        mask = {} if self.mask is None else {"mask": MASK_FILE}
        return {"photo": PHOTO_FILE, "prompt": self.prompt, "guidance": self.guidance, **mask}


@dataclass(frozen=True)
class Photo:
    """A reference photo as read: RGB at its own size, and its subject mask ("L", 0 or 255, the same size) or None."""

    image: object
    mask: object = None


def read_reference(reference: Reference) -> Photo:
    """The photo and its mask, read and checked (one line naming the file that is wrong)."""
    image = read_photo(reference)
    if reference.mask is None:
        return Photo(image)
    where = f"{reference.name}-mask" + ("" if _is_image(reference.mask) else f" {str(reference.mask)!r}")
    mask = _open(reference.mask, where).convert("L").point(lambda v: 255 if v > 127 else 0)
    if mask.size != image.size:
        raise SvdStoryError(f"{where} is {mask.size[0]}x{mask.size[1]} pixels but the photo is "
                            f"{image.size[0]}x{image.size[1]}")
    if mask.getextrema()[1] == 0:
        raise SvdStoryError(f"{where} marks no pixel of the subject (white on the subject, black elsewhere)")
    return Photo(image, mask)


def _is_image(value) -> bool:
    from PIL import Image

    return isinstance(value, Image.Image)


def read_photo(reference: Reference):
    """The photo as an RGB PIL image at its own size, or one line naming it and what is wrong."""
    from PIL import Image

    return _as_rgb(_open(reference.photo, reference.where), reference.where)


def _open(source, where: str):
    """A PIL image, or the file `source` names read whole; one line naming `where` when it is no image."""
    from PIL import Image

    if _is_image(source):
        return source
    path = Path(source)
    if not path.is_file():
        raise SvdStoryError(f"{where} is not a file")
    try:
        with Image.open(path) as opened:
            opened.load()
            return opened.copy()
    except Image.DecompressionBombError:
        raise SvdStoryError(f"{where} has too many pixels to read safely") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise SvdStoryError(f"{where} cannot be read as an image ({type(err).__name__})") from None


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


def fit_photo(image, height: int, width: int, where: str = "--reference", resample=None):
    """The photo centre-cropped to the run's aspect and resized to (width, height) (Lanczos; a mask: `resample`
    nearest); refused when a side is under a quarter of the run's (too little of the subject to stand for it)."""
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
    return image.crop((left, top, left + cw, top + ch)).resize((width, height), resample or Image.Resampling.LANCZOS)
