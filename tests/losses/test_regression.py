"""Regression: recompute every loss on the fixed inputs of ``make_fixtures.py`` and compare with the values
stored in ``fixtures/loss_values.json`` (atol 1e-5). A failure means a formula changed; if that was
intended, regenerate with ``.venv/bin/python tests/losses/make_fixtures.py``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("_loss_fixture_maker", HERE / "make_fixtures.py")
assert _spec is not None and _spec.loader is not None
maker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(maker)

STORED = json.loads((HERE / "fixtures" / "loss_values.json").read_text())["values"]
CASES = maker._cases()


def test_fixture_covers_every_case() -> None:
    assert set(STORED) == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loss_value_unchanged(name: str) -> None:
    got = CASES[name]()
    np.testing.assert_allclose(
        np.asarray(got, dtype=float), np.asarray(STORED[name], dtype=float), rtol=0, atol=1e-5
    )
    assert np.all(np.isfinite(np.asarray(got, dtype=float)))


TERM_VALUES = json.loads((HERE / "fixtures" / "term_values.json").read_text())["values"]


def _registered() -> list[str]:
    from distillery.losses import TERMS

    return sorted(TERMS)


def test_every_registered_term_has_a_stored_value() -> None:
    """A newly registered term fails here until its value is stored (regenerate with make_fixtures.py)."""
    assert set(TERM_VALUES) == set(_registered())


@pytest.mark.parametrize("name", _registered())
def test_term_value_unchanged(name: str) -> None:
    got = maker.term_value(name)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, TERM_VALUES[name], rtol=1e-5, atol=1e-5)
