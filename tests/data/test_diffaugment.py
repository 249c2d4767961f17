"""DiffAugment/DSA batch augmentation: seeded, differentiable, one view shared by teacher and student."""
from __future__ import annotations

import pytest
import torch

from distillery.api import run
from distillery.data import diffaugment as da
from distillery.teacher.outputs import LiveTeacher


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _images(n=8, size=16):
    return torch.rand(n, 3, size, size, generator=_gen(123)) * 0.8 + 0.1  # strictly inside (0, 1)


@pytest.mark.parametrize("op", da.OPS)
def test_each_op_is_seeded_differentiable_and_changes_the_batch(op):
    x = _images().requires_grad_(True)
    y = da.diff_augment(x, [op], "all", _gen(1))
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert torch.equal(y, da.diff_augment(x, [op], "all", _gen(1)))  # same generator state: same batch
    assert not torch.equal(y, da.diff_augment(x, [op], "all", _gen(2)))
    assert not torch.allclose(y, x)
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the pixels


def test_op_semantics():
    x = _images(64)
    f = da.flip(x, _gen())
    flipped = [torch.equal(f[i], x[i].flip(2)) for i in range(64)]
    kept = [torch.equal(f[i], x[i]) for i in range(64)]
    assert all(a or b for a, b in zip(flipped, kept, strict=True)) and 10 < sum(flipped) < 54
    c = da.cutout(x, _gen())
    zero_frac = (c == 0).all(1).float().mean((1, 2))
    assert ((zero_frac > 0.05) & (zero_frac <= 0.25 + 1e-6)).all()  # an 8x8 square of 16x16, clipped at borders
    assert torch.equal(c[c != 0], x[c != 0])
    r = da.rotate(x, _gen())
    assert torch.allclose(r[:, :, 7:9, 7:9], x[:, :, 7:9, 7:9], atol=0.35)  # rotation about the centre
    u8 = (x * 255).to(torch.uint8)
    assert da.diff_augment(u8, ["flip"], "all", _gen()).dtype == torch.float32  # uint8 becomes [0, 1] float


def test_mode_one_applies_a_single_op():
    x = _images()
    y = da.diff_augment(x, list(da.OPS), "one", _gen(5))
    g = _gen(5)
    op = da.OPS[int(torch.randint(len(da.OPS), (1,), generator=g))]
    assert torch.equal(y, da._FUNCS[op](x, g))


def test_training_feeds_one_augmented_view_to_teacher_and_student(make_image_config, monkeypatch):
    seen: dict[str, list[torch.Tensor]] = {"teacher": [], "student": []}
    real = LiveTeacher.outputs

    def spy(self, batch):
        seen["teacher"].append(batch["teacher"]["pixel_values"])
        return real(self, batch)

    monkeypatch.setattr(LiveTeacher, "outputs", spy)
    raw = make_image_config("da", data__diffaugment={"mode": "all"}, data__augment="none")
    from distillery.training import module as mod

    orig = mod.DistillationModule.training_step

    def step(self, batch, batch_idx):
        self.student.register_forward_pre_hook(lambda m, a: seen["student"].append(a[0]["pixel_values"]))
        out = orig(self, batch, batch_idx)
        self.student._forward_pre_hooks.clear()
        return out

    monkeypatch.setattr(mod.DistillationModule, "training_step", step)
    m = run(raw, quiet=True)
    assert m["teacher"]["cache"] is None  # the inputs change at every step: the teacher runs live
    assert len(seen["teacher"]) == m["train"]["steps"] > 0
    for t, s in zip(seen["teacher"], seen["student"], strict=False):
        assert t is s and t.dtype == torch.float32  # the very same augmented tensor
