"""The report's scatter plot: better is up and right, lower-is-better axes drawn inverted."""
import numpy as np

from svdstory.eval.report.plot import Series, axis_for, scatter_image


def _rows_of(img, rgb) -> float:
    a = np.asarray(img).astype(int)
    near = (abs(a - np.array(rgb)).sum(-1) < 30)
    return float(np.nonzero(near)[0].mean())


def test_lower_is_better_axis_puts_the_lower_mean_higher_in_the_picture():
    good = Series("good", ((0.5, 0.2),), (0.5, 0.2), (0.45, 0.55), (0.15, 0.25))
    bad = Series("bad", ((0.5, 0.6),), (0.5, 0.6), (0.45, 0.55), (0.55, 0.65))
    x = axis_for("clip_t", [0.5])
    for inverted in (True, False):
        y = axis_for("dreamsim", [0.2, 0.6], inverted=inverted)
        img = scatter_image([good, bad], x, y)
        assert img.size == (720, 480)
        blue, orange = (31, 119, 180), (255, 127, 14)  # matplotlib's first two colours: good, bad
        good_above = _rows_of(img, blue) < _rows_of(img, orange)
        assert good_above == inverted
