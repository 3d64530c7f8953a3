"""Train the SynthWorld evaluator (subject, attributes, scene, mask, identity embedding; on world
v2 also every background and layout attribute, prop presence per class and a prop mask).

Batches hold groups of 4 renders of one identity (same class and attribute values, other scene and
pose) so that a supervised contrastive loss can pull their embeddings together. Backgrounds with
the subject painted out (as `Evaluator.predict_background` does) train the scene head as well.

  python scripts/train_evaluator.py --ckpt .ckpt/evaluator --max-minutes 8.5 --export src/svdstory/assets/evaluator
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_common import bare_package  # noqa: E402

bare_package()
from train_common import Deadline, Log, load_checkpoint, pick_device, prefixed, save_checkpoint  # noqa: E402
from train_common import Parallel, common_arguments, seed_everything, unprefixed, worker_count  # noqa: E402

from svdstory.world.catalog import DEFAULT_WORLD  # noqa: E402
from svdstory.world.data import StreamConfig, WorldStream, fixed_set  # noqa: E402
from svdstory.mini.evaluator import Evaluator, EvaluatorConfig, EvaluatorNet, config_from_json  # noqa: E402
from svdstory.mini.evaluator import fill_subject  # noqa: E402

GROUP = 4
HELD_OUT_SEED = 999_999  # never used for training streams


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, DEFAULT_WORLD)
    p.add_argument("--batch", type=int, default=256, help="multiple of 4 (identity groups)")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--reuse", type=int, default=2, help="optimizer steps per rendered batch (fresh augmentations)")
    p.add_argument("--device", default=None)
    p.add_argument("--vae", type=Path, default=None, help="diffusers VAE folder: 30%% of inputs become its reconstructions")
    p.add_argument("--anneal", action="store_true", help="decay the LR to 5%% over this invocation")
    p.add_argument("--held-out", type=int, default=1024, help="held-out renders for the accuracy report")
    p.add_argument("--size", type=int, default=128, help="rendered side (64 for CPU smoke tests)")
    p.add_argument("--export", type=Path, default=None)
    p.add_argument("--init", type=Path, default=None,
                   help="a new checkpoint starts from this exported evaluator (e.g. src/svdstory/assets/evaluator)")
    return p.parse_args(argv)


# ---------------------------------------------------------------- augmentation


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image Gaussian blur, 5x5 separable; sigma (N,)."""
    k = torch.arange(-2, 3, device=x.device, dtype=x.dtype)
    w = torch.exp(-(k[None] ** 2) / (2 * sigma[:, None].clamp(min=1e-3) ** 2))
    w = (w / w.sum(1, keepdim=True)).repeat_interleave(3, 0)  # (N*3, 5)
    n, c, h, wd = x.shape
    y = F.conv2d(F.pad(x.reshape(1, n * c, h, wd), (2, 2, 0, 0), mode="replicate"), w[:, None, None, :], groups=n * c)
    y = F.conv2d(F.pad(y, (0, 0, 2, 2), mode="replicate"), w[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, wd)


def augment(x: torch.Tensor, m: torch.Tensor, vae=None, extra: torch.Tensor | None = None):
    """Degradations that generated images show (softness, resampling, noise, VAE artefacts); flips.

    Returns (images, mask, extra mask flipped alike or None, the (N,) flip flags: a flip turns
    left into right for the layout labels)."""
    n = len(x)
    flip = torch.rand(n, device=x.device) < 0.5
    x, m = torch.where(flip[:, None, None, None], x.flip(-1), x), torch.where(flip[:, None, None], m.flip(-1), m)
    if extra is not None:
        extra = torch.where(flip[:, None, None], extra.flip(-1), extra)
    blur = torch.rand(n, device=x.device) < 0.4
    x = torch.where(blur[:, None, None, None], _blur(x, torch.rand(n, device=x.device) * 1.2 + 0.3), x)
    small = torch.rand(n, device=x.device) < 0.3
    half = F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)
    low = F.interpolate(half, size=x.shape[-2:], mode="bilinear")
    x = torch.where(small[:, None, None, None], low, x)
    if vae is not None:
        pick = torch.rand(n, device=x.device) < 0.3
        with torch.no_grad(), torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=x.device.type == "cuda"):
            rec = vae.decode(vae.encode(x * 2 - 1).latent_dist.mode()).sample.float().add(1).div(2).clamp(0, 1)
        x = torch.where(pick[:, None, None, None], rec, x)
    noisy = torch.rand(n, device=x.device) < 0.3
    x = torch.where(noisy[:, None, None, None], x + 0.03 * torch.randn_like(x), x)
    return x.clamp(0, 1), m, extra, flip


MIRRORED = {"left": "right", "right": "left"}  # layout values a horizontal flip swaps; the rest stay


def flipped_layout(cfg, layout: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Layout label indices (N, n_layout) after flipping the images where `flip` is set: left and
    right swap (placement, facing); centre, front (a front view flips to a front view) and sizes stay."""
    out = layout.clone()
    for i, (_, values) in enumerate(cfg.layout):
        mirror = torch.tensor([values.index(MIRRORED.get(v, v)) for v in values], device=layout.device)
        out[:, i] = torch.where(flip, mirror[layout[:, i]], layout[:, i])
    return out


# ---------------------------------------------------------------- losses


def supcon(z: torch.Tensor, labels: torch.Tensor, tau: float = 0.1) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, eq. 2) over unit vectors z (N, E)."""
    sim = z @ z.T / tau
    eye = torch.eye(len(z), device=z.device, dtype=torch.bool)
    sim = sim.masked_fill(eye, -1e9)
    pos = (labels[:, None] == labels[None]) & ~eye
    log_prob = sim - sim.logsumexp(1, keepdim=True)
    has = pos.any(1)
    return -(log_prob * pos).sum(1)[has].div(pos.sum(1)[has]).mean()


def pooled_embedding(emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    w = F.adaptive_avg_pool2d(mask.unsqueeze(1), emb.shape[-2:])
    return F.normalize((emb * w).sum((2, 3)) / (w.sum((2, 3)) + 1e-3), dim=1)


def location_embeddings(emb: torch.Tensor, mask: torch.Tensor, per_image: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A few embedding vectors from inside each subject: per-location vectors must carry identity too."""
    w = F.adaptive_avg_pool2d(mask.unsqueeze(1), emb.shape[-2:]).flatten(1)  # (N, h*w)
    idx = torch.multinomial(w + 1e-6, per_image, replacement=True)  # (N, k)
    flat = emb.flatten(2)  # (N, E, h*w)
    picked = torch.gather(flat, 2, idx[:, None, :].expand(-1, flat.shape[1], -1))  # (N, E, k)
    owner = torch.arange(len(emb), device=emb.device).repeat_interleave(per_image)
    return picked.permute(0, 2, 1).reshape(-1, flat.shape[1]), owner


def mask_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    t = F.adaptive_avg_pool2d(target.unsqueeze(1), logits.shape[-2:])[:, 0]
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * t).sum((1, 2)) + 1) / (p.sum((1, 2)) + t.sum((1, 2)) + 1)
    return F.binary_cross_entropy_with_logits(logits, t) + 0.5 * dice.mean()


def v2_losses(cfg, full: dict, out: dict, prop_mask: torch.Tensor, layout: torch.Tensor, batch) -> dict:
    """Background heads and prop heads on both the image and its subject-filled background (they
    describe the background either way), layout heads on the image."""
    both = lambda t: torch.cat([t, t])  # noqa: E731
    losses = dict(background=sum(F.cross_entropy(out[f"bg{i}"], both(batch["background"][:, i]))
                                 for i in range(len(cfg.background))),
                  layout=sum(F.cross_entropy(full[f"layout{i}"], layout[:, i]) for i in range(len(cfg.layout))),
                  props=F.binary_cross_entropy_with_logits(out["props"].float(), both(batch["props"])),
                  prop_mask=mask_loss(out["prop_mask"].float(), both(prop_mask)))
    return losses


def total_loss(net, cfg, x, m, batch, prop_mask=None, layout=None) -> tuple[torch.Tensor, dict]:
    n = len(x)
    grown = torch.rand(n, device=x.device) < 0.5  # masks of generated subjects are rarely exact
    bg = fill_subject(x, torch.where(grown[:, None, None], F.max_pool2d(m[:, None], 5, 1, 2)[:, 0], m))
    out = net(torch.cat([x, bg]))
    full = {k: v[:n] for k, v in out.items()}
    losses = dict(subject=F.cross_entropy(full["subject"], batch["subject"]),
                  scene=F.cross_entropy(out["scene"], batch["scene"].repeat(2)),
                  mask=mask_loss(out["mask"], torch.cat([m, torch.zeros_like(m)])))
    losses["attributes"] = sum(F.cross_entropy(full[f"attr{i}"], batch["attributes"][:, i])
                               for i in range(len(cfg.attributes)))
    ident = batch["identity"]
    losses["embed"] = supcon(pooled_embedding(full["embedding"], m), ident)
    loc, owner = location_embeddings(full["embedding"], m)
    losses["embed_loc"] = 0.5 * supcon(loc, ident[owner])
    if cfg.background:
        losses |= v2_losses(cfg, full, out, prop_mask, layout, batch)
    return sum(losses.values()), {k: round(v.item(), 4) for k, v in losses.items()}


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def held_out_report(evaluator: Evaluator, count: int, batch: int = 128) -> dict:
    """Accuracy of every head, mask IoU and identity retrieval on renders no training stream drew."""
    data = fixed_set(StreamConfig(seed=HELD_OUT_SEED, group=GROUP, world=evaluator.cfg.world,
                                  size=evaluator.cfg.input_size), count)
    images = data["image"].float() / 255
    pred = evaluator.predict(images, batch_size=batch)
    report = dict(n=count, subject=_acc(pred.subject, data["subject"]), scene=_acc(pred.scene, data["scene"]))
    for i, (name, _) in enumerate(evaluator.cfg.attributes):
        report[f"attr_{name}"] = _acc(pred.attributes[name], data["attributes"][:, i])
    hard, gt = pred.mask > 0.5, data["mask"].bool()
    iou = (hard & gt).sum((1, 2)) / (hard | gt).sum((1, 2)).clamp(min=1)
    report["mask_iou"] = round(iou.float().mean().item(), 4)
    report["background_scene"] = _acc(evaluator.predict_background(images, pred.mask), data["scene"])
    small_mask = F.interpolate(pred.mask[:, None], size=pred.embedding.shape[-2:])[:, 0].gt(0.5).float()
    z = pooled_embedding(pred.embedding, small_mask)
    sim = (z @ z.T).fill_diagonal_(-2)
    report["identity_top1"] = round((data["identity"][sim.argmax(1)] == data["identity"]).float().mean().item(), 4)
    if evaluator.cfg.background:
        report |= v2_report(evaluator.cfg, pred, data)
    return report


def v2_report(cfg, pred, data) -> dict:
    report = {f"background_{name}": _acc(pred.background[name], data["background"][:, i])
              for i, (name, _) in enumerate(cfg.background)}
    report |= {f"layout_{name}": _acc(pred.layout[name], data["layout"][:, i]) for i, (name, _) in enumerate(cfg.layout)}
    calls = pred.props > 0.5
    report["props_class_accuracy"] = round((calls == data["props"].bool()).float().mean().item(), 4)
    report["props_exact"] = round((calls == data["props"].bool()).all(1).float().mean().item(), 4)
    hard, gt = pred.prop_mask > 0.5, data["prop_mask"].bool()
    has = gt.flatten(1).any(1)
    iou = (hard & gt).sum((1, 2)) / (hard | gt).sum((1, 2)).clamp(min=1)
    report["prop_mask_iou"] = round(iou[has].float().mean().item(), 4) if has.any() else None
    return report


def _acc(probs: torch.Tensor, labels: torch.Tensor) -> float:
    return round((probs.argmax(1) == labels).float().mean().item(), 4)


# ---------------------------------------------------------------- main


def load_vae(path: Path | None, device):
    if path is None:
        return None
    from diffusers import AutoencoderKL

    return AutoencoderKL.from_pretrained(str(path)).to(device).eval().requires_grad_(False)


def train(net, cfg, meta, args, deadline: Deadline, log: Log, device, par: Parallel):
    """Returns the trained net (unwrapped). Data-parallel under `accelerate launch`: one stream per process."""
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    wrapped, opt = par.prepare(net, opt)
    vae = load_vae(args.vae, device)
    stream = WorldStream(StreamConfig(seed=args.seed * 1000 + 500 + meta["invocations"] + 7_777_777 * par.rank,
                                      group=GROUP, world=cfg.world, size=cfg.input_size))
    workers = worker_count(args.workers)
    loader = torch.utils.data.DataLoader(stream, batch_size=args.batch, num_workers=workers, pin_memory=True,
                                         prefetch_factor=4 if workers else None)
    t0, step = time.monotonic(), 0
    for batch in loader:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items() if isinstance(v, torch.Tensor)}
        for _ in range(args.reuse):
            warm = min(1.0, (step + 1) / 200)
            decay = (1 - 0.95 * deadline.fraction()) if args.anneal else 1.0
            for group in opt.param_groups:
                group["lr"] = args.lr * warm * decay
            prop_mask = batch["prop_mask"].float() if cfg.background else None
            x, m, prop_mask, flip = augment(batch["image"].float() / 255, batch["mask"].float(), vae, prop_mask)
            layout = flipped_layout(cfg, batch["layout"], flip) if cfg.background else None
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss, parts = total_loss(wrapped, cfg, x, m, batch, prop_mask, layout)
            opt.zero_grad(set_to_none=True)
            par.backward(loss)
            torch.nn.utils.clip_grad_norm_(net.parameters(), 2.0)
            opt.step()
            step += 1
            meta["steps"] += 1
        if step % 200 < args.reuse:
            rate = step * args.batch / args.reuse / (time.monotonic() - t0)
            log(f"eval-net step {meta['steps']} loss {loss.item():.3f} {parts} img/s {rate:.0f}")
        if par.any(deadline.passed() or bool(args.max_steps and step >= args.max_steps)):
            break
    meta["gpu_minutes"] = meta.get("gpu_minutes", 0.0) + par.world * (time.monotonic() - t0) / 60
    return net


def main(argv=None) -> None:
    args = parse_args(argv)
    deadline = Deadline(args.max_minutes)
    par = Parallel()
    log = Log(args.log, "evaluator ") if par.is_main else (lambda *parts: None)
    device = par.device if par.world > 1 else pick_device(args.device)
    has_ckpt = bool(list(args.ckpt.glob("shard-*")))
    tensors, meta = load_checkpoint(args.ckpt) if has_ckpt else (None, None)
    start = Evaluator.load(args.init) if args.init is not None and not meta else None
    cfg = config_from_json(meta["config"]) if meta else start.cfg if start else EvaluatorConfig.for_world(
        args.world, input_size=args.size)
    meta = meta or dict(config=asdict(cfg), steps=0, invocations=0, **({"init": str(args.init)} if start else {}))
    seed_everything(args.seed + 31 * meta["invocations"] + 104729 * par.rank)
    net = EvaluatorNet(cfg)
    if tensors:
        net.load_state_dict(unprefixed(tensors, "net"))
    elif start:
        net.load_state_dict(start.net.state_dict())
    net.to(device).train()
    params = sum(p.numel() for p in net.parameters())
    log(f"start: invocation {meta['invocations']}, steps {meta['steps']}, params {params}")
    if args.max_minutes > 0:
        train(net, cfg, meta, args, deadline, log, device, par)
        meta["invocations"] += 1
        if par.is_main:
            save_checkpoint(args.ckpt, prefixed(net.state_dict(), "net"), meta)
    par.wait()
    if not par.is_main:
        return
    evaluator = Evaluator(net, cfg, device)
    if args.held_out:
        log("held-out", held_out_report(evaluator, args.held_out))
    if args.export is not None:
        evaluator.save(args.export)
        log(f"exported evaluator to {args.export}")


if __name__ == "__main__":
    main()
