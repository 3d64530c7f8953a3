"""Bad options of the mask-free and prompt-side methods fail at config time, naming the option."""
import dataclasses

import pytest

from svdstory import SvdStoryError
from svdstory.cli import main
from svdstory.methods.configs import BUILTIN, AnchoredConfig, MethodConfig
from svdstory.resolve import method_config

BAD = [
    ("svd", {"target": "qk"}, ["target", "'qk'"]),
    ("svd", {"zero": "foo:1"}, ["zero", "'foo:1'"]),
    ("svd", {"zero": "rank:0"}, ["zero", "rank:0"]),
    ("svd", {"reweight": "foo"}, ["reweight", "'foo'"]),
    ("svd", {"zero": "exp:0.1"}, ["zero", "'exp'", "reweight strategy"]),
    ("svd", {"reweight": "rank:2"}, ["reweight", "'rank'", "zero strategy"]),
    ("svd", {"decomposition": "qr"}, ["decomposition", "'qr'"]),
    ("svd", {"decomposition": "randomized"}, ["randomized", "rank"]),
    ("svd", {"rank": 0}, ["rank", "0"]),
    ("svd", {"refresh": 0}, ["refresh", "0"]),
    ("shared", {"anchor_pool": 0}, ["anchor_pool", "0"]),
    ("svd", {"decomposition": "subspace"}, ["subspace", "rank"]),
    ("svd", {"n_anchors": -1}, ["n_anchors", "-1"]),
    ("shared", {"n_anchors": -2}, ["n_anchors", "-2"]),
    ("storydiffusion", {"n_anchors": -1}, ["n_anchors", "-1"]),
    ("storydiffusion", {"sample_rate": 2}, ["sample_rate", "2"]),
    ("storydiffusion", {"sample_rate": -0.1}, ["sample_rate", "-0.1"]),
    ("shared", {"parts": ("up", "left")}, ["parts", "left"]),
    ("svd", {"parts": ("up.x",)}, ["parts", "up.x"]),
    ("consistory", {"sdsa_parts": ("mid.0",)}, ["sdsa_parts", "mid.0"]),
    ("svd", {"steps": (0.5, 0.2)}, ["steps"]),
    ("shared", {"scheduler": "euler"}, ["scheduler", "'euler'"]),
    ("svd", {"scheduler": "euler"}, ["scheduler", "'euler'"]),
    ("storydiffusion", {"scheduler": "euler"}, ["scheduler", "'euler'"]),
    ("1p1s", {"scheduler": "euler"}, ["scheduler", "'euler'"]),
    ("1p1s", {"ipca": "maybe"}, ["ipca", "'maybe'"]),
]


@pytest.mark.parametrize("method,options,names", BAD)
def test_bad_option_fails_at_config_time(method, options, names):
    with pytest.raises(SvdStoryError) as err:
        method_config(method, options)
    message = str(err.value)
    assert "\n" not in message
    for name in names:
        assert name in message, (name, message)


@pytest.mark.parametrize("method,options", [
    ("svd", {"zero": "rank:8,energy:0.9", "reweight": "exp:0.01:1.0+norm", "target": "attn"}),
    ("svd", {"decomposition": "randomized", "rank": 4}),
    ("svd", {"decomposition": "subspace", "rank": 4, "refresh": 5, "share_uncond": False}),
    ("svd", {"zero": "energy:0.95->0.8@steps=0..0.6"}),
    ("storydiffusion", {"sample_rate": 0.0, "n_anchors": 0}),
    ("1p1s", {"ipca": True, "enhance_alpha": 0.0}),
])
def test_good_options_pass(method, options):
    _, config = method_config(method, options)
    assert all(getattr(config, key) == value for key, value in options.items())


BASE = ["generate", "--model", "tiny", "--device", "cpu", "--steps", "1", "--height", "32", "--width", "32",
        "--subject", "a cat", "--scene", "on a beach"]


@pytest.mark.parametrize("method,pair,names", [
    ("svd", "zero=foo", ["zero", "'foo'"]),
    ("svd", "target=qk", ["target", "'qk'"]),
    ("svd", "reweight=rank:2", ["reweight", "'rank'"]),
    ("svd", "decomposition=qr", ["decomposition", "'qr'"]),
    ("shared", "n_anchors=-1", ["n_anchors", "-1"]),
    ("storydiffusion", "sample_rate=2", ["sample_rate", "2"]),
    ("1p1s", "scheduler=euler", ["scheduler", "'euler'"]),
])
def test_cli_rejects_the_option_before_writing_anything(capsys, tmp_path, monkeypatch, method, pair, names):
    def no_model(*args, **kwargs):
        raise AssertionError("a bad option must fail before any model is loaded")

    monkeypatch.setattr("svdstory.models.load_model", no_model)
    try:
        code = main(BASE + ["--method", method, "--set", pair, "--out", str(tmp_path / "out")])
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("svdstory: error: "), err
    assert all(name in lines[0] for name in names), lines[0]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("method", list(BUILTIN))
def test_every_method_config_declares_the_shared_contract(method):
    """Every built-in config is a MethodConfig (a scheduler, validated once, an anchor batch) and names
    its method; the anchor batch is where anchors-first splits a story."""
    config = BUILTIN[method][1]()
    assert isinstance(config, MethodConfig) and type(config).method == method
    variants = [config]
    if isinstance(config, AnchoredConfig):  # 0 anchors (every image) is for the mask-free methods only
        variants += [dataclasses.replace(config, n_anchors=k) for k in ((3,) if method == "consistory" else (0, 3))]
    assert [v.anchor_batch for v in variants] == [v.n_anchors or 2 if isinstance(v, AnchoredConfig) else 2
                                                  for v in variants]
