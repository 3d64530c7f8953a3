"""A story from a photo: the user's image of the subject stands in for the story's anchors (docs/reference.md)."""
from .photo import DEFAULT_PROMPT, MASK_FILE, PHOTO_FILE, Photo, Reference, fit_photo, read_photo, read_reference

__all__ = ["DEFAULT_PROMPT", "MASK_FILE", "PHOTO_FILE", "Photo", "Reference", "fit_photo", "read_photo",
           "read_reference"]
