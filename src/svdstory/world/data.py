"""Endless, deterministic streams of SynthWorld samples for training, split across DataLoader workers."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from svdstory.world.catalog import DEFAULT_WORLD

SEED_STRIDE = 2**32  # sample seeds of one stream: stream * stride + index, so streams never overlap


@dataclass(frozen=True)
class StreamConfig:
    seed: int = 0               # stream id: training runs, resumes and held-out sets each take their own
    size: int = 128             # rendered image side
    attribute_rate: float = 0.3  # fraction of captions that name attribute words
    group: int = 1              # consecutive samples sharing one identity (for contrastive batches)
    world: int = DEFAULT_WORLD  # world version (catalog.WORLDS); v2 items carry background, layout and prop labels
    detail_rate: float = 0.5    # v2: fraction of captions naming background / layout / prop details
    clause_rate: float = 0.0    # v2: fraction of captions written as comma-separated clauses


def label_indices(labels) -> dict[str, torch.Tensor]:
    """Class indices of a `Labels`, in the orders of SUBJECTS, ATTRIBUTES[name] and SCENES."""
    from svdstory.world import ATTRIBUTES, SCENES, SUBJECTS

    subject = list(SUBJECTS).index(labels.subject)
    attrs = [ATTRIBUTES[name].index(labels.attributes[name]) for name in ATTRIBUTES]
    identity = subject
    for name, value in zip(ATTRIBUTES, attrs):  # mixed radix: one integer per (class, attribute values)
        identity = identity * len(ATTRIBUTES[name]) + value
    out = dict(subject=torch.tensor(subject), attributes=torch.tensor(attrs),
               scene=torch.tensor(SCENES.index(labels.scene)), identity=torch.tensor(identity))
    if labels.world >= 2:
        out.update(v2_label_indices(labels))
    return out


def v2_label_indices(labels) -> dict[str, torch.Tensor]:
    """World v2's labels as indices: background and layout attributes (catalogue order) and, per
    subject class, whether a prop of that class is in the picture."""
    from svdstory.world import BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES, SUBJECTS

    background = [values.index(labels.background[name]) for name, values in BACKGROUND_ATTRIBUTES.items()]
    layout = [values.index(labels.layout_attributes[name]) for name, values in LAYOUT_ATTRIBUTES.items()]
    present = torch.zeros(len(SUBJECTS))
    for prop in labels.props:
        present[list(SUBJECTS).index(prop.subject)] = 1.0
    return dict(background=torch.tensor(background), layout=torch.tensor(layout), props=present)


def encode_sample(s) -> dict:
    """A `Sample` as tensors: uint8 image (3, H, W), uint8 mask (H, W), caption and label indices."""
    item = dict(image=torch.from_numpy(np.ascontiguousarray(s.image.transpose(2, 0, 1))),
                mask=torch.from_numpy(s.mask.astype(np.uint8)), caption=s.caption)
    if s.prop_map is not None and s.labels.world >= 2:
        item["prop_mask"] = torch.from_numpy((s.prop_map >= 0).astype(np.uint8))  # (H, W) any prop
    item.update(label_indices(s.labels))
    return item


def _draw_identity(rng: np.random.Generator) -> tuple[str, dict[str, str]]:
    from svdstory.world import ATTRIBUTES, SUBJECTS

    subject = list(SUBJECTS)[rng.integers(len(SUBJECTS))]
    return subject, {name: values[rng.integers(len(values))] for name, values in ATTRIBUTES.items()}


def render_unit(cfg: StreamConfig, unit: int) -> list[dict]:
    """The `group` samples of one unit of the stream; with group > 1 they share subject and attributes."""
    from svdstory.world import sample

    base = cfg.seed * SEED_STRIDE + unit * cfg.group
    extra = {"world": cfg.world, "detail_rate": cfg.detail_rate, "clause_rate": cfg.clause_rate}  # v1 ignores both
    if cfg.group == 1:
        return [encode_sample(sample(base, size=cfg.size, attribute_rate=cfg.attribute_rate, **extra))]
    subject, attributes = _draw_identity(np.random.default_rng(base))
    return [encode_sample(sample(base + j, subject=subject, attributes=attributes, size=cfg.size,
                                 attribute_rate=cfg.attribute_rate, **extra)) for j in range(cfg.group)]


class WorldStream(IterableDataset):
    """Worker w of n renders units w, w+n, w+2n, ...: no two workers draw the same seed.

    DataLoader batches are filled from one worker at a time, so a batch size that is a multiple of
    `group` keeps identity groups whole.
    """

    def __init__(self, cfg: StreamConfig):
        super().__init__()
        self.cfg = cfg

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        for unit in itertools.count(worker, workers):
            yield from render_unit(self.cfg, unit)


def fixed_set(cfg: StreamConfig, count: int) -> dict:
    """The first `count` samples of a stream, collated (for held-out evaluation)."""
    from torch.utils.data import default_collate

    units = -(-count // cfg.group)
    items = [item for unit in range(units) for item in render_unit(cfg, unit)][:count]
    return default_collate(items)
