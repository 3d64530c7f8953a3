"""Feature models behind the real-model metrics: CLIP (transformers or open_clip), DINOv2, DreamSim.

Each embedder maps PIL images (and CLIP also texts) to (n, d) float tensors; the metric math lives in
`similarity.py`, so tests can swap any embedder for a fake one. open_clip and dreamsim are optional
(`pip install svdstory[real-metrics]`) and imported only when asked for.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import SvdStoryError
from .metric_info import BUNDLED_CLIP, DEFAULT_CLIP, DEFAULT_DINO, DEFAULT_DREAMSIM  # noqa: F401  (re-exported)
BATCH = 32


def _chunks(items, size: int = BATCH):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _pixel_batches(processor, images, device):
    """Batches of RGB pixel tensors from a transformers image processor, on `device`."""
    for chunk in _chunks(list(images)):
        yield processor(images=[im.convert("RGB") for im in chunk], return_tensors="pt")["pixel_values"].to(device)


def _features(output) -> torch.Tensor:
    """transformers 4 returns a tensor from get_*_features; 5 returns an output whose pooler is the projection."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _load_error(option: str, source: str, err: Exception) -> SvdStoryError:
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    return SvdStoryError(f"{option} {source!r} could not be loaded: {first}")


class HFClip:
    """A transformers CLIP model (hub id or folder with model, image processor and tokenizer)."""

    def __init__(self, source: str, device: str = "cpu", parts=None):
        from transformers import AutoImageProcessor, AutoModel, AutoTokenizer

        if parts is None:
            try:
                parts = (AutoModel.from_pretrained(source), AutoImageProcessor.from_pretrained(source),
                         AutoTokenizer.from_pretrained(source))
            except (OSError, ValueError) as err:
                raise _load_error("--clip-model", source, err) from None
        model, self.processor, self.tokenizer = parts
        self.model, self.device = model.to(device).eval(), device

    @torch.no_grad()
    def images(self, images) -> torch.Tensor:
        return torch.cat([_features(self.model.get_image_features(pixel_values=pixels)).float().cpu()
                          for pixels in _pixel_batches(self.processor, images, self.device)])

    @torch.no_grad()
    def texts(self, texts) -> torch.Tensor:
        parts = []
        for chunk in _chunks(list(texts)):
            tokens = self.tokenizer(chunk, padding=True, truncation=True, return_tensors="pt").to(self.device)
            parts.append(_features(self.model.get_text_features(**tokens)).float().cpu())
        return torch.cat(parts)


class OpenClip:
    """`open_clip:ARCH[@PRETRAINED]`: a tag (`ViT-H-14@laion2b_s32b_b79k`), a checkpoint file
    (`ViT-B-32@/models/clip.pt`), or an `hf-hub:owner/name` ARCH that carries its own weights."""

    def __init__(self, spec: str, device: str = "cpu", model=None, preprocess=None, tokenizer=None):
        if model is None:
            model, preprocess, tokenizer = _open_clip_parts(spec, device)
        self.model, self.preprocess, self.tokenizer, self.device = model.eval(), preprocess, tokenizer, device

    @torch.no_grad()
    def images(self, images) -> torch.Tensor:
        parts = []
        for chunk in _chunks(list(images)):
            batch = torch.stack([self.preprocess(im.convert("RGB")) for im in chunk]).to(self.device)
            parts.append(self.model.encode_image(batch).float().cpu())
        return torch.cat(parts)

    @torch.no_grad()
    def texts(self, texts) -> torch.Tensor:
        return torch.cat([self.model.encode_text(self.tokenizer(list(c)).to(self.device)).float().cpu()
                          for c in _chunks(list(texts))])


def _open_clip_parts(spec: str, device: str):
    try:
        import open_clip
    except ImportError:
        raise SvdStoryError(f"--clip-model {spec!r} needs open_clip: pip install 'svdstory[real-metrics]'") from None
    arch, _, pretrained = spec.removeprefix("open_clip:").partition("@")
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(arch, pretrained=pretrained or None, device=device)
        tokenizer = open_clip.get_tokenizer(arch)
    except (RuntimeError, OSError, ValueError) as err:
        raise _load_error("--clip-model", spec, err) from None
    return model, preprocess, tokenizer


class HFVision:
    """A transformers image backbone (DINOv2 by default); the embedding is its pooled CLS token."""

    def __init__(self, source: str, device: str = "cpu", parts=None, option: str = "--dino-model"):
        from transformers import AutoImageProcessor, AutoModel

        if parts is None:
            try:
                parts = (AutoModel.from_pretrained(source), AutoImageProcessor.from_pretrained(source))
            except (OSError, ValueError) as err:
                raise _load_error(option, source, err) from None
        model, self.processor = parts
        self.model, self.device = model.to(device).eval(), device

    @torch.no_grad()
    def images(self, images) -> torch.Tensor:
        parts = []
        for pixels in _pixel_batches(self.processor, images, self.device):
            out = self.model(pixel_values=pixels)
            pooled = getattr(out, "pooler_output", None)
            parts.append((pooled if pooled is not None else out.last_hidden_state[:, 0]).float().cpu())
        return torch.cat(parts)


class DreamSim:
    """`TYPE[@CACHE_DIR]` of the dreamsim package (ensemble, dino_vitb16, open_clip_vitb32, ...)."""

    def __init__(self, spec: str = DEFAULT_DREAMSIM, device: str = "cpu"):
        try:
            from dreamsim import dreamsim
        except ImportError:
            raise SvdStoryError("--metrics dreamsim needs the dreamsim package: "
                                "pip install 'svdstory[real-metrics]'") from None
        kind, _, cache = spec.partition("@")
        kwargs = {"cache_dir": str(Path(cache).expanduser())} if cache else {}
        try:
            self.model, self.preprocess = dreamsim(pretrained=True, device=device, dreamsim_type=kind, **kwargs)
        except (RuntimeError, OSError, ValueError, KeyError) as err:
            raise _load_error("--dreamsim-model", spec, err) from None
        self.device = device

    @torch.no_grad()
    def images(self, images) -> torch.Tensor:
        batch = torch.cat([self.preprocess(im.convert("RGB")) for im in images]).to(self.device)
        return self.model.embed(batch).float().cpu()


def load_clip(source: str, device: str = "cpu"):
    """A transformers CLIP, `open_clip:ARCH[@PRETRAINED]`, `bundled:clip` (the mini CLIP trained on
    SynthWorld, shipped in svdstory/assets/clip), or `tiny` (random, built in code, for tests)."""
    if source == BUNDLED_CLIP:
        from ..mini.clip import default_clip_path

        return HFClip(str(default_clip_path()), device)
    if source.startswith("open_clip:"):
        return OpenClip(source, device)
    if source == "tiny":
        from .tiny_features import tiny_clip_parts

        return HFClip(source, device, tiny_clip_parts())
    return HFClip(source, device)


def load_dino(source: str, device: str = "cpu"):
    if source == "tiny":
        from .tiny_features import tiny_dino_parts

        return HFVision(source, device, tiny_dino_parts())
    return HFVision(source, device)
