"""`sample`: a labelled, captioned image drawn from a seed, with any part of its labels fixed."""

from __future__ import annotations

import dataclasses

import numpy as np

from svdstory.errors import SvdStoryError
from svdstory.world.captions import caption
from svdstory.world.background import lowest_line
from svdstory.world.catalog import (ATTRIBUTES, BACKGROUND_ATTRIBUTES, DEFAULT_WORLD, LAYOUT_ATTRIBUTES, SCENES,
                                    SUBJECTS, WORLDS)
from svdstory.world.labels import Labels, Sample, check_choice
from svdstory.world.layout import sample_layout, staged_layout
from svdstory.world.props import layout_box, sample_props, visible_box
from svdstory.world.render import check_size, render, render_layers
from svdstory.world.seeds import stream


def _pick(rng, options):
    return options[rng.integers(len(options))]


def _attributes(seed: int, fixed: dict[str, str] | None, catalogue=ATTRIBUTES, name="attributes") -> dict[str, str]:
    fixed = dict(fixed or {})
    for key, value in fixed.items():
        check_choice("attribute", key, catalogue)
        check_choice(key, value, catalogue[key])
    rng = stream(seed, name)
    drawn = {key: _pick(rng, values) for key, values in catalogue.items()}  # all drawn: fixing one keeps the rest
    return {**drawn, **fixed}


def sample(seed: int, *, subject: str | None = None, attributes: dict[str, str] | None = None,
           scene: str | None = None, size: int = 128, attribute_rate: float = 0.3, world: int = DEFAULT_WORLD,
           background: dict[str, str] | None = None, layout_attributes: dict[str, str] | None = None,
           detail_rate: float = 0.5, clause_rate: float = 0.0) -> Sample:
    """Deterministic in `seed`; parts left as None (or attributes left out) are drawn at random.

    world 2 also draws the hidden background and layout attributes (any of them may be fixed) and
    the props; `detail_rate` is the share of its captions that name background or layout details,
    `clause_rate` the share written as comma-separated clauses (`caption_v2`).
    """
    check_size(size)
    for name, rate in (("attribute_rate", attribute_rate), ("clause_rate", clause_rate)):
        if not 0.0 <= rate <= 1.0:
            raise SvdStoryError(f"{name} must be in [0, 1], got {rate!r}")
    check_choice("world", world, WORLDS)
    subject = subject if subject is not None else _pick(stream(seed, "subject"), list(SUBJECTS))
    check_choice("subject", subject, SUBJECTS)
    scene = scene if scene is not None else _pick(stream(seed, "scene"), SCENES)
    check_choice("scene", scene, SCENES)
    attributes = _attributes(seed, attributes)
    if world == 1:
        labels = Labels(subject=subject, family=SUBJECTS[subject], attributes=attributes,
                        scene=scene, layout=sample_layout(subject, stream(seed, "layout")))
        image, mask = render(labels, size, seed)
        return Sample(image=image, mask=mask, labels=labels,
                      caption=caption(labels, stream(seed, "caption"), attribute_rate))
    return _sample_v2(seed, subject, attributes, scene, size, attribute_rate, detail_rate, clause_rate,
                      _attributes(seed, background, BACKGROUND_ATTRIBUTES, "background"),
                      _attributes(seed, layout_attributes, LAYOUT_ATTRIBUTES, "background"))


def _sample_v2(seed, subject, attributes, scene, size, attribute_rate, detail_rate, clause_rate, background,
               staging) -> Sample:
    from svdstory.world.captions_v2 import caption_v2

    layout = staged_layout(subject, staging, stream(seed, "layout"))
    props = sample_props(scene, lowest_line(scene, background["horizon"]), layout_box(subject, layout), stream(seed, "props"))
    labels = Labels(subject=subject, family=SUBJECTS[subject], attributes=attributes, scene=scene, layout=layout,
                    world=2, background=background, layout_attributes=staging, props=props)
    image, mask, owner = render_layers(labels, size, seed)
    boxes = [visible_box(owner, k) for k in range(len(props))]
    kept = [k for k, box in enumerate(boxes) if box is not None]  # a prop the subject hides entirely is no prop
    remap = np.full(len(props) + 1, -1, dtype=np.int8)
    remap[kept] = np.arange(len(kept), dtype=np.int8)
    labels = dataclasses.replace(labels, props=tuple(dataclasses.replace(props[k], bbox=boxes[k]) for k in kept))
    return Sample(image=image, mask=mask, labels=labels, prop_map=remap[owner],
                  caption=caption_v2(labels, stream(seed, "caption"), attribute_rate, detail_rate, clause_rate))
