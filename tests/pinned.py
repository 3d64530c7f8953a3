"""What the pinned-output tests share: the story, the run and the tolerance, and the final latents of one case."""
import os

import torch
from safetensors.torch import load_file, save_file

from svdstory import SamplingConfig, Story, generate, generate_anchors, generate_more

STORY = Story("a cat", ("on a beach", "in a city", "in snow"))
STEPS = 5
# Several kernels (Otsu thresholds, nearest neighbours) switch on comparisons, so the pins hold on one
# CPU build of torch; the tolerance covers rounding between machines, not a change of behaviour.
TOLERANCE = dict(rtol=1e-3, atol=1e-4)


def final_latents(model, method, options, extras) -> torch.Tensor:
    """The last step's latents of a batch run, or of the anchors then the extras (anchors + extras)."""
    latents = []
    keep = lambda info: latents.append(info["x"].detach().float().clone())  # noqa: E731
    sampling = SamplingConfig(steps=STEPS, guidance=5.0, height=32, width=32, seed=0)
    if not extras:
        generate(model, STORY, method, options, sampling, callback=keep)
        return latents[-1]
    subject = generate_anchors(model, STORY.with_scenes(STORY.scenes[:2]), method, options, sampling, callback=keep)
    anchors = latents[-1]
    generate_more(subject, STORY.scenes[2:], callback=keep)
    return torch.cat([anchors, latents[-1]])


def check_pins(current: dict, pins) -> None:
    """`current` equals the pinned latents in the file `pins` (written first under SVDSTORY_PIN=write)."""
    if os.environ.get("SVDSTORY_PIN") == "write":
        pins.parent.mkdir(parents=True, exist_ok=True)
        save_file(current, str(pins))
    pinned = load_file(str(pins))
    assert sorted(pinned) == sorted(current)
    for key, latents in current.items():
        torch.testing.assert_close(latents, pinned[key], **TOLERANCE, msg=lambda m, key=key: f"{key}: {m}")


def check_apart(current: dict, kinds, cases) -> None:
    """Every case of every kind differs from that kind's vanilla: a pin that every method would meet guards nothing."""
    for kind in kinds:
        vanilla = current[f"{kind}/vanilla"]
        for name in cases:
            if name != "vanilla" and not name.endswith("-extras"):
                assert not torch.allclose(current[f"{kind}/{name}"], vanilla, **TOLERANCE), f"{kind}/{name}"
