"""Shared fixtures for the loss tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_torch() -> None:
    """Every test starts from the same torch RNG state (inputs drawn with torch.randn are deterministic)."""
    torch.manual_seed(0)
