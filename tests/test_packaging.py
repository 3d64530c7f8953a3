"""pyproject.toml in the form current setuptools reads without a deprecation warning at install."""
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

PYPROJECT = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())


def test_the_license_is_an_spdx_expression_and_the_build_needs_a_setuptools_that_reads_it():
    assert PYPROJECT["project"]["license"] == "Apache-2.0"  # a TOML table is deprecated in setuptools>=77
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]  # the first to take the string form
