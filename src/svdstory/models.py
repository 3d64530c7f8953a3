"""Load a diffusers pipeline (SD 1.x/2.x, SDXL, the bundled mini model, FLUX.1, SD3) from a hub id or a folder."""
from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch

from .errors import SvdStoryError

BUNDLED = Path(__file__).parent / "assets" / "minisd"
BUNDLED_NAME = "bundled:minisd"  # how runs and benches name the bundled model: the same on every machine
DTYPES = {"float32": torch.float32, "fp32": torch.float32, "float16": torch.float16, "fp16": torch.float16,
          "bfloat16": torch.bfloat16, "bf16": torch.bfloat16}
TINY = ("tiny", "tiny-sdxl", "tiny-flux", "tiny-flux-schnell", "tiny-sd3")  # built in code, random weights


@dataclass
class Model:
    """A loaded pipeline plus what svdstory needs to know about it; everything else asks its backbone."""

    pipe: object  # a diffusers pipeline of a family in backbones.PIPELINES
    source: str  # hub id or local path, as the user gave it ("bundled:minisd" for the default)
    revision: str | None = None
    defaults: dict | None = None  # recommended steps/guidance shipped with the model
    backbone: object = field(init=False, repr=False)  # backbones.Backbone: the one way to the network

    def __post_init__(self):
        from .backbones import backbone_for

        self.backbone = backbone_for(self.pipe)

    @property
    def is_sdxl(self) -> bool:
        return type(self.pipe).__name__.startswith("StableDiffusionXL")

    @property
    def vae_factor(self) -> int:
        return self.backbone.vae_factor

    @property
    def side(self) -> int:
        """The side in pixels of the images the model was made for."""
        return self.backbone.side

    @property
    def device(self) -> torch.device:
        return self.backbone.device

    @property
    def dtype(self) -> torch.dtype:
        return self.backbone.dtype


def default_model_source() -> str:
    return BUNDLED_NAME if (BUNDLED / "model_index.json").is_file() else "tiny"


def local_path(source: str) -> str:
    """Where a model source's files are: the bundled model's folder for its name, else the source itself."""
    return str(BUNDLED) if source == BUNDLED_NAME else source


def resolve_dtype(name: str | None, device: str) -> torch.dtype:
    if name is None:
        return torch.float16 if str(device).startswith("cuda") else torch.float32
    if name not in DTYPES:
        raise SvdStoryError(f"--dtype {name!r} is not one of float32, float16, bfloat16")
    return DTYPES[name]


def resolve_device(name: str | None) -> str:
    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SvdStoryError(f"--device {name!r}: no CUDA GPU is visible")
    if name.split(":")[0] not in ("cpu", "cuda", "mps"):
        raise SvdStoryError(f"--device {name!r} is not cpu, cuda[:N] or mps")
    return name


def model_folder(source: str, revision: str | None = None) -> Path | None:
    """The folder holding a model's files: a local folder, or a hub id's snapshot in the local cache; None
    for a hub id not cached yet. Fails in one line for a folder that is not a diffusers model."""
    path = Path(local_path(source))
    if path.exists():
        if not (path / "model_index.json").is_file():
            raise SvdStoryError(f"--model {source!r} is not a diffusers model folder (no model_index.json)")
        return path
    if source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise SvdStoryError(f"--model {source!r}: no such folder, and not a hub id of the form owner/name")
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(source, "model_index.json", revision=revision)
    return Path(cached).parent if isinstance(cached, str) else None


def read_model_index(folder: Path, source: str) -> dict:
    """A model folder's model_index.json (which parts the pipeline has), or one line saying why it is unusable."""
    return _config_file(folder / "model_index.json", source)


def _config_file(path: Path, source: str) -> dict:
    try:
        data = json.loads(path.read_text())
    except OSError as err:
        raise SvdStoryError(f"--model {source!r}: {path.name} cannot be read: {err.strerror or err}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise SvdStoryError(f"--model {source!r}: {path.name} is not valid JSON ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise SvdStoryError(f"--model {source!r}: {path.name} does not hold a JSON object")
    return data


def check_downloadable(source: str) -> None:
    """A hub id that is not cached must be downloaded: say so in one line when it cannot be."""
    from huggingface_hub import constants

    why = None
    if constants.HF_HUB_OFFLINE:
        why = "HF_HUB_OFFLINE is set"
    else:
        host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
        try:
            socket.create_connection((host, 443), timeout=5).close()
        except OSError as err:
            why = f"{host} cannot be reached ({err.strerror or err})"
    if why:
        raise SvdStoryError(f"--model {source!r} is neither a local folder nor in the local Hugging Face cache, "
                            f"and cannot be downloaded: {why}")


def _pipeline_class(source: str, revision: str | None):
    """Read model_index.json (local or hub) to pick the pipeline class: SD, SDXL, FLUX.1 or SD3."""
    import diffusers

    from .backbones import PIPELINES

    folder = model_folder(source, revision)
    if folder is not None:
        name = str(read_model_index(folder, source).get("_class_name", ""))
    else:
        check_downloadable(source)
        try:
            name = diffusers.DiffusionPipeline.load_config(source, revision=revision).get("_class_name", "")
        except Exception as err:  # auth or missing repo: all user-facing
            raise SvdStoryError(f"--model {source!r} could not be fetched from the hub: {str(err).splitlines()[0]}") from None
    if name in PIPELINES:
        return getattr(diffusers, name)
    if "XL" in name:
        return diffusers.StableDiffusionXLPipeline
    if (name.startswith("StableDiffusion") and not name.startswith("StableDiffusion3")) or name == "":
        return diffusers.StableDiffusionPipeline
    raise SvdStoryError(f"--model {source!r} is a {name}, not a pipeline svdstory runs "
                        f"(SD 1.x/2.x, SDXL, FLUX.1 or SD3)")


def load_model(source: str | None = None, device: str | None = None, dtype: str | None = None,
               revision: str | None = None) -> Model:
    """Load a pipeline; `source` is a hub id, a local folder, a name in TINY, or None for the bundled default."""
    device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, device)
    source = source or default_model_source()
    if source in TINY:
        from .tiny import tiny_model_pipeline

        pipe = tiny_model_pipeline(source).to(device)
        if torch_dtype != torch.float32:  # built in float32; diffusers warns on every .to(dtype), needed or not
            pipe = pipe.to(dtype=torch_dtype)
        return Model(pipe, source, None, {"steps": 10, "guidance": 5.0})
    path = local_path(source)
    cls = _pipeline_class(path, revision)
    defaults = _shipped_defaults(path, source)  # a damaged file fails before the weights load
    _hide_loading_bars()
    kwargs = {_dtype_keyword(): torch_dtype, "revision": revision}
    if cls.__name__ == "StableDiffusionPipeline":
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    from safetensors import SafetensorError

    try:
        pipe = cls.from_pretrained(path, **kwargs)
    except (OSError, ValueError, SafetensorError) as err:  # a missing or corrupt file (transformers passes on
        # safetensors' own error for a damaged weights file, where diffusers turns it into an OSError)
        raise SvdStoryError(f"--model {source!r} could not be loaded: {str(err).splitlines()[0]}") from None
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    return Model(pipe, source, revision, defaults)


def _dtype_keyword() -> str:
    """Recent diffusers take `dtype` and warn on `torch_dtype`; older ones only know `torch_dtype`."""
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _hide_loading_bars() -> None:
    """The CLI's quiet, also where transformers was imported before the CLI set it (its bar reads the environment
    once, at import): a bar over the weights of a text encoder would stand above a one-line error."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    if os.environ.get("DIFFUSERS_VERBOSITY") == "error":  # set by the CLI; library users keep their settings
        diffusers_logging.disable_progress_bar()
        transformers_logging.disable_progress_bar()


def _shipped_defaults(folder: str, source: str) -> dict:
    """The steps and guidance a model folder recommends in its svdstory.json (the bundled model has one)."""
    path = Path(folder) / "svdstory.json"
    return _config_file(path, source) if path.is_file() else {}
