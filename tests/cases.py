"""The table of methods x backbones the behaviour tests are parametrised over (a module, since test modules
should not import conftest): each row a method and options under which every one of its mechanisms acts, and
the tiny models ("sd": the UNet; "flux", "sd3": the DiTs) it runs on."""
import pytest

# A short ConsiStory run in which every mechanism acts: with 5 steps SDSA starts at step 1 (masks
# exist), injection covers steps 0-1 and query mixing (widened from the first 10%) steps 1-2.
BASE_OPTIONS = {"query_mix_until": 0.5}
BASE_STEPS = 5
METHOD_STEPS = 3  # the mask-free and prompt-side methods act from step 0: three steps show every mechanism

METHODS = [
    pytest.param("consistory", BASE_OPTIONS, id="consistory"),
    pytest.param("shared", {}, id="shared"),
    pytest.param("svd", {"target": "kv", "zero": "rank:2"}, id="svd-kv"),
    pytest.param("svd", {"target": "hidden", "zero": "rank:2", "cache_device": "cpu"}, id="svd-hidden-cache-cpu"),
    pytest.param("svd", {"target": "attn", "zero": "rank:2"}, id="svd-attn"),
    pytest.param("svd", {"target": "kv", "zero": "rank:2", "anchor_pool": 2}, id="svd-pooled"),
    pytest.param("storydiffusion", {"n_anchors": 2}, id="storydiffusion"),
    pytest.param("1p1s", {"ipca": True}, id="1p1s"),
    pytest.param("1p1s", {}, id="1p1s-no-ipca"),
]
# methods whose extras see the anchors, and the anchor cache offloaded
SHARING = [case for case in METHODS if case.values[0] != "1p1s"] + [
    pytest.param("consistory", {**BASE_OPTIONS, "cache_device": "cpu"}, id="consistory-cache-cpu")]

# the tiny models each method runs on: every method on the UNet, and each DiT where it is supported
RUNS_ON = {"vanilla": ("sd", "flux", "sd3"), "consistory": ("sd", "flux", "sd3"), "shared": ("sd", "flux", "sd3"),
           "svd": ("sd", "flux", "sd3"), "storydiffusion": ("sd", "flux", "sd3"), "1p1s": ("sd", "flux", "sd3")}
BACKBONE = {"sd": "unet", "flux": "flux", "sd3": "sd3"}  # the backbone of each tiny model


UNET_ONLY = {"ipca": True}  # options that need cross-attention layers (1p1s's IPCA): refused on a DiT


def on_models(cases, kinds=("sd", "flux", "sd3")):
    """Each case on each tiny model of `kinds` its method runs on: rows (kind, method, options)."""
    runs = lambda kind, method, options: kind in RUNS_ON[method] and (
        kind == "sd" or not UNET_ONLY.items() & options.items())
    return [pytest.param(kind, *case.values, id=f"{kind}-{case.id}") for kind in kinds for case in cases
            if runs(kind, *case.values)]


def vanilla_options(kind: str) -> dict:
    """Vanilla with the sampler of the sharing methods on that model (DDIM on the UNet, its own on a DiT)."""
    return {"scheduler": "ddim"} if kind == "sd" else {}


def steps(method: str) -> int:
    return BASE_STEPS if method == "consistory" else METHOD_STEPS


def size(options) -> int:
    """Pixels: the attn target decomposes every (T x S) block at every step, so it runs at 16 px."""
    return 16 if options.get("target") == "attn" else 32
