"""The SynthWorld evaluator: a small CNN that reads back subject, attributes, scene and mask.

Because SynthWorld images are rendered from known labels, this network, trained on renders, gives
exact-ground-truth style metrics for generated images: is the subject the prompted class, do the
hidden attributes stay the same across a story, is the scene right, and where is the subject.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from svdstory.errors import SvdStoryError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


@dataclass(frozen=True)
class EvaluatorConfig:
    subjects: tuple[str, ...]                  # head order of Predictions.subject
    attributes: tuple[tuple[str, tuple[str, ...]], ...]  # (name, values) in head order
    scenes: tuple[str, ...]
    channels: tuple[int, ...] = (32, 64, 96, 128)  # stem at 1/2 resolution, then one halving per entry
    blocks: tuple[int, ...] = (0, 1, 2, 1)     # residual blocks per level
    decoder_channels: int = 48                 # mask/embedding decoder width
    embed_dim: int = 64                        # identity embedding size E
    input_size: int = 128                      # images are resized to this side
    # world v2 heads; empty in a v1 evaluator (whose config.json lacks these keys)
    background: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name, values): lighting, landmark, horizon
    layout: tuple[tuple[str, tuple[str, ...]], ...] = ()      # (name, values): placement, size, facing
    props: tuple[str, ...] = ()                # classes whose presence as a prop is predicted
    row_channels: int = 16                     # v2: channels of the per-row profile the background heads read

    @classmethod
    def for_world(cls, world: int | None = None, **sizes) -> "EvaluatorConfig":
        from svdstory.world import ATTRIBUTES, BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES, SCENES, SUBJECTS
        from svdstory.world.catalog import DEFAULT_WORLD

        world = DEFAULT_WORLD if world is None else world

        named = lambda catalogue: tuple((name, tuple(values)) for name, values in catalogue.items())  # noqa: E731
        v2 = dict(background=named(BACKGROUND_ATTRIBUTES), layout=named(LAYOUT_ATTRIBUTES),
                  props=tuple(SUBJECTS)) if world >= 2 else {}
        return cls(subjects=tuple(SUBJECTS), attributes=named(ATTRIBUTES), scenes=tuple(SCENES), **v2, **sizes)

    @property
    def world(self) -> int:
        return 2 if self.background else 1


@dataclass
class Predictions:
    subject: torch.Tensor                       # (N, n_subjects) probabilities, order = list(SUBJECTS)
    attributes: dict[str, torch.Tensor]         # name -> (N, n_values), order = ATTRIBUTES[name]
    scene: torch.Tensor                         # (N, n_scenes), order = SCENES
    mask: torch.Tensor                          # (N, H, W) subject probability at input resolution
    embedding: torch.Tensor                     # (N, E, h, w) identity embedding, unit norm over E
    # world v2 evaluators only (empty / None from a v1 evaluator)
    background: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (N, n_values)
    layout: dict[str, torch.Tensor] = field(default_factory=dict)      # name -> (N, n_values)
    props: torch.Tensor | None = None           # (N, n_classes) probability that a prop of each class is present
    prop_mask: torch.Tensor | None = None       # (N, H, W) probability that a pixel shows a prop


# ---------------------------------------------------------------- network


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.SiLU())


class _Residual(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(_conv(c, c), nn.Conv2d(c, c, 3, 1, 1), nn.GroupNorm(8, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x + self.body(x))


def _masked_mean(feat: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean of feat (N, C, h, w) weighted by weight (N, 1, H, W) resized to (h, w)."""
    w = F.adaptive_avg_pool2d(weight, feat.shape[-2:])
    return (feat * w).sum((2, 3)) / (w.sum((2, 3)) + 1e-3)


def _mlp(cin: int, cout: int, hidden: int = 128) -> nn.Sequential:
    return nn.Sequential(nn.Linear(cin, hidden), nn.SiLU(), nn.Linear(hidden, cout))


MASK_STATS = ("area", "x", "y", "width", "height")


def mask_stats(mask: torch.Tensor) -> torch.Tensor:
    """(N, h, w) soft mask -> (N, 5): area share, centre x and y (0..1), and the spread (2 std) in x and y."""
    n, h, w = mask.shape
    ys = (torch.arange(h, device=mask.device, dtype=mask.dtype) + 0.5) / h
    xs = (torch.arange(w, device=mask.device, dtype=mask.dtype) + 0.5) / w
    mass = mask.sum((1, 2)) + 1e-3
    px, py = mask.sum(1) / mass[:, None], mask.sum(2) / mass[:, None]  # (N, w), (N, h) marginals
    cx, cy = (px * xs).sum(1), (py * ys).sum(1)
    sx = ((px * (xs - cx[:, None]) ** 2).sum(1) + 1e-6).sqrt()
    sy = ((py * (ys - cy[:, None]) ** 2).sum(1) + 1e-6).sqrt()
    return torch.stack([mask.mean((1, 2)), cx, cy, 2 * sx, 2 * sy], 1)


class EvaluatorNet(nn.Module):
    """Encoder (levels at 1/2 .. 1/16), a light FPN decoder for mask + embedding, pooled heads."""

    def __init__(self, cfg: EvaluatorConfig):
        super().__init__()
        c, d = cfg.channels, cfg.decoder_channels
        self.levels = nn.ModuleList()
        for i, (cout, depth) in enumerate(zip(c, cfg.blocks)):
            entry = _conv(3 if i == 0 else c[i - 1], cout, stride=2)
            self.levels.append(nn.Sequential(entry, *[_Residual(cout) for _ in range(depth)]))
        self.lateral = nn.ModuleList([nn.Conv2d(ci, d, 1) for ci in c])
        self.smooth = nn.ModuleList([_conv(d, d) for _ in c[:-1]])
        self.mask_out = nn.Conv2d(d, 1, 1)
        self.embed_out = nn.Conv2d(d, cfg.embed_dim, 1)
        pooled = c[-1] + c[-2]
        self.subject = nn.Linear(2 * pooled, len(cfg.subjects))
        self.attributes = nn.ModuleList([nn.Linear(2 * pooled, len(v)) for _, v in cfg.attributes])
        self.scene = nn.Linear(2 * pooled, len(cfg.scenes))
        if cfg.background:  # v2 heads, absent from a v1 net so that v1 weights load strictly
            rows = cfg.row_channels * cfg.input_size // 2 ** (len(c) - 1)  # one profile entry per row of the 1/8 grid
            self.rows = nn.Conv2d(c[-2], cfg.row_channels, 1)
            self.background = nn.ModuleList([_mlp(2 * pooled + rows, len(v)) for _, v in cfg.background])
            self.layout = nn.ModuleList([_mlp(2 * pooled + len(MASK_STATS), len(v)) for _, v in cfg.layout])
            self.props = _mlp(2 * pooled, len(cfg.props))
            self.prop_mask_out = nn.Conv2d(d, 1, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """x: (N, 3, S, S) in [0, 1] -> logits; mask logits at S/2, embedding at S/8."""
        feats = []
        h = x * 2 - 1
        for level in self.levels:
            h = level(h)
            feats.append(h)
        top = self.lateral[-1](feats[-1])
        decoded = [top]
        for i in range(len(feats) - 2, -1, -1):  # coarse to fine
            up = F.interpolate(decoded[-1], size=feats[i].shape[-2:], mode="nearest")
            decoded.append(self.smooth[i](up + self.lateral[i](feats[i])))
        mask_logits = self.mask_out(decoded[-1])        # (N, 1, S/2, S/2)
        embed = self.embed_out(decoded[-3] if len(decoded) >= 3 else decoded[-1])  # (N, E, S/8, S/8)
        fg = torch.sigmoid(mask_logits).detach()  # heads pool where the net itself sees the subject
        deep = feats[-2:]
        glob = torch.cat([f.mean((2, 3)) for f in deep], 1)
        fg_pool = torch.cat([torch.cat([_masked_mean(f, fg) for f in deep], 1), glob], 1)
        bg_pool = torch.cat([torch.cat([_masked_mean(f, 1 - fg) for f in deep], 1), glob], 1)
        out = dict(subject=self.subject(fg_pool), scene=self.scene(bg_pool), mask=mask_logits[:, 0],
                   embedding=F.normalize(embed, dim=1))
        for i, head in enumerate(self.attributes):
            out[f"attr{i}"] = head(fg_pool)
        if hasattr(self, "background"):
            out.update(self._v2_heads(feats, decoded[-1], fg, fg_pool, bg_pool))
        return out

    def _v2_heads(self, feats, fine, fg, fg_pool, bg_pool) -> dict[str, torch.Tensor]:
        """Background heads read a per-row profile (the horizon is a row), layout heads the subject
        mask's moments (placement and size are where and how much of it there is)."""
        rows = self.rows(feats[-2]).mean(3).flatten(1)  # (N, row_channels * h): mean over each row of the 1/8 grid
        bg_in = torch.cat([bg_pool, rows], 1)
        fg_in = torch.cat([fg_pool, mask_stats(fg[:, 0])], 1)
        out = {f"bg{i}": head(bg_in) for i, head in enumerate(self.background)}
        out.update({f"layout{i}": head(fg_in) for i, head in enumerate(self.layout)})
        out["props"] = self.props(bg_pool)
        out["prop_mask"] = self.prop_mask_out(fine)[:, 0]  # (N, S/2, S/2) logits
        return out


# ---------------------------------------------------------------- inputs


def to_batch(images) -> torch.Tensor:
    """(N, 3, H, W) float in [0, 1] from a tensor, or from a list of PIL images / uint8 (H, W, 3) arrays."""
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[1] != 3:
            raise SvdStoryError(f"images of shape {tuple(images.shape)}: expected (N, 3, H, W)")
        batch = images.float()
    else:
        arrays = [np.asarray(im.convert("RGB")) if hasattr(im, "convert") else np.asarray(im) for im in images]
        if not arrays or any(a.ndim != 3 or a.shape[2] != 3 for a in arrays):
            raise SvdStoryError("images: expected a non-empty list of RGB (H, W, 3) images")
        batch = torch.stack([torch.from_numpy(a.copy()).permute(2, 0, 1) for a in arrays]).float() / 255
    if min(batch.shape[-2:]) < 64:
        raise SvdStoryError(f"images of size {tuple(batch.shape[-2:])}: need H, W >= 64")
    return batch


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def fill_subject(images: torch.Tensor, masks: torch.Tensor, grow: int = 2) -> torch.Tensor:
    """Paint the (slightly grown) subject region with the mean colour of the rest of the image.

    images (N, 3, H, W) in [0, 1]; masks (N, H', W') bool or probabilities, resized to (H, W).
    Growing the mask hides the subject's anti-aliased rim, which would otherwise leak its colour.
    """
    m = masks.float().unsqueeze(1)
    if m.shape[-2:] != images.shape[-2:]:
        m = F.interpolate(m, size=images.shape[-2:], mode="bilinear", align_corners=False)
    m = (m > 0.5).float()
    if grow:
        m = F.max_pool2d(m, 2 * grow + 1, stride=1, padding=grow)
    keep = 1 - m
    mean = (images * keep).sum((2, 3), keepdim=True) / (keep.sum((2, 3), keepdim=True) + 1e-6)
    return images * keep + mean * m


# ---------------------------------------------------------------- inference API


def default_evaluator_path() -> Path:
    return Path(__file__).resolve().parents[1] / "assets" / "evaluator"


def config_from_json(data: dict) -> EvaluatorConfig:
    data = dict(data)
    for key in ("attributes", "background", "layout"):
        data[key] = tuple((n, tuple(v)) for n, v in data.get(key, ()))
    for key in ("subjects", "scenes", "channels", "blocks", "props"):
        data[key] = tuple(data.get(key, ()))
    return EvaluatorConfig(**data)


class Evaluator:
    """Inference wrapper around `EvaluatorNet`; see `Predictions` for the outputs."""

    def __init__(self, net: EvaluatorNet, cfg: EvaluatorConfig, device: str | torch.device = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.net = net.to(self.device).float().eval()

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> "Evaluator":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(path) if path is not None else default_evaluator_path()
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise SvdStoryError(f"evaluator folder {folder}: missing {CONFIG_NAME} or {WEIGHTS_NAME}")
        try:
            cfg = config_from_json(json.loads((folder / CONFIG_NAME).read_text()))
            net = EvaluatorNet(cfg)
            state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_NAME)).items()}
            net.load_state_dict(state)
        except (ValueError, KeyError, TypeError, AttributeError, RuntimeError, SafetensorError) as err:
            # not JSON, a config of other fields, weights that are damaged or of another shape
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise SvdStoryError(f"evaluator folder {folder}: {CONFIG_NAME} or {WEIGHTS_NAME} is damaged or does "
                                f"not match ({first})") from None
        return cls(net, cfg, device)

    def save(self, path: str | Path) -> None:
        """Weights as fp16 safetensors plus the config (label names included) as JSON."""
        from safetensors.torch import save_file

        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / CONFIG_NAME).write_text(json.dumps(asdict(self.cfg), indent=1))
        state = {k: v.detach().half().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(folder / WEIGHTS_NAME))

    @torch.inference_mode()
    def predict(self, images, batch_size: int = 64) -> Predictions:
        batch = to_batch(images)
        parts = [self._predict_chunk(batch[i:i + batch_size]) for i in range(0, len(batch), batch_size)]
        cat = lambda name: torch.cat([getattr(p, name) for p in parts])  # noqa: E731
        dicts = {name: {k: torch.cat([getattr(p, name)[k] for p in parts]) for k in getattr(parts[0], name)}
                 for name in ("attributes", "background", "layout")}
        v2 = dict(props=cat("props"), prop_mask=cat("prop_mask")) if parts[0].props is not None else {}
        return Predictions(subject=cat("subject"), scene=cat("scene"), mask=cat("mask"), embedding=cat("embedding"),
                           **dicts, **v2)

    def _predict_chunk(self, batch: torch.Tensor) -> Predictions:
        height, width = batch.shape[-2:]
        out = self.net(resize(batch.to(self.device), self.cfg.input_size))
        mask = F.interpolate(out["mask"].unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False)
        probs = lambda key, heads: {name: out[f"{key}{i}"].softmax(-1).cpu() for i, (name, _) in enumerate(heads)}  # noqa: E731
        v2 = {}
        if self.cfg.background:
            prop_mask = F.interpolate(out["prop_mask"].unsqueeze(1), size=(height, width), mode="bilinear",
                                      align_corners=False)
            v2 = dict(background=probs("bg", self.cfg.background), layout=probs("layout", self.cfg.layout),
                      props=torch.sigmoid(out["props"]).cpu(), prop_mask=torch.sigmoid(prop_mask[:, 0]).cpu())
        return Predictions(subject=out["subject"].softmax(-1).cpu(), attributes=probs("attr", self.cfg.attributes),
                           scene=out["scene"].softmax(-1).cpu(), mask=torch.sigmoid(mask[:, 0]).cpu(),
                           embedding=out["embedding"].cpu(), **v2)

    @torch.inference_mode()
    def predict_background(self, images, masks) -> torch.Tensor:
        """(N, n_scenes) scene probabilities of the background alone (subject region filled)."""
        batch = to_batch(images)
        masks = torch.as_tensor(np.asarray(masks)) if not isinstance(masks, torch.Tensor) else masks
        if masks.ndim != 3 or len(masks) != len(batch):
            raise SvdStoryError(f"masks of shape {tuple(masks.shape)}: expected (N, H, W) with N={len(batch)}")
        filled = fill_subject(batch, masks.to(batch.device))
        return self.predict(filled).scene
