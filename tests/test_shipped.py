"""The shipped models in src/svdstory/assets (mini SD, evaluator, mini CLIP), loaded offline: their files
and size, the evaluator's accuracy on a fixed set of world v2 renders, the CLIP's text tower shared with
the mini SD and carrying its words, and the mini SD drawing the subject and scene it is asked for."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from svdstory.mini.clip import default_clip_path, load_clip, word_carrying
from svdstory.mini.evaluator import Evaluator, default_evaluator_path
from svdstory.mini.minisd import default_model_path
from svdstory.mini.tokenizer import WORD_END, make_tokenizer
from svdstory.world import ATTRIBUTES, BACKGROUND_ATTRIBUTES, LAYOUT_ATTRIBUTES, SCENES, SUBJECTS
from svdstory.world.captions_v2 import caption_words_v2
from svdstory.world.catalog import DEFAULT_WORLD, scene_phrase
from svdstory.world.data import StreamConfig, fixed_set

ASSETS = Path(default_model_path()).parent
BUDGET_MIB = 32  # all of src/svdstory/assets, as the issue allows
TEST_STREAM = 424_242  # no training stream drew it (training: streams < 10_000, held-out report 999_999)
RENDERS, GROUP = 64, 4  # 16 identities, 4 renders each (other scene, pose, background, layout)
# Share of the 64 renders each head must get right; a few points under what the shipped weights give
# (docs/training.md, "The evaluator"). The landmark is one small object behind the subject and props.
BAR = 0.9
HEAD_BARS = {"landmark": 0.75}
MASK_IOU_BAR = 0.9
CLIP_SCENE_BAR = 0.9     # the bundled CLIP ranks the image's own scene first among the 10
CLIP_SUBJECT_BAR = 0.3   # ... and its own subject among the 12 (chance 0.083)
GENERATED = (("a giraffe", "in a forest"), ("a bus", "in a city"), ("a mug", "on a beach"))
GENERATION_STEPS = 4


@pytest.fixture(scope="module")
def renders():
    return fixed_set(StreamConfig(seed=TEST_STREAM, group=GROUP, world=DEFAULT_WORLD), RENDERS)


@pytest.fixture(scope="module")
def evaluator():
    return Evaluator.load()


@pytest.fixture(scope="module")
def predicted(evaluator, renders):
    return evaluator.predict(renders["image"].float() / 255)


@pytest.fixture(scope="module")
def pipe():
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(default_model_path()), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module")
def clip():
    return load_clip(default_clip_path())


def _accuracy(probs: torch.Tensor, truth: torch.Tensor) -> float:
    return (probs.argmax(1) == truth).float().mean().item()


# ---------------------------------------------------------------- files


def test_assets_fit_the_budget_in_fp16():
    from safetensors import safe_open

    files = [f for f in ASSETS.rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) <= BUDGET_MIB * 2**20
    weights = [f for f in files if f.suffix == ".safetensors"]
    assert {f.parent.name for f in weights} == {"unet", "vae", "text_encoder", "evaluator", "clip"}
    for f in weights:
        with safe_open(str(f), framework="pt") as handle:
            dtypes = {handle.get_slice(k).get_dtype() for k in handle.keys()}
        assert dtypes <= {"F16", "I64"}, (f, dtypes)


def test_every_part_is_trained_on_the_default_world(evaluator):
    assert evaluator.cfg.world == DEFAULT_WORLD == 2
    assert json.loads((default_clip_path() / "svdstory_clip.json").read_text())["world"] == DEFAULT_WORLD
    assert (default_evaluator_path() / "config.json").is_file()


# ---------------------------------------------------------------- evaluator


def test_evaluator_heads_meet_their_bars(predicted, renders):
    scores = {"subject": _accuracy(predicted.subject, renders["subject"]),
              "scene": _accuracy(predicted.scene, renders["scene"])}
    for key, heads in (("attributes", ATTRIBUTES), ("background", BACKGROUND_ATTRIBUTES), ("layout", LAYOUT_ATTRIBUTES)):
        for i, name in enumerate(heads):
            scores[name] = _accuracy(getattr(predicted, key)[name], renders[key][:, i])
    low = {name: score for name, score in scores.items() if score < HEAD_BARS.get(name, BAR)}
    assert not low, f"under the bar: {low}"
    hard, truth = predicted.mask > 0.5, renders["mask"].bool()
    iou = ((hard & truth).sum((1, 2)) / (hard | truth).sum((1, 2)).clamp(min=1)).float().mean()
    assert iou >= MASK_IOU_BAR


def test_evaluator_reads_the_scene_without_the_subject(evaluator, predicted, renders):
    scene = evaluator.predict_background(renders["image"].float() / 255, predicted.mask)
    assert _accuracy(scene, renders["scene"]) >= BAR


def test_evaluator_embedding_groups_identities(predicted, renders):
    w = F.adaptive_avg_pool2d(predicted.mask[:, None], predicted.embedding.shape[-2:])
    z = F.normalize((predicted.embedding * w).sum((2, 3)), dim=1)
    sim = z @ z.T
    same = renders["identity"][:, None] == renders["identity"][None]
    off_diagonal = ~torch.eye(len(z), dtype=torch.bool)
    assert sim[same & off_diagonal].mean() > sim[~same].mean() + 0.3
    nearest = sim.masked_fill(~off_diagonal, -2).argmax(1)
    assert (renders["identity"][nearest] == renders["identity"]).float().mean() >= BAR


# ---------------------------------------------------------------- mini CLIP


def test_clip_text_tower_is_the_mini_sd_text_encoder(clip, pipe):
    model, tokenizer = clip
    tower, encoder = model.text_model.state_dict(), pipe.text_encoder.state_dict()
    assert tower.keys() == encoder.keys()
    assert all(torch.equal(tower[k].half(), encoder[k].half()) for k in tower)
    assert tokenizer.get_vocab() == pipe.tokenizer.get_vocab()


def test_shipped_tokenizer_makes_every_caption_word_one_token(pipe):
    words = caption_words_v2()
    pieces = pipe.tokenizer.convert_ids_to_tokens(pipe.tokenizer(" ".join(words)).input_ids[1:-1])
    assert pieces == [w + WORD_END for w in words]
    folder = default_model_path() / "tokenizer"  # vocab.json and merges.txt, for loaders that want CLIP's files
    merges = [tuple(line.split()) for line in (folder / "merges.txt").read_text().splitlines()[1:]]
    rebuilt = make_tokenizer(json.loads((folder / "vocab.json").read_text()), merges, pipe.tokenizer.model_max_length)
    text = "a photo of the purple checked rabbit wearing a bow facing left near two cars at twilight"
    assert rebuilt(text).input_ids == pipe.tokenizer(text).input_ids


def test_web_ui_examples_are_in_the_words_the_model_knows(pipe):
    from svdstory.story import Story
    from svdstory.ui.examples import EXAMPLES
    from svdstory.world.captions_v2 import parse_caption_v2

    for example in EXAMPLES:
        tokens = tuple(t.strip() for t in example.tokens.split(",") if t.strip())
        story = Story(example.subject, example.scenes, tokens, example.style)
        for prompt in story.prompts:
            pieces = pipe.tokenizer.convert_ids_to_tokens(pipe.tokenizer(prompt).input_ids[1:-1])
            assert pieces == [w + WORD_END for w in prompt.split()], prompt
            parsed = parse_caption_v2(prompt)
            assert parsed["subject"] == story.tokens[0] and parsed["scene"] in SCENES, prompt


def test_clip_text_outputs_carry_their_words(clip):
    """What v1's text encoder lacked: a subject word's output says which word it is, wherever it stands."""
    result = word_carrying(clip[0].text_model, clip[1], list(SUBJECTS))
    assert result["carried"] >= BAR
    assert result["same_word_other_position"] > result["other_word_same_position"] + 0.3


def test_bundled_clip_matches_images_to_their_prompts(renders):
    """`--clip-model bundled:clip`, the metrics' path: an image's own scene and subject rank first."""
    from PIL import Image

    from svdstory.eval.embedders import BUNDLED_CLIP, load_clip as load_metric_clip

    embedder = load_metric_clip(BUNDLED_CLIP)
    images = [Image.fromarray(im.permute(1, 2, 0).numpy()) for im in renders["image"]]
    image_features = F.normalize(embedder.images(images), dim=-1)  # (N, D)
    subjects = list(SUBJECTS)
    texts = [f"{'an' if s[0] in 'aeiou' else 'a'} {s} {scene_phrase(c)}" for s in subjects for c in SCENES]
    text_features = F.normalize(embedder.texts(texts), dim=-1).view(len(subjects), len(SCENES), -1)
    sim = torch.einsum("nd,scd->nsc", image_features, text_features)  # (N, subjects, scenes)
    n = torch.arange(len(images))
    scene_hit = sim[n, renders["subject"]].argmax(1) == renders["scene"]
    subject_hit = sim[n, :, renders["scene"]].argmax(1) == renders["subject"]
    assert scene_hit.float().mean() >= CLIP_SCENE_BAR and subject_hit.float().mean() >= CLIP_SUBJECT_BAR


# ---------------------------------------------------------------- mini SD


def test_mini_sd_draws_the_subject_and_scene_it_is_asked_for(pipe, evaluator):
    from diffusers import DDIMScheduler

    assert isinstance(pipe.scheduler, DDIMScheduler) and pipe.scheduler.config.prediction_type == "epsilon"
    defaults = json.loads((default_model_path() / "svdstory.json").read_text())
    prompts = [f"{subject} {scene}" for subject, scene in GENERATED]
    images = pipe(prompts, num_inference_steps=GENERATION_STEPS, guidance_scale=defaults["guidance"],
                  generator=[torch.Generator().manual_seed(i) for i in range(len(prompts))], output_type="pt").images
    assert images.shape == (len(prompts), 3, 128, 128)
    read = evaluator.predict(images)
    called = [(list(SUBJECTS)[s], SCENES[c]) for s, c in zip(read.subject.argmax(1), read.scene.argmax(1))]
    assert called == [(subject.split()[-1], scene.split()[-1]) for subject, scene in GENERATED]
