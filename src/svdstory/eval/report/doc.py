"""The report as a list of blocks, rendered twice: Markdown (images as files) and one self-contained HTML page."""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

THUMB = 96  # pixels: the side of each story thumbnail in the HTML page
FILES = "report_files"  # the folder beside the report that holds its PNGs


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Table:
    header: tuple
    rows: tuple  # tuples of cell strings


@dataclass(frozen=True)
class Figure:
    path: Path  # a PNG beside the report
    caption: str


@dataclass(frozen=True)
class Strip:
    """One story's images in a row: `path` is their composite PNG (Markdown), `images` the sources (HTML)."""

    title: str
    path: Path
    images: tuple


def cell(e) -> str:
    """An Estimate as a table cell: mean [low, high], or '-' without values."""
    return "-" if e.n == 0 else f"{e.mean:.4f} [{e.low:.4f}, {e.high:.4f}]"


def p_cell(p: float) -> str:
    return "-" if p != p else f"{p:.3g}"


def png_bytes(image) -> bytes:
    """A PIL image as PNG bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def write_png(path: Path, png: bytes) -> Path:
    from ...output import atomic_write_bytes

    atomic_write_bytes(path, png)
    return path


def to_markdown(blocks, out_dir: Path) -> str:
    parts = []
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"{'#' * b.level} {b.text}")
        elif isinstance(b, Text):
            parts.append(b.text)
        elif isinstance(b, Table):
            lines = [_md_row(b.header), _md_row(["---"] * len(b.header))] + [_md_row(r) for r in b.rows]
            parts.append("\n".join(lines))
        elif isinstance(b, Figure):
            parts.append(f"![{b.caption}]({b.path.relative_to(out_dir).as_posix()})\n\n*{b.caption}*")
        elif isinstance(b, Strip):
            parts.append(f"**{b.title}**\n\n![{b.title}]({b.path.relative_to(out_dir).as_posix()})")
    return "\n\n".join(parts) + "\n"


def _md_row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


_STYLE = ("body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
          "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}"
          ".strip img{margin-right:2px}.strip p{margin:.8em 0 .2em}"
          ".wide{overflow-x:auto;max-width:100%}")  # a table wider than the page scrolls in its own box


def to_html(blocks, title: str) -> str:
    body = []
    for b in blocks:
        if isinstance(b, Heading):
            body.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Text):
            body.append(f"<p>{html.escape(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in b.header)
            rows = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in b.rows)
            body.append(f"<div class=\"wide\"><table><tr>{head}</tr>{rows}</table></div>")
        elif isinstance(b, Figure):
            body.append(f"<figure><img src=\"{data_uri(b.path, None)}\" alt=\"{html.escape(b.caption)}\">"
                        f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
        elif isinstance(b, Strip):
            thumbs = "".join(f"<img src=\"{data_uri(p, THUMB)}\" width=\"{THUMB}\">" for p in b.images)
            body.append(f"<div class=\"strip\"><p>{html.escape(b.title)}</p>{thumbs}</div>")
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{_STYLE}</style></head><body>{''.join(body)}</body></html>\n")


def data_uri(path: Path, thumb: int | None) -> str:
    """A PNG as it is, or a JPEG thumbnail no larger than `thumb` pixels, as a base64 data URI."""
    from PIL import Image

    if thumb is None:
        return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()
    with Image.open(path) as img:
        small = img.convert("RGB")
        small.thumbnail((thumb, thumb))
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
