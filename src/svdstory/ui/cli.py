"""`svdstory ui`: load the model once and serve the page (Gradio is imported only when it runs)."""
from __future__ import annotations

import os

from ..errors import SvdStoryError


def add_ui_command(subparsers) -> None:
    p = subparsers.add_parser("ui", help="a web page for making consistent stories (Gradio)")
    p.add_argument("--model", help="hub id or local diffusers folder (default: the bundled mini model)")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda if present)")
    p.add_argument("--dtype", help="float32, float16 or bfloat16 (default: float16 on cuda)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    p.add_argument("--port", type=int, help="port (default: 7860, or the next free one)")
    p.add_argument("--share", action="store_true", help="also serve through a public Gradio link")
    p.set_defaults(func=cmd_ui)


def cmd_ui(args) -> int:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # also for what Gradio checks before the Blocks
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise SvdStoryError("svdstory ui needs gradio: pip install 'svdstory[ui]'") from None
    from ..models import load_model
    from .app import build_app, serve
    from .runs import Host

    host = Host(load_model(args.model, args.device, args.dtype))
    serve(build_app(host), args.host, args.port, args.share)
    return 0
