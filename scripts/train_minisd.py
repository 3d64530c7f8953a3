"""Train the mini Stable Diffusion on SynthWorld renders.

Stage 1 trains the VAE (reconstruction weighted towards the subject, an edge term, a small KL);
stage 2 trains the UNet (epsilon prediction, min-SNR weighting, 10% caption dropout for
classifier-free guidance, EMA), either on the frozen text tower of the mini CLIP (--clip, world v2's
recipe: the text tower is loaded from the CLIP folder at every invocation and never checkpointed)
or jointly with a text encoder of its own (world v1's recipe). Each invocation stops itself after
--max-minutes and leaves a compact checkpoint in --ckpt; the next invocation with the same --ckpt
continues.

  python scripts/train_minisd.py --ckpt .ckpt/minisd --clip .ckpt/clip_export --init-vae src/svdstory/assets/minisd
  python scripts/train_minisd.py --ckpt .ckpt/minisd --clip .ckpt/clip_export --max-minutes 0 --export out/minisd
  python scripts/train_minisd.py --world 1 --ckpt .ckpt/minisd_v1 --max-minutes 8.5 --vae-minutes 2.5   # v1
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_common import bare_package  # noqa: E402

bare_package()
from train_common import EMA, Deadline, Log, load_checkpoint, pick_device, prefixed, save_checkpoint  # noqa: E402
from train_common import Parallel, common_arguments, seed_everything, unprefixed, worker_count  # noqa: E402

from svdstory.mini import minisd  # noqa: E402
from svdstory.mini.tokenizer import make_tokenizer, tokenizer_files, write_tokenizer_files  # noqa: E402
from svdstory.world.catalog import DEFAULT_WORLD  # noqa: E402
from svdstory.world.data import StreamConfig, WorldStream  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_arguments(p, DEFAULT_WORLD)
    p.add_argument("--vae-minutes", type=float, default=2.5, help="stage-1 budget (used once)")
    p.add_argument("--decoder-minutes", type=float, default=0.0, help="end with a decoder-only VAE pass")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--vae-batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--vae-lr", type=float, default=5e-4)
    p.add_argument("--warmup", type=int, default=300, help="LR warm-up steps of every invocation (moments restart)")
    p.add_argument("--ema-decay", type=float, default=0.9995)
    p.add_argument("--caption-drop", type=float, default=0.1)
    p.add_argument("--attribute-rate", type=float, default=0.3, help="fraction of captions naming attributes")
    p.add_argument("--snr-gamma", type=float, default=5.0)
    p.add_argument("--offset-noise", type=float, default=0.0,
                   help="strength of extra global and blob-scale noise (decorrelates colour from the start noise)")
    p.add_argument("--reuse", type=int, default=1, help="noise draws per rendered image and step")
    p.add_argument("--clean-pads", type=float, default=0.0,
                   help="share of captions whose padding positions (after the end token) get the empty caption's "
                        "text outputs there, so the subject must be read from its words (docs/synthworld.md)")
    p.add_argument("--anneal", action="store_true", help="decay the LR linearly to 0 over this invocation")
    p.add_argument("--device", default=None)
    p.add_argument("--tiny", action="store_true", help="tiny model, 64 px (CPU smoke test)")
    p.add_argument("--detail-rate", type=float, default=0.5, help="v2: fraction of captions naming background details")
    p.add_argument("--clause-rate", type=float, default=0.0,
                   help="v2: fraction of captions written as comma-separated clauses ('a dog, on a beach, at noon')")
    p.add_argument("--clip", type=Path, default=None,
                   help="exported mini CLIP folder: its text tower becomes the frozen text encoder (every invocation)")
    p.add_argument("--init-vae", type=Path, default=None,
                   help="diffusers pipeline folder (or VAE folder) whose VAE is taken as trained (stage 1 skipped)")
    p.add_argument("--finetune-vae", action="store_true",
                   help="with --init-vae: stage 1 starts from that VAE and trains it --vae-minutes on this world")
    p.add_argument("--init-unet", type=Path, default=None,
                   help="diffusers pipeline folder whose UNet (same architecture) is the start of UNet training")
    p.add_argument("--export", type=Path, default=None, help="write the diffusers pipeline (EMA weights, fp16)")
    return p.parse_args(argv)


# ---------------------------------------------------------------- state


def fresh_state(args) -> dict:
    cfg = minisd.tiny_config() if args.tiny else minisd.MiniSDConfig()
    if args.clip is not None:  # the text side is the CLIP's: its width, depth, context and tokenizer
        text_cfg = frozen_text(args.clip).config
        cfg = replace(cfg, text_width=text_cfg.hidden_size, text_layers=text_cfg.num_hidden_layers,
                      text_heads=text_cfg.num_attention_heads, text_ffn=text_cfg.intermediate_size,
                      max_length=text_cfg.max_position_embeddings)
        vocab = json.loads((args.clip / "vocab.json").read_text())
        merges = [tuple(line.split()) for line in (args.clip / "merges.txt").read_text().splitlines()[1:]
                  if line.strip()]
    else:
        from svdstory.world import vocabulary
        from svdstory.world.captions_v2 import vocabulary_v2

        vocab, merges = tokenizer_files(vocabulary_v2() if args.world >= 2 else vocabulary())
    return dict(config=asdict(cfg), vocab=vocab, merges=merges, vae_done=False, vae_steps=0, unet_steps=0,
                invocations=0, images_seen=0, scaling_factor=1.0, unet_minutes=0.0, world=args.world,
                text_frozen=args.clip is not None)


def frozen_text(folder: Path):
    """The text tower of an exported mini CLIP as a frozen `CLIPTextModel` (fp32)."""
    from svdstory.mini.clip import load_clip, text_tower

    return text_tower(load_clip(folder)[0]).eval().requires_grad_(False)


def text_digest(text) -> str:
    """A fingerprint of the frozen text weights: a resume must use the tower the UNet learnt with."""
    h = hashlib.sha256()
    for name, t in sorted(text.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def build_parts(meta: dict, tensors: dict | None, clip_folder: Path | None = None) -> dict:
    """Pipeline parts from checkpoint metadata; weights restored when `tensors` is given."""
    cfg = minisd.config_from_dict(meta["config"])
    tokenizer = make_tokenizer(meta["vocab"], meta["merges"], cfg.max_length)
    parts = minisd.build_components(cfg, tokenizer=tokenizer)
    parts["vae"].register_to_config(scaling_factor=meta["scaling_factor"])
    if meta.get("text_frozen"):
        if clip_folder is None:
            raise SystemExit("this checkpoint trains on a frozen CLIP text tower: pass --clip")
        parts["text_encoder"] = frozen_text(clip_folder)
        digest = text_digest(parts["text_encoder"])
        if meta.setdefault("text_digest", digest) != digest:
            raise SystemExit(f"--clip {clip_folder}: not the text tower this checkpoint trained with")
    if tensors:
        parts["vae"].load_state_dict(unprefixed(tensors, "vae"))
        parts["unet"].load_state_dict(unprefixed(tensors, "unet"))
        if not meta.get("text_frozen"):
            parts["text_encoder"].load_state_dict(unprefixed(tensors, "text"))
    return parts


def init_vae(parts: dict, meta: dict, folder: Path, done: bool = True) -> None:
    """Take a trained VAE (e.g. the shipped one) as stage 1's result, or (done=False) as the start
    of stage 1, which then fine-tunes it (and measures its scaling factor again)."""
    from diffusers import AutoencoderKL

    vae_folder = folder / "vae" if (folder / "vae").is_dir() else folder  # a pipeline folder or a VAE folder
    vae = AutoencoderKL.from_pretrained(str(vae_folder), torch_dtype=torch.float32)
    parts["vae"].load_state_dict(vae.state_dict())
    meta["scaling_factor"] = float(vae.config.scaling_factor)
    parts["vae"].register_to_config(scaling_factor=meta["scaling_factor"])
    meta["vae_done"], meta["vae_from"] = done, str(folder)


def init_unet(parts: dict, meta: dict, folder: Path) -> None:
    """Start UNet training from a trained UNet of the same architecture (e.g. the shipped one, whose
    cross-attention then learns the new text tower's outputs)."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(str(folder / "unet"), torch_dtype=torch.float32)
    try:
        parts["unet"].load_state_dict(unet.state_dict())
    except RuntimeError as e:
        raise SystemExit(f"--init-unet {folder}: not this model's UNet architecture ({str(e).splitlines()[0]})")
    meta["unet_from"] = str(folder)


def trained_modules(meta: dict) -> tuple[str, ...]:
    """Which of UNet and text encoder train (and so have an EMA and a checkpoint entry)."""
    return ("unet",) if meta.get("text_frozen") else ("unet", "text")


def checkpoint_tensors(parts: dict, emas: dict) -> dict:
    """fp32 VAE; fp16 weights of what trains and their EMA (the shipped precision) to stay small.
    A frozen text tower is left out: it comes from --clip."""
    out = prefixed(parts["vae"].state_dict(), "vae")
    out |= prefixed(parts["unet"].state_dict(), "unet", torch.float16)
    if "text" in emas:
        out |= prefixed(parts["text_encoder"].state_dict(), "text", torch.float16)
    for name, ema in emas.items():
        out |= prefixed(ema.state_dict(), f"{name}_ema", torch.float16)
    return out


# ---------------------------------------------------------------- data


class Collate:
    """Stacks images/masks and tokenizes captions inside the DataLoader workers."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, items: list[dict]) -> dict:
        ids = self.tokenizer([it["caption"] for it in items], padding="max_length", max_length=self.max_length,
                             truncation=True, return_tensors="pt").input_ids
        return dict(image=torch.stack([it["image"] for it in items]), mask=torch.stack([it["mask"] for it in items]),
                    input_ids=ids)


def make_loader(meta: dict, tokenizer, seed: int, batch: int, workers: int, attribute_rate: float = 0.3,
                detail_rate: float = 0.5, clause_rate: float = 0.0):
    cfg = minisd.config_from_dict(meta["config"])
    stream = WorldStream(StreamConfig(seed=seed, size=cfg.image_size, attribute_rate=attribute_rate,
                                      world=meta.get("world", 1), detail_rate=detail_rate,
                                      clause_rate=clause_rate))
    return torch.utils.data.DataLoader(stream, batch_size=batch, num_workers=workers, pin_memory=True,
                                       collate_fn=Collate(tokenizer, cfg.max_length),
                                       prefetch_factor=4 if workers else None, persistent_workers=False)


def to_model_range(batch: dict, device) -> tuple[torch.Tensor, torch.Tensor]:
    x = batch["image"].to(device, non_blocking=True).float() / 127.5 - 1  # (B, 3, H, W) in [-1, 1]
    m = batch["mask"].to(device, non_blocking=True).float().unsqueeze(1)   # (B, 1, H, W)
    return x, m


# ---------------------------------------------------------------- stage 1: VAE


def vae_loss(rec: torch.Tensor, x: torch.Tensor, mask: torch.Tensor, posterior, kl_weight: float = 3e-5):
    """Subject pixels weigh 5x: attributes (eyes, pattern) are small and must survive encoding."""
    w = 1 + 4 * mask
    l1 = (w * (rec - x).abs()).mean() / w.mean()
    edge = sum(((rec.diff(dim=d) - x.diff(dim=d)).abs()).mean() for d in (2, 3))
    kl = posterior.kl().mean() / posterior.mean[0].numel()
    return l1 + 0.5 * edge + kl_weight * kl, dict(l1=l1.detach(), edge=edge.detach(), kl=kl.detach())


def train_vae(parts, meta, args, minutes: float, log: Log, device, decoder_only: bool = False) -> None:
    """Stage 1, or (decoder_only) a later sharpening pass that leaves the latent space untouched."""
    vae = parts["vae"].to(device).train()
    vae.requires_grad_(False)
    trained = [vae.decoder, vae.post_quant_conv] if decoder_only else [vae]
    params = [p for m in trained for p in m.parameters()]
    for p in params:
        p.requires_grad_(True)
    lr = args.vae_lr * (0.3 if decoder_only else 1.0)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    stage = Deadline(minutes)
    loader = make_loader(meta, parts["tokenizer"], args.seed * 1000 + 10 * meta["invocations"] + 1 + 2 * decoder_only,
                         args.vae_batch, worker_count(args.workers))
    for step, batch in enumerate(loader):
        x, m = to_model_range(batch, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            with torch.set_grad_enabled(not decoder_only):
                posterior = vae.encode(x).latent_dist
            rec = vae.decode(posterior.sample()).sample
        for group in opt.param_groups:  # end the stage with a low LR for sharper reconstructions
            group["lr"] = lr * (1 - 0.9 * stage.fraction())
        loss, parts_ = vae_loss(rec.float(), x, m, posterior)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        counter = "decoder_steps" if decoder_only else "vae_steps"
        meta[counter] = meta.get(counter, 0) + 1
        if step % 200 == 0:
            log(f"vae step {step} decoder_only={decoder_only} loss {loss.item():.4f}",
                {k: round(v.item(), 4) for k, v in parts_.items()})
        if stage.passed() or (args.max_steps and step + 1 >= args.max_steps):
            break
    vae.eval().requires_grad_(False)
    if not decoder_only:
        meta["scaling_factor"] = latent_scale(vae, loader, device)
        vae.register_to_config(scaling_factor=meta["scaling_factor"])
        meta["vae_done"] = True
    log(f"vae stage done (decoder_only={decoder_only}); scaling factor {meta['scaling_factor']:.4f}")


@torch.no_grad()
def latent_scale(vae, loader, device, batches: int = 8) -> float:
    """1 / std of sampled latents, as SD's scaling factor, so that latents have unit variance."""
    vae.eval()
    lats = []
    for batch in itertools.islice(loader, batches):
        x, _ = to_model_range(batch, device)
        lats.append(vae.encode(x).latent_dist.sample().float())
    return float(1.0 / torch.cat(lats).std())


# ---------------------------------------------------------------- stage 2: text encoder + UNet


def snr_weights(ac: torch.Tensor, gamma: float) -> torch.Tensor:
    """Min-SNR-gamma weighting for epsilon prediction (Hang et al. 2023, eq. 9): min(SNR, g) / SNR."""
    snr = ac / (1 - ac)
    return snr.clamp(max=gamma) / snr


def training_noise(like: torch.Tensor, strength: float) -> torch.Tensor:
    """White noise plus `low_frequency_noise` of `strength`.

    With SD's schedule x_T still holds sqrt(0.0047) of the image, enough for a subject-sized
    region's mean colour to leak through; the model then reads colour off the start noise and
    plain prompts collapse onto a few colours. Low-frequency noise makes that shortcut unreliable
    (offset noise, Guttenberg 2023).
    """
    noise = torch.randn_like(like)
    return noise + low_frequency_noise(like, strength) if strength > 0 else noise


def low_frequency_noise(like: torch.Tensor, strength: float) -> torch.Tensor:
    """`strength` x (a per-channel offset + smooth 4x4 blobs), shaped like `like (N, C, H, W)`."""
    n, c, h, w = like.shape
    out = torch.zeros_like(like)
    for cells in (1, 4):
        coarse = torch.randn(n, c, cells, cells, device=like.device, dtype=like.dtype)
        out = out + strength * F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return out


def clean_pads(context: torch.Tensor, ids: torch.Tensor, empty: torch.Tensor, share: float,
               eos: int) -> torch.Tensor:
    """`context (B, L, D)` with the positions after each caption's first end token taken from the empty
    caption's outputs `empty (1, L, D)`, for a random `share` of the captions.

    A causal text tower writes the whole caption into every padding position; a UNet trained on those
    reads the subject off the padding, spread evenly over the image, and the subject word's attention
    stops marking where the subject is. Padding with no caption in it leaves the words as the only
    source of what to draw."""
    position = torch.arange(ids.shape[1], device=ids.device)
    first_end = torch.where(ids == eos, position, ids.shape[1]).amin(1, keepdim=True)  # (B, 1)
    pick = torch.rand(len(ids), 1, device=ids.device) < share
    replace_at = (position > first_end) & pick  # (B, L)
    return torch.where(replace_at[..., None], empty.to(context.dtype), context)


def unet_step(parts, alphas_cumprod, batch, uncond_ids, args, device, unet=None) -> torch.Tensor:
    """One loss evaluation; `alphas_cumprod` and `uncond_ids` already live on the device, so the
    step queues GPU work without a host round trip. `unet`: the UNet to call (a data-parallel
    wrapper of parts["unet"]), parts["unet"] by default."""
    unet = unet if unet is not None else parts["unet"]
    x, _ = to_model_range(batch, device)
    ids = batch["input_ids"].to(device, non_blocking=True)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        lat = parts["vae"].encode(x).latent_dist.sample().float() * parts["vae"].config.scaling_factor
    if args.reuse > 1:  # more noise draws per render: rendering, not the GPU, limits throughput
        lat, ids = lat.repeat(args.reuse, 1, 1, 1), ids.repeat(args.reuse, 1)
    drop = torch.rand(len(ids), device=device) < args.caption_drop
    ids = torch.where(drop[:, None], uncond_ids, ids)
    noise = training_noise(lat, args.offset_noise)
    t = torch.randint(0, len(alphas_cumprod), (len(lat),), device=device)
    ac = alphas_cumprod[t][:, None, None, None]  # (B, 1, 1, 1)
    noisy = ac.sqrt() * lat + (1 - ac).sqrt() * noise  # DDPM forward process, q(x_t | x_0)
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
        with torch.set_grad_enabled(parts["text_encoder"].training):  # a frozen tower stays in eval mode
            context = parts["text_encoder"](ids)[0]
            if args.clean_pads > 0:
                context = clean_pads(context, ids, parts["text_encoder"](uncond_ids)[0], args.clean_pads,
                                     parts["tokenizer"].eos_token_id)
        pred = unet(noisy, t, context).sample
    per_sample = F.mse_loss(pred.float(), noise, reduction="none").mean((1, 2, 3))
    return (per_sample * snr_weights(ac.flatten(), args.snr_gamma)).mean()


def lr_at(args, local_step: int, deadline: Deadline) -> float:
    warm = min(1.0, (local_step + 1) / args.warmup)
    return args.lr * warm * ((1 - deadline.fraction()) if args.anneal else 1.0)


def train_unet(parts, emas, meta, args, deadline: Deadline, log: Log, device, par: Parallel | None = None) -> None:
    """Stage 2. Under `accelerate launch` (par.world > 1) the UNet trains data-parallel, every
    process rendering its own stream; a text encoder that trains (v1 recipe) needs one process."""
    par = par or Parallel()
    if par.world > 1 and "text" in emas:
        raise SystemExit("a jointly trained text encoder runs in one process only: train on a frozen --clip tower")
    unet, text = parts["unet"].to(device).train(), parts["text_encoder"].to(device)
    text.train("text" in emas)
    parts["vae"].to(device).eval().requires_grad_(False)
    for ema in emas.values():
        ema.to(device)
    params = [p for m in (unet, text) if m is unet or "text" in emas for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, betas=(0.9, 0.99), fused=device.type == "cuda")
    wrapped, opt = par.prepare(unet, opt)
    alphas_cumprod = minisd.build_train_scheduler().alphas_cumprod.to(device)
    tok = parts["tokenizer"]
    uncond = tok([""], padding="max_length", max_length=tok.model_max_length, return_tensors="pt").input_ids.to(device)
    seed = args.seed * 1000 + 10 * meta["invocations"] + 2 + 7_777_777 * par.rank  # one stream per process
    loader = make_loader(meta, tok, seed, args.batch, worker_count(args.workers), args.attribute_rate, args.detail_rate,
                         args.clause_rate)
    t0, seen0, waited = time.monotonic(), meta["images_seen"], 0.0
    batches = iter(loader)
    for step in itertools.count():
        tw = time.monotonic()
        batch = next(batches)
        waited += time.monotonic() - tw  # time the GPU sat idle waiting for renders
        for group in opt.param_groups:
            group["lr"] = lr_at(args, step, deadline)
        loss = unet_step(parts, alphas_cumprod, batch, uncond, args, device, wrapped)
        opt.zero_grad(set_to_none=True)
        par.backward(loss)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        meta["unet_steps"] += 1
        meta["images_seen"] += len(batch["image"]) * par.world
        emas["unet"].update(unet, meta["unet_steps"])
        if "text" in emas:
            emas["text"].update(text, meta["unet_steps"])
        running = 0.98 * running + 0.02 * loss.detach() if step else loss.detach()  # stays on the GPU
        if step % 250 == 0:
            rate = (meta["images_seen"] - seen0) / max(1e-6, time.monotonic() - t0)
            log(f"unet step {meta['unet_steps']} loss {running.item():.4f} lr {lr_at(args, step, deadline):.2e} "
                f"img/s {rate:.0f} data-wait {waited / max(1e-6, time.monotonic() - t0):.0%}")
        if par.any(deadline.passed() or bool(args.max_steps and step + 1 >= args.max_steps)):
            break
    meta["unet_minutes"] += (time.monotonic() - t0) / 60
    meta["gpu_minutes"] = meta.get("gpu_minutes", 0.0) + par.world * (time.monotonic() - t0) / 60


# ---------------------------------------------------------------- export


def export_pipeline(parts, emas, meta, folder: Path) -> None:
    """EMA weights into a fp16 `StableDiffusionPipeline` folder that loads offline."""
    for name, module in (("unet", parts["unet"]), ("text", parts["text_encoder"])):
        if name in emas:  # a frozen text tower is exported as it is
            emas[name].copy_to(module)
    pipe = minisd.assemble_pipeline({k: (v.cpu() if hasattr(v, "cpu") else v) for k, v in parts.items()})
    pipe.to(torch.float16)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    # transformers loads with dtype="auto": keep the text encoder fp32 in memory, like the diffusers parts
    text_cfg = folder / "text_encoder" / "config.json"
    text_cfg.write_text(text_cfg.read_text().replace('"dtype": "float16"', '"dtype": "float32"'))
    write_tokenizer_files(folder / "tokenizer", meta["vocab"], [tuple(m) for m in meta["merges"]])
    minisd.write_sampling_defaults(folder)


# ---------------------------------------------------------------- main


def main(argv=None) -> None:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the tokenizer runs in forked workers
    args = parse_args(argv)
    deadline = Deadline(args.max_minutes)
    par = Parallel()
    log = Log(args.log, "minisd ") if par.is_main else (lambda *parts: None)
    seed_everything(args.seed + 7919 * (1 + len(list(args.ckpt.glob("shard-*")))) + 104729 * par.rank)
    device = par.device if par.world > 1 else pick_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.backends.cudnn.benchmark = True
    tensors, meta = load_checkpoint(args.ckpt) if list(args.ckpt.glob("shard-*")) else (None, fresh_state(args))
    parts = build_parts(meta, tensors, args.clip)
    if args.init_vae is not None and not meta["vae_done"] and "vae_from" not in meta:
        init_vae(parts, meta, args.init_vae, done=not args.finetune_vae)
    if args.init_unet is not None and meta["unet_steps"] == 0 and "unet_from" not in meta:
        init_unet(parts, meta, args.init_unet)
    keys = {"unet": "unet", "text": "text_encoder"}
    emas = {name: EMA(parts[keys[name]], args.ema_decay, unprefixed(tensors, f"{name}_ema") if tensors else None)
            for name in trained_modules(meta)}
    log(f"start: invocation {meta['invocations']}, world {meta.get('world', 1)}, text frozen "
        f"{meta.get('text_frozen', False)}, vae_done {meta['vae_done']}, unet steps {meta['unet_steps']}",
        {k: minisd.count_parameters(parts[k]) for k in ("vae", "text_encoder", "unet")})
    if args.max_minutes > 0:
        if not meta["vae_done"]:
            if par.world > 1:
                raise SystemExit("the VAE stage runs in one process: pass --init-vae or train it first without accelerate")
            train_vae(parts, meta, args, min(args.vae_minutes, deadline.left() / 60), log, device)
        unet_deadline = Deadline(max(0.0, deadline.left() / 60 - args.decoder_minutes))
        if unet_deadline.left() > 10:
            train_unet(parts, emas, meta, args, unet_deadline, log, device, par)
        if args.decoder_minutes > 0 and par.world == 1:
            minutes = min(args.decoder_minutes, deadline.left() / 60)
            train_vae(parts, meta, args, minutes, log, device, decoder_only=True)
        meta["invocations"] += 1
        for ema in emas.values():
            ema.to("cpu")
        if par.is_main:
            paths = save_checkpoint(args.ckpt, checkpoint_tensors(parts, emas), meta)
            log("checkpoint", [f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in paths], meta["unet_steps"],
                f"unet minutes {meta['unet_minutes']:.1f}")
    par.wait()
    if args.export is not None and par.is_main:
        export_pipeline(parts, emas, meta, args.export)
        log(f"exported pipeline to {args.export}")


if __name__ == "__main__":
    main()
