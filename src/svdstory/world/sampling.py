"""`sample`: a labelled, captioned image drawn from a seed, with any part of its labels fixed."""

from __future__ import annotations

from svdstory.errors import SvdStoryError
from svdstory.world.captions import caption
from svdstory.world.catalog import ATTRIBUTES, SCENES, SUBJECTS
from svdstory.world.labels import Labels, Sample, check_choice
from svdstory.world.layout import sample_layout
from svdstory.world.render import check_size, render
from svdstory.world.seeds import stream


def _pick(rng, options):
    return options[rng.integers(len(options))]


def _attributes(seed: int, fixed: dict[str, str] | None) -> dict[str, str]:
    fixed = dict(fixed or {})
    for name, value in fixed.items():
        check_choice("attribute", name, ATTRIBUTES)
        check_choice(name, value, ATTRIBUTES[name])
    rng = stream(seed, "attributes")
    drawn = {name: _pick(rng, values) for name, values in ATTRIBUTES.items()}  # all drawn: fixing one keeps the rest
    return {**drawn, **fixed}


def sample(seed: int, *, subject: str | None = None, attributes: dict[str, str] | None = None,
           scene: str | None = None, size: int = 128, attribute_rate: float = 0.3) -> Sample:
    """Deterministic in `seed`; parts left as None (or attributes left out) are drawn at random."""
    check_size(size)
    if not 0.0 <= attribute_rate <= 1.0:
        raise SvdStoryError(f"attribute_rate must be in [0, 1], got {attribute_rate!r}")
    subject = subject if subject is not None else _pick(stream(seed, "subject"), list(SUBJECTS))
    check_choice("subject", subject, SUBJECTS)
    scene = scene if scene is not None else _pick(stream(seed, "scene"), SCENES)
    check_choice("scene", scene, SCENES)
    labels = Labels(subject=subject, family=SUBJECTS[subject], attributes=_attributes(seed, attributes),
                    scene=scene, layout=sample_layout(subject, stream(seed, "layout")))
    image, mask = render(labels, size, seed)
    return Sample(image=image, mask=mask, labels=labels,
                  caption=caption(labels, stream(seed, "caption"), attribute_rate))
