"""Train the mini CLIP (world v2) contrastively on SynthWorld renders and their captions.

Data is rendered on the fly (world v2, captions that move the subject word and name details).
Every invocation stops itself after --max-minutes and leaves a compact checkpoint in --ckpt (fp32
weights, no optimizer moments: each invocation warms the LR up again); the next invocation with
the same --ckpt continues. Data-parallel under `accelerate launch` (each process renders its own
stream; the loss is the local batch's).

  python scripts/train_clip.py --ckpt .ckpt/clip --max-minutes 8.5
  accelerate launch --num_processes 4 scripts/train_clip.py --ckpt .ckpt/clip --max-minutes 8.5
  python scripts/train_clip.py --ckpt .ckpt/clip --max-minutes 0 --export .ckpt/clip_export
  (the export loads with svdstory.mini.clip.load_clip, and as --clip-model of the real-model metrics)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_common import bare_package  # noqa: E402

bare_package()
from train_common import Deadline, Log, load_checkpoint, prefixed, save_checkpoint, seed_everything  # noqa: E402
from train_common import Parallel, common_arguments, unprefixed, worker_count  # noqa: E402

from svdstory.mini import clip, minisd  # noqa: E402
from svdstory.mini.tokenizer import make_tokenizer, tokenizer_files, write_tokenizer_files  # noqa: E402
from svdstory.world import SUBJECTS  # noqa: E402
from svdstory.world.catalog import DEFAULT_WORLD  # noqa: E402
from svdstory.world.data import StreamConfig, WorldStream, fixed_set  # noqa: E402

HELD_OUT_SEED = 999_998


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, DEFAULT_WORLD)
    p.add_argument("--batch", type=int, default=512, help="per process")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--anneal", action="store_true", help="decay the LR linearly to 5%% over this invocation")
    p.add_argument("--attribute-rate", type=float, default=0.5, help="fraction of captions naming identity attributes")
    p.add_argument("--detail-rate", type=float, default=0.6, help="fraction naming background/layout/prop details")
    p.add_argument("--token-loss", type=float, default=0.0,
                   help="weight of a read-out of every text token's output to its own id (keeps words in the outputs)")
    p.add_argument("--tiny", action="store_true", help="tiny model, 64 px (CPU smoke test)")
    p.add_argument("--held-out", type=int, default=512, help="held-out renders for the retrieval report (0: none)")
    p.add_argument("--export", type=Path, default=None, help="write the CLIPModel folder (fp16) + tokenizer")
    return p.parse_args(argv)


def fresh_state(args) -> dict:
    cfg = clip.tiny_clip_config() if args.tiny else clip.MiniCLIPConfig()
    from svdstory.world.captions_v2 import vocabulary_v2

    vocab, merges = tokenizer_files(vocabulary_v2())
    return dict(config=asdict(cfg), vocab=vocab, merges=merges, steps=0, invocations=0, images_seen=0, minutes=0.0,
                world=args.world)


class Collate:
    """Stacks images and tokenizes captions (padded with the end token to the full context, as SD)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer

    def __call__(self, items: list[dict]) -> dict:
        captions = [it["caption"] for it in items]
        ids = self.tokenizer(captions, padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids
        return dict(image=torch.stack([it["image"] for it in items]), input_ids=ids, caption=captions)


def same_caption(captions: list[str], device) -> torch.Tensor:
    """(B, B) float: 1 where two captions are the same text (true of both images), rows summing to 1."""
    index = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    ids = torch.tensor([index[c] for c in captions], device=device)
    same = (ids[:, None] == ids[None]).float()
    return same / same.sum(1, keepdim=True)


class Trained(torch.nn.Module):
    """The CLIP and a linear read-out of each text token's output back to its own id (used when
    --token-loss > 0); one module, so that a data-parallel wrapper syncs both."""

    def __init__(self, model, vocab_size: int):
        super().__init__()
        self.clip = model
        self.readout = torch.nn.Linear(model.config.text_config.hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor, pixels: torch.Tensor):
        out = self.clip(input_ids=ids, pixel_values=pixels)
        return out.logits_per_image, self.readout(out.text_model_output.last_hidden_state)


def losses(model, pixels, ids, targets, eos_id: int) -> dict[str, torch.Tensor]:
    """CLIP's symmetric InfoNCE (Radford et al. 2021), identical captions counted as positives; and
    the token read-out (cross-entropy over the caption's own tokens, start and padding excluded)."""
    logits, readout = model(ids, pixels)  # (B, B) scaled by exp(logit_scale); (B, L, V)
    out = {"clip": 0.5 * (F.cross_entropy(logits.float(), targets) + F.cross_entropy(logits.T.float(), targets))}
    words = ids.clone()
    words[:, 0] = -100
    words[ids == eos_id] = -100
    out["token"] = F.cross_entropy(readout.float().flatten(0, 1), words.flatten(), ignore_index=-100)
    return out


def train(model, meta, args, deadline: Deadline, log: Log, par: Parallel) -> None:
    cfg = clip.clip_config_from_dict(meta["config"])
    tok = make_tokenizer(meta["vocab"], meta["merges"], cfg.max_length)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1, betas=(0.9, 0.98))
    eos = tok.eos_token_id
    model, opt = par.prepare(model, opt)
    stream_id = (args.seed * 1000 + 10 * meta["invocations"] + 3) * 64 + par.rank  # never shared across processes
    stream = WorldStream(StreamConfig(seed=stream_id, size=cfg.image_size, attribute_rate=args.attribute_rate,
                                      world=meta["world"], detail_rate=args.detail_rate))
    workers = worker_count(args.workers)
    loader = torch.utils.data.DataLoader(stream, batch_size=args.batch, num_workers=workers, collate_fn=Collate(tok),
                                         pin_memory=True, prefetch_factor=4 if workers else None)
    t0, seen0 = time.monotonic(), meta["images_seen"]
    for step, batch in enumerate(loader):
        warm = min(1.0, (step + 1) / args.warmup)
        decay = (1 - 0.95 * deadline.fraction()) if args.anneal else 1.0
        for group in opt.param_groups:
            group["lr"] = args.lr * warm * decay
        pixels = clip.pixel_values(batch["image"].to(par.device, non_blocking=True).float() / 255, cfg.image_size)
        ids = batch["input_ids"].to(par.device, non_blocking=True)
        with par.autocast():
            parts = losses(model, pixels, ids, same_caption(batch["caption"], par.device), eos)
            loss = parts["clip"] + args.token_loss * parts["token"]
        opt.zero_grad(set_to_none=True)
        par.backward(loss)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():  # CLIP's clamp of the learnt temperature (at most 100)
            par.unwrap(model).clip.logit_scale.clamp_(max=4.6052)
        meta["steps"] += 1
        meta["images_seen"] += len(ids) * par.world
        if step % 100 == 0:
            rate = (meta["images_seen"] - seen0) / max(1e-6, time.monotonic() - t0)
            log(f"clip step {meta['steps']} clip loss {parts['clip'].item():.4f} token loss {parts['token'].item():.4f} "
                f"img/s {rate:.0f}")
        if par.any(deadline.passed() or bool(args.max_steps and step + 1 >= args.max_steps)):
            break
    meta["minutes"] += (time.monotonic() - t0) / 60
    meta["gpu_minutes"] = meta.get("gpu_minutes", 0.0) + par.world * (time.monotonic() - t0) / 60
    return par.unwrap(model)


@torch.no_grad()
def report(model, meta, count: int) -> dict:
    """Held-out image->caption retrieval (top-1 among `count`, a same-text caption counts) and the
    word-carrying check of the text tower."""
    cfg = clip.clip_config_from_dict(meta["config"])
    tok = make_tokenizer(meta["vocab"], meta["merges"], cfg.max_length)
    model = model.float().eval()
    out = {}
    if count:
        data = fixed_set(StreamConfig(seed=HELD_OUT_SEED, size=cfg.image_size, world=meta["world"],
                                      attribute_rate=0.5, detail_rate=0.6), count)
        device = next(model.parameters()).device
        pixels = clip.pixel_values(data["image"].float().to(device) / 255, cfg.image_size)
        ids = Collate(tok)([{"image": data["image"][0], "caption": c} for c in data["caption"]])["input_ids"].to(device)
        best = model(input_ids=ids, pixel_values=pixels).logits_per_image.argmax(1).cpu()
        out["retrieval_top1"] = round(sum(data["caption"][b] == c for b, c in zip(best, data["caption"])) / count, 4)
    carry = clip.word_carrying(clip.text_tower(model.cpu()), tok, list(SUBJECTS))
    out.update({k: v for k, v in carry.items() if k not in ("words",)})
    return out


def export(model, meta, folder: Path) -> None:
    """A fp16 CLIPModel folder with its tokenizer and image processor beside it, as a hub CLIP
    checkpoint is laid out: `clip.load_clip` and the metrics' `HFClip` (--clip-model) both load it."""
    from transformers import CLIPImageProcessor

    cfg = clip.clip_config_from_dict(meta["config"])
    tok = make_tokenizer(meta["vocab"], meta["merges"], cfg.max_length)
    model = model.cpu()
    model.to(torch.float16).save_pretrained(str(folder), safe_serialization=True)
    model.float()
    tok.save_pretrained(str(folder))
    write_tokenizer_files(folder, meta["vocab"], [tuple(m) for m in meta["merges"]])
    CLIPImageProcessor(size={"shortest_edge": cfg.image_size}, crop_size={"height": cfg.image_size, "width": cfg.image_size},
                       image_mean=list(clip.IMAGE_MEAN), image_std=list(clip.IMAGE_STD)).save_pretrained(str(folder))
    (folder / "svdstory_clip.json").write_text(json.dumps({"config": meta["config"], "world": meta["world"],
                                                          "steps": meta["steps"], "report": meta.get("report")}, indent=1))


def main(argv=None) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    args = parse_args(argv)
    deadline = Deadline(args.max_minutes)
    par = Parallel()
    log = Log(args.log, "clip ") if par.is_main else (lambda *parts: None)
    has_ckpt = bool(list(args.ckpt.glob("shard-*")))
    tensors, meta = load_checkpoint(args.ckpt) if has_ckpt else (None, fresh_state(args))
    seed_everything(args.seed + 7919 * (1 + meta["invocations"]) + 104729 * par.rank)
    cfg = clip.clip_config_from_dict(meta["config"])
    model = Trained(clip.build_clip(cfg, make_tokenizer(meta["vocab"], meta["merges"], cfg.max_length)),
                    len(meta["vocab"]))
    if tensors:
        model.clip.load_state_dict(unprefixed(tensors, "clip"))
        model.readout.load_state_dict(unprefixed(tensors, "readout"))
    model.to(par.device).train()
    log(f"start: invocation {meta['invocations']}, steps {meta['steps']}, processes {par.world}, "
        f"params {sum(p.numel() for p in model.parameters())}")
    if args.max_minutes > 0:
        model = train(model, meta, args, deadline, log, par)
        meta["invocations"] += 1
    if par.is_main:
        if args.max_minutes > 0 or args.export is not None:
            meta["report"] = report(model.clip, meta, args.held_out)
            log("report", meta["report"])
        if args.max_minutes > 0:
            tensors = prefixed(model.clip.state_dict(), "clip") | prefixed(model.readout.state_dict(), "readout")
            paths = save_checkpoint(args.ckpt, tensors, meta)
            log("checkpoint", [f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in paths], meta["steps"])
        if args.export is not None:
            export(model.clip, meta, args.export)
            log(f"exported CLIP to {args.export}")
    par.wait()


if __name__ == "__main__":
    main()
