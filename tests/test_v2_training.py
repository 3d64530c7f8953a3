"""World v2 training path on the CPU: the mini CLIP and its word-carrying check, the mini SD on the
frozen CLIP text tower, the v2 evaluator: each script trains a step or two, resumes and exports."""

import sys
from pathlib import Path

import pytest
import torch

from svdstory.mini import clip
from svdstory.world import SUBJECTS

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))


class _Fake(torch.nn.Module):
    """A 'text encoder' whose output is a token embedding, a position embedding, or their sum."""

    def __init__(self, vocab: int, words: float, positions: float):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.tok, self.pos = torch.randn(vocab, 16, generator=g), torch.randn(77, 16, generator=g)
        self.words, self.positions = words, positions

    def forward(self, ids):
        return (self.words * self.tok[ids] + self.positions * self.pos[: ids.shape[1]],)


def test_word_carrying_tells_words_from_positions():
    tok = clip.clip_tokenizer()
    carries = clip.word_carrying(_Fake(len(tok), 1.0, 0.2), tok, list(SUBJECTS))
    assert carries["carried"] == 1.0 and carries["same_word_other_position"] > carries["other_word_same_position"]
    positional = clip.word_carrying(_Fake(len(tok), 0.1, 1.0), tok, list(SUBJECTS))
    assert positional["carried"] == 0.0
    assert len(set(carries["positions"])) == len(clip.CARRY_TEMPLATES)  # the word really moves


def test_clip_tokenizer_pads_as_sd_and_keeps_every_word_one_token():
    from svdstory.world import sample
    from svdstory.world.captions_v2 import vocabulary_v2

    tok = clip.clip_tokenizer()
    assert tok.model_max_length == 77 and tok.pad_token == tok.eos_token
    for w in vocabulary_v2():
        assert tok.convert_ids_to_tokens(tok(w).input_ids[1:-1]) == [w + "</w>"]
    longest = max((sample(s, world=2, attribute_rate=1.0, detail_rate=1.0).caption for s in range(200)),
                  key=lambda c: len(c.split()))
    assert len(tok(longest).input_ids) < 50


@pytest.fixture(scope="module")
def clip_export(tmp_path_factory):
    import train_clip

    ckpt, out = tmp_path_factory.mktemp("clip"), tmp_path_factory.mktemp("clip_export")
    common = ["--ckpt", str(ckpt), "--tiny", "--max-minutes", "1", "--batch", "8", "--workers", "0",
              "--max-steps", "2", "--held-out", "8", "--token-loss", "0.1"]
    train_clip.main(common)
    train_clip.main(common + ["--export", str(out)])  # resumes
    from train_common import load_checkpoint

    _, meta = load_checkpoint(ckpt)
    assert meta["steps"] == 4 and meta["invocations"] == 2 and "carried" in meta["report"]
    return out


def test_exported_clip_loads_as_a_hub_checkpoint_for_the_metrics(clip_export):
    from PIL import Image

    from svdstory.eval.embedders import HFClip
    from svdstory.world import sample

    embedder = HFClip(str(clip_export))
    image = Image.fromarray(sample(0, world=2, size=64).image)
    assert embedder.images([image]).shape == (1, 32)
    model, _ = clip.load_clip(clip_export)
    pixels = clip.pixel_values(torch.from_numpy(sample(0, world=2, size=64).image).permute(2, 0, 1)[None].float() / 255, 64)
    processed = embedder.processor(images=[image], return_tensors="pt")["pixel_values"]
    assert torch.allclose(processed, pixels, atol=1e-2)  # the processor feeds what training fed


def test_minisd_trains_on_the_frozen_clip_text_tower(clip_export, tmp_path):
    import train_minisd
    from diffusers import StableDiffusionPipeline
    from train_common import load_checkpoint

    ckpt, out = tmp_path / "sd", tmp_path / "sd_export"
    args = ["--ckpt", str(ckpt), "--tiny", "--clip", str(clip_export), "--max-minutes", "1", "--vae-minutes", "0.05",
            "--batch", "4", "--vae-batch", "4", "--workers", "0", "--max-steps", "2"]
    train_minisd.main(args)
    train_minisd.main(args + ["--export", str(out)])
    tensors, meta = load_checkpoint(ckpt)
    assert meta["unet_steps"] == 4 and meta["text_frozen"] and meta["world"] == 2
    assert not any(k.startswith(("text.", "text_ema.")) for k in tensors)  # the frozen tower is not checkpointed
    pipe = StableDiffusionPipeline.from_pretrained(str(out))
    model, tok = clip.load_clip(clip_export)
    ids = tok(["a cat in a forest"], padding="max_length", max_length=77, return_tensors="pt").input_ids
    assert pipe.tokenizer.model_max_length == 77
    assert torch.allclose(pipe.text_encoder(ids)[0], model.text_model(ids)[0], atol=1e-3)
    comma = tok.convert_tokens_to_ids(",</w>")
    for rate, listed in ((1.0, True), (0.0, False)):  # --clause-rate reaches the captions the UNet trains on
        batch = next(iter(train_minisd.make_loader(meta, tok, 0, 8, 0, clause_rate=rate)))
        assert bool((batch["input_ids"] == comma).any(1).all()) == listed


def test_v2_evaluator_trains_resumes_and_exports(tmp_path):
    import train_evaluator

    from svdstory.mini.evaluator import Evaluator

    args = ["--ckpt", str(tmp_path / "ev"), "--size", "64", "--max-minutes", "1", "--batch", "8", "--workers", "0",
            "--max-steps", "1", "--held-out", "8", "--reuse", "1"]
    train_evaluator.main(args)
    train_evaluator.main(args + ["--export", str(tmp_path / "ev_export")])
    evaluator = Evaluator.load(tmp_path / "ev_export")
    assert evaluator.cfg.world == 2 and evaluator.cfg.input_size == 64
    pred = evaluator.predict(torch.rand(2, 3, 64, 64))
    assert set(pred.background) == {"lighting", "landmark", "horizon"} and pred.prop_mask.shape == (2, 64, 64)
    assert dict(evaluator.cfg.layout)["facing"] == ("left", "right", "front") and pred.layout["facing"].shape == (2, 3)

    again = ["--ckpt", str(tmp_path / "ev2"), "--max-minutes", "0", "--held-out", "0", "--workers", "0"]
    train_evaluator.main(again + ["--init", str(tmp_path / "ev_export"), "--export", str(tmp_path / "ev2_export")])
    restarted = Evaluator.load(tmp_path / "ev2_export")  # a new checkpoint started from the export, at 64 px
    assert restarted.cfg == evaluator.cfg
    for name, weight in evaluator.net.state_dict().items():
        assert torch.equal(restarted.net.state_dict()[name], weight), name


def test_a_flip_swaps_left_and_right_and_keeps_centre_front_and_size():
    import train_evaluator

    from svdstory.mini.evaluator import EvaluatorConfig

    cfg = EvaluatorConfig.for_world(2)
    names = [name for name, _ in cfg.layout]
    labels = [{"placement": p, "size": s, "facing": f}
              for p, s, f in (("left", "small", "left"), ("centre", "large", "front"), ("right", "medium", "right"))]
    index = torch.tensor([[values.index(lab[name]) for name, values in cfg.layout] for lab in labels])
    out = train_evaluator.flipped_layout(cfg, index, torch.tensor([True, True, False]))
    read = [{name: values[int(i)] for (name, values), i in zip(cfg.layout, row)} for row in out]
    assert read == [{"placement": "right", "size": "small", "facing": "right"},
                    {"placement": "centre", "size": "large", "facing": "front"}, labels[2]]
    assert names == ["placement", "size", "facing"]


def test_clean_pads_replaces_only_what_follows_the_end_token():
    from train_minisd import clean_pads

    eos = 9
    ids = torch.tensor([[0, 5, 6, eos, eos, eos], [0, 5, 6, 7, 8, eos], [0, 5, eos, eos, eos, eos]])
    context = torch.arange(3 * 6 * 2, dtype=torch.float32).reshape(3, 6, 2)
    empty = torch.full((1, 6, 2), -1.0)
    out = clean_pads(context, ids, empty, 1.0, eos)
    after_end = torch.tensor([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=torch.bool)
    assert torch.equal(out[after_end], torch.full_like(out[after_end], -1.0))  # padding: the empty caption's
    assert torch.equal(out[~after_end], context[~after_end])  # start, words and the end token stay
    assert torch.equal(clean_pads(context, ids, empty, 0.0, eos), context)
    torch.manual_seed(0)
    some = clean_pads(context.repeat(200, 1, 1), ids.repeat(200, 1), empty, 0.25, eos)
    replaced = (some[:, -1] == -1).all(-1).float().view(200, 3)[:, [0, 2]].mean()  # rows that have padding
    assert 0.15 < float(replaced) < 0.35
