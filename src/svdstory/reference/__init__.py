"""A story from a photo: the user's image of the subject stands in for the story's anchors (docs/reference.md)."""
from .photo import DEFAULT_PROMPT, PHOTO_FILE, Reference, fit_photo, read_photo

__all__ = ["DEFAULT_PROMPT", "PHOTO_FILE", "Reference", "fit_photo", "read_photo"]
