"""Property-based tests (hypothesis): config parsing never fails other than with a one-line DistilleryError, and
the loss functions give finite values and gradients on arbitrary finite inputs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from distillery.config import apply_overrides, build_config
from distillery.errors import DistilleryError
from distillery.losses import functional as F

BASE = {"data": {"source": "hub/dataset"}, "student": {"model": "text_cnn"}, "output": {"dir": "runs/x"}}
SECTIONS = ["data", "teacher", "student", "distill", "train", "output", "extra"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                    st.text(max_size=12))
values = st.recursive(scalars, lambda c: st.one_of(st.lists(c, max_size=3),
                                                   st.dictionaries(st.text(max_size=8), c, max_size=3)), max_leaves=8)
ident = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
# a value that YAML reads as text: --set parses values as YAML 1.1, where yes/no/on/off/y/n/null are not words
plain_word = ident.filter(lambda s: s not in {"yes", "no", "on", "off", "y", "n", "null", "true", "false"})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(section=st.sampled_from(SECTIONS), key=st.text(max_size=12), value=values)
def test_config_validation_fails_only_with_one_line(section, key, value):
    raw = {k: dict(v) for k, v in BASE.items()}
    raw.setdefault(section, {})
    if isinstance(raw[section], dict):
        raw[section][key] = value
    try:
        build_config(raw)
    except DistilleryError as e:
        assert "\n" not in str(e) and str(e)


@settings(max_examples=200, deadline=None)
@given(path=st.lists(ident, min_size=1, max_size=4), value=st.one_of(st.integers(-10**9, 10**9), plain_word,
                                                                       st.booleans()))
def test_overrides_set_exactly_the_key(path, value):
    text = str(value).lower() if isinstance(value, bool) else str(value)
    out = apply_overrides({}, [f"{'.'.join(path)}={text}"])
    node = out
    for p in path[:-1]:
        node = node[p]
    assert node[path[-1]] == value


def finite(shape, lo=-50.0, hi=50.0):
    return arrays(np.float32, shape, elements=st.floats(lo, hi, width=32))


def _grad_ok(loss: torch.Tensor, *xs: torch.Tensor) -> None:
    assert torch.isfinite(loss), loss
    loss.backward()
    for x in xs:
        assert x.grad is not None and torch.isfinite(x.grad).all()


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a).requires_grad_(True)


PROPS = settings(max_examples=60, deadline=None)


@PROPS
@given(s=finite((4, 5)), t=finite((4, 5)), temp=st.floats(0.5, 8.0), labels=arrays(np.int64, 4,
                                                                                    elements=st.integers(0, 4)))
def test_logit_losses_finite(s, t, temp, labels):
    a, b = _t(s), torch.tensor(t)
    _grad_ok(F.kd_loss(a, b, temp), a)
    a = _t(s)
    _grad_ok(F.dkd_loss(a, b, torch.tensor(labels), temperature=temp), a)


@PROPS
@given(x=finite((5, 3)), y=finite((5, 3)))
def test_embedding_losses_finite(x, y):
    for fn in (lambda a, b: F.align_loss(torch.nn.functional.normalize(a, dim=-1),
                                         torch.nn.functional.normalize(b, dim=-1)),
               lambda a, b: F.uniform_loss(torch.nn.functional.normalize(a, dim=-1)),
               F.rkd_distance_loss, F.rkd_angle_loss, F.pkt_loss, F.fitnet_loss):
        a, b = _t(x), _t(y)
        _grad_ok(fn(a, b), a)


@PROPS
@given(s=finite((2, 6, 8), -5, 5), t=finite((2, 6, 8), -5, 5))
def test_relation_losses_finite(s, t):
    a = _t(s)
    _grad_ok(F.minilm_relation_loss(a, torch.tensor(t), num_relation_heads=2), a)
    a = _t(s)
    _grad_ok(F.tinybert_hidden_loss(a, torch.tensor(t)), a)


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_batches_stay_finite(n):
    """A last batch of one or two samples (e.g. 9,505 samples in batches of 64) must not give NaN."""
    x = torch.randn(n, 4, requires_grad=True)
    y = torch.randn(n, 4)
    loss = (F.rkd_angle_loss(x, y) + F.rkd_distance_loss(x, y) + F.uniform_loss(x) + F.pkt_loss(x, y)
            + F.align_loss(torch.nn.functional.normalize(x, dim=-1), torch.nn.functional.normalize(y, dim=-1)))
    _grad_ok(loss, x)
