"""The mini Stable Diffusion's code: tokenizer, tiny trainable config, training helpers (the shipped
pipeline: tests/test_shipped.py)."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from svdstory.errors import SvdStoryError
from svdstory.world import ATTRIBUTES, SCENES, SUBJECTS, Labels, caption, vocabulary
from svdstory.mini import minisd
from svdstory.mini.tokenizer import WORD_END, build_tokenizer, tokenizer_files

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

@pytest.fixture(scope="module")
def tokenizer():
    return build_tokenizer(vocabulary(), 24)


def _random_captions(count: int, rate: float) -> list[str]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        subject = list(SUBJECTS)[rng.integers(len(SUBJECTS))]
        attrs = {k: v[rng.integers(len(v))] for k, v in ATTRIBUTES.items()}
        labels = Labels(subject, SUBJECTS[subject], attrs, SCENES[rng.integers(len(SCENES))], {"x": .5, "y": .5, "scale": 1.})
        out.append(caption(labels, rng, attribute_rate=rate))
    return out


def _assert_one_token_per_word(tok, texts):
    for text in texts:
        ids = tok(text).input_ids
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id
        pieces = tok.convert_ids_to_tokens(ids[1:-1])
        assert pieces == [w + WORD_END for w in text.split()], text


def test_every_vocabulary_word_is_one_token(tokenizer):
    _assert_one_token_per_word(tokenizer, vocabulary())


def test_tokenizer_files_are_reproducible():
    words = vocabulary()
    assert tokenizer_files(words) == tokenizer_files(list(reversed(words)))


def test_captions_fit_the_context(tokenizer):
    texts = _random_captions(300, rate=1.0)
    _assert_one_token_per_word(tokenizer, texts[:50])
    assert max(len(tokenizer(t).input_ids) for t in texts) <= tokenizer.model_max_length


def test_unknown_words_fall_back_to_characters(tokenizer):
    ids = tokenizer("a quokka juggling 42 crêpes!").input_ids
    inner = ids[1:-1]
    assert len(inner) > 5 and tokenizer.unk_token_id not in inner  # byte fallback, never <unk>
    assert tokenizer.decode(inner).replace(" ", "") == "aquokkajuggling42crêpes!"


def test_config_rejects_channels_that_do_not_fit_groups():
    with pytest.raises(SvdStoryError, match="channels"):
        minisd.MiniSDConfig(unet_channels=(48, 96, 100))
    with pytest.raises(SvdStoryError, match="levels"):
        minisd.MiniSDConfig(unet_channels=(64, 128))


def test_tiny_components_train():
    torch.manual_seed(0)
    cfg = minisd.tiny_config()
    parts = minisd.build_components(cfg)
    unet, text = parts["unet"], parts["text_encoder"]
    ids = parts["tokenizer"](["a red cat in a forest", "a bus on a beach"], padding="max_length",
                             max_length=cfg.max_length, return_tensors="pt").input_ids
    latents = torch.randn(2, cfg.latent_channels, cfg.latent_size, cfg.latent_size)
    noise, t = torch.randn_like(latents), torch.tensor([100, 700])
    opt = torch.optim.Adam([*unet.parameters(), *text.parameters()], lr=2e-3)
    losses = []
    for _ in range(8):
        pred = unet(latents + noise, t, text(ids)[0]).sample
        loss = torch.nn.functional.mse_loss(pred, noise)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in text.parameters())
    names = [n for n, _ in unet.attn_processors.items()]
    assert any("attn2" in n for n in names) and any("down_blocks.1" in n and "attn2" in n for n in names)


def test_checkpoint_shards_round_trip(tmp_path):
    sys.path.insert(0, str(SCRIPTS))
    from train_common import load_checkpoint, save_checkpoint

    tensors = {f"w{i}": torch.randn(1000) for i in range(5)}  # 4000 bytes each
    paths = save_checkpoint(tmp_path, tensors, {"step": 7}, max_bytes=9000)
    assert len(paths) == 3 and all(p.stat().st_size < 9000 + 2000 for p in paths)
    back, meta = load_checkpoint(tmp_path)
    assert meta == {"step": 7} and all(torch.equal(back[k], v) for k, v in tensors.items())


def test_training_noise_adds_low_frequencies():
    sys.path.insert(0, str(SCRIPTS))
    from train_minisd import training_noise

    torch.manual_seed(0)
    like = torch.zeros(512, 4, 32, 32)
    white, offset = training_noise(like, 0.0), training_noise(like, 0.1)
    assert white.mean((2, 3)).std() < 0.05  # 1/32 for white noise
    assert offset.mean((2, 3)).std() > 0.09  # the per-channel offset survives spatial averaging
