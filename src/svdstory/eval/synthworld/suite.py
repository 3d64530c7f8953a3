"""The SynthWorld story suite: plain-prompt stories ("a cat" + "in a forest", ...) with their truth.

Prompts use the world's own caption words (articles, scene prepositions), so the mini model reads
them as it read its training captions; they name no attribute, so each image's identity is left open
and only a consistency method can make it agree across the story.
"""

from __future__ import annotations

import numpy as np

from svdstory.errors import SvdStoryError
from svdstory.world import SCENES, SUBJECTS, parse_caption
from svdstory.world.catalog import FAMILIES, scene_phrase  # noqa: F401  (scene_phrase: part of this module's API)

SEED_LIMIT = 2**31 - 1  # generators on every backend accept seeds below this


def subject_phrase(subject: str) -> str:
    """'a cat', 'an elephant': the article the world's captions use before a bare class name."""
    return ("an " if subject[0] in "aeiou" else "a ") + subject


def _check(n_stories: int, seed: int, scenes_per_story: int) -> None:
    for name, value in (("n_stories", n_stories), ("seed", seed), ("scenes_per_story", scenes_per_story)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise SvdStoryError(f"{name} must be an integer, got {value!r}")
    if n_stories < 1:
        raise SvdStoryError(f"n_stories must be at least 1, got {n_stories}")
    if seed < 0:
        raise SvdStoryError(f"seed must be non-negative, got {seed}")
    if not 2 <= scenes_per_story <= len(SCENES):
        raise SvdStoryError(f"scenes_per_story must be in [2, {len(SCENES)}], got {scenes_per_story}")


def _subjects(rng: np.random.Generator, n_stories: int) -> list[str]:
    """Families alternate story by story; within a family every class comes once per shuffled round."""
    pools = {family: [name for name, f in SUBJECTS.items() if f == family] for family in FAMILIES}
    queues: dict[str, list[str]] = {family: [] for family in FAMILIES}
    picked = []
    for k in range(n_stories):
        family = FAMILIES[k % len(FAMILIES)]
        if not queues[family]:
            queues[family] = [pools[family][i] for i in rng.permutation(len(pools[family]))]
        picked.append(queues[family].pop())
    return picked


def _story(index: int, width: int, subject: str, scenes: list[str], seeds: list[int]) -> dict:
    return {
        "id": f"synth-{index:0{width}d}",
        "subject": subject_phrase(subject),
        "tokens": [subject],
        "style": "",
        "category": SUBJECTS[subject],
        "scenes": [scene_phrase(scene) for scene in scenes],
        "seeds": seeds,
        "truth": {"subject": subject, "family": SUBJECTS[subject], "scenes": list(scenes)},
    }


def synthworld_suite(n_stories: int = 100, seed: int = 0, scenes_per_story: int = 5) -> list[dict]:
    """`n_stories` stories, deterministic in `seed`: one subject class and distinct scenes per story."""
    _check(n_stories, seed, scenes_per_story)
    rng = np.random.default_rng(seed)
    subjects = _subjects(rng, n_stories)
    width = max(4, len(str(n_stories - 1)))
    stories = []
    for k, subject in enumerate(subjects):
        scenes = [SCENES[i] for i in rng.choice(len(SCENES), scenes_per_story, replace=False)]
        seeds = [int(s) for s in rng.choice(SEED_LIMIT, scenes_per_story, replace=False)]
        stories.append(_story(k, width, subject, scenes, seeds))
    return stories


def story_truth(story: dict) -> dict:
    """The story's truth, or (for a hand-written story in SynthWorld words) its prompts parsed back."""
    if story.get("truth"):
        truth = story["truth"]
        if len(truth["scenes"]) != len(story["scenes"]):
            raise SvdStoryError(f"story {story.get('id')!r}: truth names {len(truth['scenes'])} scenes "
                                f"for {len(story['scenes'])} prompts")
        return truth
    subject = parse_caption(story["subject"])["subject"]
    scenes = [parse_caption(scene)["scene"] for scene in story["scenes"]]
    if subject is None or None in scenes:
        raise SvdStoryError(f"story {story.get('id')!r}: no truth, and its prompts do not name a SynthWorld "
                            f"subject and scene each ({story['subject']!r}, {story['scenes']!r})")
    return {"subject": subject, "family": SUBJECTS[subject], "scenes": scenes}


# World v2 suite: prompt styles that put the subject word at different positions (none of them
# names a hidden attribute), and stories in which one scene class repeats (where copied
# backgrounds show most: the scene word is the same, only hidden attributes can tell the images apart).
STYLES_V2 = ("", "a photo of", "there is", "a picture of a scene with", "an image of")
REPEAT_SHARE = 0.5  # share of v2 stories with a repeated scene class


def _scenes_v2(rng: np.random.Generator, count: int, repeat: bool) -> list[str]:
    if not repeat:
        return [SCENES[i] for i in rng.choice(len(SCENES), count, replace=False)]
    distinct = [SCENES[i] for i in rng.choice(len(SCENES), count - (count + 1) // 2 + 1, replace=False)]
    scenes = [distinct[0]] * ((count + 1) // 2) + distinct[1:]  # the first class fills half the story
    return [scenes[i] for i in rng.permutation(count)]


def synthworld_suite_v2(n_stories: int = 100, seed: int = 0, scenes_per_story: int = 4,
                        repeat_share: float = REPEAT_SHARE) -> list[dict]:
    """World v2 stories, deterministic in `seed`: families alternate as in `synthworld_suite`; a
    `repeat_share` of them repeat one scene class in half their images; each takes a style of
    STYLES_V2 in turn. `truth` adds "style" and "repeated" (the repeated scene class or None)."""
    _check(n_stories, seed, scenes_per_story)
    rng = np.random.default_rng(seed)
    subjects = _subjects(rng, n_stories)
    width = max(4, len(str(n_stories - 1)))
    repeats = set(rng.permutation(n_stories)[:round(repeat_share * n_stories)].tolist())
    stories = []
    for k, subject in enumerate(subjects):
        scenes = _scenes_v2(rng, scenes_per_story, k in repeats)
        seeds = [int(s) for s in rng.choice(SEED_LIMIT, scenes_per_story, replace=False)]
        story = _story(k, width, subject, scenes, seeds)
        style = STYLES_V2[k % len(STYLES_V2)]
        repeated = max(set(scenes), key=scenes.count) if len(set(scenes)) < len(scenes) else None
        story.update(id=f"synth2-{k:0{width}d}", style=style)
        story["truth"].update(style=style, repeated=repeated, world=2)
        stories.append(story)
    return stories
