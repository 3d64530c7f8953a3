"""Write a run's results atomically: images, grid, masks and run.json appear complete or not at all."""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import SvdStoryError


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj) -> None:
    """allow_nan=False: NaN is not JSON; inputs refuse non-finite numbers, so one here is a bug to see."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n").encode())


def image_grid(images, columns: int | None = None):
    from PIL import Image

    columns = columns or len(images)
    rows = (len(images) + columns - 1) // columns
    w, h = images[0].size
    grid = Image.new("RGB", (columns * w, rows * h), "white")
    for i, img in enumerate(images):
        grid.paste(img.convert("RGB"), ((i % columns) * w, (i // columns) * h))
    return grid


def package_versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for name in ("svdstory", "torch", "diffusers", "transformers", "accelerate", "safetensors", "numpy", "Pillow"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def check_out_dir(out: Path) -> None:
    """Refuse an output folder that holds a previous run rather than mixing two runs' files."""
    if out.exists() and not out.is_dir():
        raise SvdStoryError(f"--out {str(out)!r} exists and is not a folder")
    if (out / "run.json").exists():
        raise SvdStoryError(f"--out {str(out)!r} already holds a run (run.json); choose a new folder")


def check_writable(out: Path, what: str = "--out") -> None:
    """Fail now, not after the work, if `out` cannot be created and written: try it in the nearest existing
    folder (the results are built beside `out`, then moved in), leaving nothing behind."""
    out = Path(out).absolute()
    places = [out] if out.is_dir() else []
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise SvdStoryError(f"{what} {str(out)!r}: {str(parent)!r} is not a folder")
    for place in places + [parent]:
        try:
            os.rmdir(tempfile.mkdtemp(dir=place, prefix=".svdstory-probe-"))
        except OSError as err:
            raise SvdStoryError(f"{what} {str(out)!r} cannot be written: {str(place)!r}: "
                                f"{err.strerror or err}") from None


def save_result(result, out: Path, extra_info: dict | None = None) -> list[Path]:
    """`write_run` into the folder --out names; a write that fails (a full disk) is one line naming it."""
    out = Path(out)
    check_out_dir(out)
    try:
        return write_run(result, out, extra_info)
    except OSError as err:
        raise SvdStoryError(f"--out {str(out)!r} could not be written: {err.strerror or err}") from None


def write_run(result, out: Path, extra_info: dict | None = None) -> list[Path]:
    """Every file of a run, then run.json, written `staged` into `out`."""
    with staged(out) as staging:
        names = _write_files(result, staging)
        info = {**result.info, "prompts": result.prompts, "seeds": result.seeds, "files": names,
                "versions": package_versions(), **(extra_info or {})}
        atomic_write_json(staging / "run.json", info)
    return [out / n for n in names] + [out / "run.json"]


@contextmanager
def staged(out: Path):
    """A staging folder beside `out` to write into; at the end its files move into `out` at once (one rename of
    the folder when `out` is new or empty). A write that fails (OSError) leaves no `out` and no staging folder."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging-"))
    try:
        os.chmod(staging, 0o755)  # mkdtemp creates 0700; the folder becomes `out`, as readable as its files
        yield staging
        if not out.exists() or not any(out.iterdir()):
            if out.exists():
                out.rmdir()
            os.replace(staging, out)  # one atomic rename: the folder appears complete
        else:
            for path in sorted(staging.iterdir()):
                os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _write_files(result, folder: Path) -> list[str]:
    names = []

    def save(img, name):
        img.save(folder / name)
        names.append(name)

    for i, img in enumerate(result.images):
        save(img, f"image_{i:02d}.png")
    photo = result.photo
    if photo is not None:  # the reference photo (and mask), lossless: a rerun reads the very pixels this run read
        save(photo.image, result.info["reference"]["photo"])
        if photo.mask is not None:
            save(photo.mask, result.info["reference"]["mask"])
    save(image_grid(([photo.image] if photo is not None else []) + list(result.images)), "grid.png")
    for i, per_image in enumerate(result.masks or []):
        for s, mask in enumerate(per_image):
            save(mask, f"mask_{i:02d}_subject{s}.png")
    if result.masks:
        save(image_grid([per[0] for per in result.masks]), "masks.png")
    return names
