"""The table of methods the behaviour tests are parametrised over (a module, since test modules should
not import conftest): each row a method and options under which every one of its mechanisms acts."""
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
]
# methods whose extras see the anchors, and the anchor cache offloaded
SHARING = [case for case in METHODS if case.values[0] != "1p1s"] + [
    pytest.param("consistory", {**BASE_OPTIONS, "cache_device": "cpu"}, id="consistory-cache-cpu")]


def steps(method: str) -> int:
    return BASE_STEPS if method == "consistory" else METHOD_STEPS


def size(options) -> int:
    """Pixels: the attn target decomposes every (T x S) block at every step, so it runs at 16 px."""
    return 16 if options.get("target") == "attn" else 32
