"""The SynthWorld evaluator: a small CNN that reads back subject, attributes, scene and mask.

Because SynthWorld images are rendered from known labels, this network, trained on renders, gives
exact-ground-truth style metrics for generated images: is the subject the prompted class, do the
hidden attributes stay the same across a story, is the scene right, and where is the subject.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
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

    @classmethod
    def for_world(cls, **sizes) -> "EvaluatorConfig":
        from svdstory.world import ATTRIBUTES, SCENES, SUBJECTS

        attrs = tuple((name, tuple(values)) for name, values in ATTRIBUTES.items())
        return cls(subjects=tuple(SUBJECTS), attributes=attrs, scenes=tuple(SCENES), **sizes)


@dataclass
class Predictions:
    subject: torch.Tensor                       # (N, n_subjects) probabilities, order = list(SUBJECTS)
    attributes: dict[str, torch.Tensor]         # name -> (N, n_values), order = ATTRIBUTES[name]
    scene: torch.Tensor                         # (N, n_scenes), order = SCENES
    mask: torch.Tensor                          # (N, H, W) subject probability at input resolution
    embedding: torch.Tensor                     # (N, E, h, w) identity embedding, unit norm over E


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
    data["attributes"] = tuple((n, tuple(v)) for n, v in data["attributes"])
    for key in ("subjects", "scenes", "channels", "blocks"):
        data[key] = tuple(data[key])
    return EvaluatorConfig(**data)


class Evaluator:
    """Inference wrapper around `EvaluatorNet`; see `Predictions` for the outputs."""

    def __init__(self, net: EvaluatorNet, cfg: EvaluatorConfig, device: str | torch.device = "cpu"):
        self.cfg = cfg
        self.device = torch.device(device)
        self.net = net.to(self.device).float().eval()

    @classmethod
    def load(cls, path: str | Path | None = None, device: str | torch.device = "cpu") -> "Evaluator":
        from safetensors.torch import load_file

        folder = Path(path) if path is not None else default_evaluator_path()
        if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
            raise SvdStoryError(f"evaluator folder {folder}: missing {CONFIG_NAME} or {WEIGHTS_NAME}")
        cfg = config_from_json(json.loads((folder / CONFIG_NAME).read_text()))
        net = EvaluatorNet(cfg)
        state = {k: v.float() for k, v in load_file(str(folder / WEIGHTS_NAME)).items()}
        net.load_state_dict(state)
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
        return Predictions(
            subject=torch.cat([p.subject for p in parts]), scene=torch.cat([p.scene for p in parts]),
            attributes={k: torch.cat([p.attributes[k] for p in parts]) for k in parts[0].attributes},
            mask=torch.cat([p.mask for p in parts]), embedding=torch.cat([p.embedding for p in parts]))

    def _predict_chunk(self, batch: torch.Tensor) -> Predictions:
        height, width = batch.shape[-2:]
        out = self.net(resize(batch.to(self.device), self.cfg.input_size))
        mask = F.interpolate(out["mask"].unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False)
        attrs = {name: out[f"attr{i}"].softmax(-1).cpu() for i, (name, _) in enumerate(self.cfg.attributes)}
        return Predictions(subject=out["subject"].softmax(-1).cpu(), attributes=attrs,
                           scene=out["scene"].softmax(-1).cpu(), mask=torch.sigmoid(mask[:, 0]).cpu(),
                           embedding=out["embedding"].cpu())

    @torch.inference_mode()
    def predict_background(self, images, masks) -> torch.Tensor:
        """(N, n_scenes) scene probabilities of the background alone (subject region filled)."""
        batch = to_batch(images)
        masks = torch.as_tensor(np.asarray(masks)) if not isinstance(masks, torch.Tensor) else masks
        if masks.ndim != 3 or len(masks) != len(batch):
            raise SvdStoryError(f"masks of shape {tuple(masks.shape)}: expected (N, H, W) with N={len(batch)}")
        filled = fill_subject(batch, masks.to(batch.device))
        return self.predict(filled).scene
