"""Where does cross-attention mass go? Per subject word, layer, head and step, for plain prompts.

Generates plain-prompt images with a mini SD folder (vanilla, DDIM, guidance as the model recommends),
records the conditional half's cross-attention probabilities at every layer and step, and grades them
against the subject mask the evaluator reads off the finished image:

- the share of each query's mass on each token class (start, subject word, other words, end, padding),
  split by whether the query lies on the subject or the background;
- the AUROC of each token class's map against the subject mask (0.5 = blind, 0 = inverted);
- ConsiStory's own map (the subject word, heads averaged) at each grid.

    python scripts/attention_probe.py --model DIR --evaluator DIR --out runs/probe [--per-word 4] [--steps 25]

Writes OUT/probe.json (every number) and OUT/maps.png (for a few prompts: the image, the evaluator's
mask, and the subject word's map per layer, averaged over heads and steps).
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

CLASSES = ("start", "subject", "words", "end", "pad")


def auroc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """Rank-sum AUROC with ties averaged; None where one class is empty."""
    from scipy.stats import rankdata

    pos, n = labels.sum(), labels.size
    if pos == 0 or pos == n:
        return None
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - pos * (pos + 1) / 2) / (pos * (n - pos)))


class Recorder:
    """Cross-attention processor that keeps the conditional half's probabilities (heads kept)."""

    def __init__(self, name: str, store: dict):
        self.name, self.store = name, store

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kw):
        q = attn.head_to_batch_dim(attn.to_q(hidden_states))
        k = attn.head_to_batch_dim(attn.to_k(encoder_hidden_states))
        v = attn.head_to_batch_dim(attn.to_v(encoder_hidden_states))
        probs = attn.get_attention_scores(q, k, attention_mask)  # (B*H, T, L)
        out = attn.batch_to_head_dim(torch.bmm(probs, v))
        b = hidden_states.shape[0]
        cond = probs.reshape(b, attn.heads, *probs.shape[1:])[b // 2:]  # (n, H, T, L)
        self.store.setdefault(self.name, []).append(cond.float().cpu())
        out = attn.to_out[1](attn.to_out[0](out))
        return out


def token_classes(tokenizer, prompt: str, subject: str, length: int) -> np.ndarray:
    ids = tokenizer(prompt, padding="max_length", max_length=length, truncation=True).input_ids
    subject_ids = tokenizer(subject, add_special_tokens=False).input_ids
    eos = ids.index(tokenizer.eos_token_id)
    cls = np.full(length, 4)
    cls[0] = 0
    cls[1:eos] = 2
    cls[eos] = 3
    for start in range(1, eos - len(subject_ids) + 1):
        if ids[start:start + len(subject_ids)] == subject_ids:
            cls[start:start + len(subject_ids)] = 1
    return cls


def grid_mask(mask: torch.Tensor, side: int) -> np.ndarray:
    return (F.adaptive_avg_pool2d(mask[None, None].float(), side)[0, 0] > 0.5).flatten().numpy()


def prompts(per_word: int, seed: int):
    from svdstory.world.catalog import SCENES, SUBJECTS, scene_phrase

    rng = np.random.default_rng(seed)
    styles = ("", "a photo of ", "there is ", "an image of ")
    for subject in SUBJECTS:
        for j in range(per_word):
            scene = SCENES[rng.integers(len(SCENES))]
            art = "an" if subject[0] in "aeiou" else "a"
            yield subject, f"{styles[j % len(styles)]}{art} {subject} {scene_phrase(scene)}", int(rng.integers(2**31))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--evaluator", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--per-word", type=int, default=4)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pictures", type=int, default=6, help="prompts drawn in maps.png")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)

    from diffusers import DDIMScheduler, StableDiffusionPipeline

    from svdstory.mini.evaluator import Evaluator

    torch.set_grad_enabled(False)
    pipe = StableDiffusionPipeline.from_pretrained(args.model, safety_checker=None).to(args.device)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    evaluator = Evaluator.load(args.evaluator, device=args.device)
    length = pipe.tokenizer.model_max_length
    names = [n for n in pipe.unet.attn_processors if ".attn2." in n]

    # totals[word][layer][cls] -> lists; per-step mass at the "mean" layer
    rows = []
    pictures = []
    for subject, prompt, seed in prompts(args.per_word, args.seed):
        store: dict = {}
        procs = dict(pipe.unet.attn_processors)
        for n in names:
            procs[n] = Recorder(n, store)
        pipe.unet.set_attn_processor(procs)
        gen = torch.Generator().manual_seed(seed)
        image = pipe(prompt, num_inference_steps=args.steps, guidance_scale=args.guidance, generator=gen).images[0]
        pred = evaluator.predict([image])
        mask = pred.mask[0] > 0.5
        cls = token_classes(pipe.tokenizer, prompt, subject, length)
        row = {"subject": subject, "prompt": prompt, "seed": seed, "mask_area": float(mask.float().mean()),
               "subject_ok": int(pred.subject[0].argmax()) == list_subjects().index(subject), "layers": {}}
        word_maps = {}
        for n in names:
            probs = torch.stack(store[n])[:, 0]  # (steps, H, T, L)
            side = int(round(probs.shape[2] ** 0.5))
            m = grid_mask(mask, side)
            by_class = torch.stack([probs[..., cls == c].sum(-1) for c in range(len(CLASSES))], -1)  # (S,H,T,C)
            fg = torch.as_tensor(m)
            layer = {
                "grid": side,
                # mass share per class, on subject / on background queries, per step (heads averaged)
                "mass_fg": by_class[:, :, fg].mean((1, 2)).tolist() if fg.any() else None,
                "mass_bg": by_class[:, :, ~fg].mean((1, 2)).tolist() if (~fg).any() else None,
                # AUROC of each class's map (heads and steps averaged) and of the subject map per head
                "auroc": [auroc(by_class[..., c].mean((0, 1)).numpy(), m) for c in range(len(CLASSES))],
                "auroc_head": [auroc(by_class[:, h, :, 1].mean(0).numpy(), m) for h in range(probs.shape[1])],
                "auroc_step": [auroc(by_class[s, :, :, 1].mean(0).numpy(), m) for s in range(probs.shape[0])],
            }
            row["layers"][n] = layer
            word_maps[n] = by_class[..., 1].mean((0, 1)).reshape(side, side)
        rows.append(row)
        if len(pictures) < args.pictures and subject in PICTURE_WORDS and subject not in [p[0] for p in pictures]:
            pictures.append((subject, image, mask, word_maps))
        print(f"{prompt!r:45} mask {row['mask_area']:.2f} "
              + " ".join(f"{v['grid']}:{fmt(v['auroc'][1])}" for v in row["layers"].values()), flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "probe.json").write_text(json.dumps({"layers": names, "classes": CLASSES, "rows": rows}, indent=1))
    summarise(rows, names)
    draw(pictures, names, out / "maps.png")
    return 0


PICTURE_WORDS = ("cat", "rabbit", "dog", "bus", "chair", "mug", "giraffe", "lamp")


def list_subjects():
    from svdstory.world.catalog import SUBJECTS

    return list(SUBJECTS)


def fmt(x):
    return "  -  " if x is None else f"{x:.2f}"


def summarise(rows, names) -> None:
    words = sorted({r["subject"] for r in rows}, key=list_subjects().index)
    print("\nsubject-word AUROC by word and layer (heads, steps averaged)")
    print(f"{'word':9}" + "".join(f"{n.split('.attentions')[0][:12]:>14}" for n in names))
    for w in words:
        vals = [[r["layers"][n]["auroc"][1] for r in rows if r["subject"] == w] for n in names]
        print(f"{w:9}" + "".join(f"{np.mean([v for v in col if v is not None]):14.2f}" for col in vals))
    print("\nmass share by token class, all words and layers (subject queries | background queries)")
    for c, name in enumerate(CLASSES):
        fg = np.mean([np.mean(np.array(r["layers"][n]["mass_fg"])[:, c]) for r in rows for n in names
                      if r["layers"][n]["mass_fg"]])
        bg = np.mean([np.mean(np.array(r["layers"][n]["mass_bg"])[:, c]) for r in rows for n in names
                      if r["layers"][n]["mass_bg"]])
        print(f"  {name:8} {fg:.3f} | {bg:.3f}")


def draw(pictures, names, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not pictures:
        return
    cols = 2 + len(names)
    fig, axes = plt.subplots(len(pictures), cols, figsize=(1.6 * cols, 1.7 * len(pictures)), squeeze=False)
    for r, (word, image, mask, maps) in enumerate(pictures):
        axes[r, 0].imshow(image)
        axes[r, 0].set_title(word, fontsize=8)
        axes[r, 1].imshow(mask, cmap="gray")
        axes[r, 1].set_title("evaluator mask", fontsize=7)
        for c, n in enumerate(names):
            axes[r, 2 + c].imshow(maps[n], cmap="magma")
            if r == 0:
                axes[r, 2 + c].set_title(n.replace(".attentions", "").replace(".transformer_blocks.0.attn2.processor", ""),
                                         fontsize=6)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    raise SystemExit(main())
