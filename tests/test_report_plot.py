"""The report's scatter plot: better is up and right (lower-is-better axes drawn inverted), a PNG of a size that
grows with the legend, dozens of settings numbered and listed."""
import io

import numpy as np
from PIL import Image

from svdstory.eval.report.plot import DPI, LEGEND_ROWS, LEGEND_W, Series, axis_for, scatter_png


def _rows_of(img, rgb) -> float:
    a = np.asarray(img.convert("RGB")).astype(int)[:, : int(6 * DPI)]  # the axes, left of the legend
    near = (abs(a - np.array(rgb)).sum(-1) < 30)
    return float(np.nonzero(near)[0].mean())


def _series(label, x, y, half=0.05):
    return Series(label, ((x, y),), (x, y), (x - half, x + half), (y - half, y + half))


def test_lower_is_better_axis_puts_the_lower_mean_higher_in_the_picture():
    good, bad = _series("good", 0.5, 0.2), _series("bad", 0.5, 0.6)
    x = axis_for("clip_t", [0.4, 0.6])
    for inverted in (True, False):
        y = axis_for("dreamsim", [0.1, 0.7], inverted=inverted)
        img = Image.open(io.BytesIO(scatter_png([good, bad], x, y)))
        blue, orange = (31, 119, 180), (255, 127, 14)  # matplotlib's first two colours: good, bad
        assert (_rows_of(img, blue) < _rows_of(img, orange)) == inverted


def test_many_settings_give_a_png_with_a_longer_legend():
    rng = np.random.default_rng(0)
    few = [_series(f"m{k}", *rng.uniform(0, 1, 2)) for k in range(3)]
    many = [_series(f"svd?zero=energy:0.{k:02d}&reweight=exp:0.01+norm", *rng.uniform(0, 1, 2)) for k in range(70)]
    x, y = axis_for("a", [0, 1]), axis_for("b", [0, 1])
    small, large = (Image.open(io.BytesIO(scatter_png(s, x, y))) for s in (few, many))
    assert small.format == large.format == "PNG"
    assert small.size == (round((7 + LEGEND_W) * DPI), round(4.8 * DPI))
    assert LEGEND_ROWS < 70 <= 2 * LEGEND_ROWS
    assert large.size[0] == round((7 + 2 * LEGEND_W) * DPI)  # 70 entries: two legend columns
    assert large.size[1] > small.size[1]
