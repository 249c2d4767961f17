"""Batch-level differentiable augmentation: DiffAugment (Zhao et al. 2020) with the DSA parameters of Zhao & Bilen
2021, as used by Farhat & Chen 2024 (strategy ``flip_color_crop_rotate_scale_cutout``; ``S`` = one op drawn per
batch, ``M`` = all ops in turn; ../shared/papers.md §1.7).

Every op is differentiable in the pixels and draws its parameters per sample from a seeded generator, so a batch
is augmented identically wherever the same generator state is used (the teacher and the student see one tensor).
Images are float in [0, 1] (uint8 is converted); each network normalises them itself afterwards.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

OPS = ("flip", "color", "crop", "rotate", "scale", "cutout")
SCALE, ROTATE_DEG, CROP_PAD, CUTOUT = 1.2, 15.0, 0.125, 0.5  # DSA's ratio_scale, ratio_rotate, ratio_crop_pad, ...
BRIGHTNESS, SATURATION, CONTRAST = 1.0, 2.0, 0.5


def _rand(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=gen).to(device)


def _affine(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, align_corners=True)


def flip(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Horizontal flip with probability 0.5 per sample."""
    m = (_rand(x.shape[0], gen, x.device) < 0.5).view(-1, 1, 1, 1)
    return torch.where(m, x.flip(3), x)


def color(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Brightness (additive, +/-0.5), saturation (x [0, 2]) and contrast (x [0.5, 1.5]) per sample."""
    n = x.shape[0]
    x = x + (_rand(n, gen, x.device) - 0.5).view(-1, 1, 1, 1) * BRIGHTNESS
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(n, gen, x.device) * SATURATION).view(-1, 1, 1, 1) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(n, gen, x.device) + CONTRAST).view(-1, 1, 1, 1) + mean


def crop(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Translation by up to 1/8 of the size in each direction, zero-filled."""
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 2] = (_rand(n, gen, x.device) - 0.5) * 2 * CROP_PAD * 2  # grid units: the image spans [-1, 1]
    theta[:, 1, 2] = (_rand(n, gen, x.device) - 0.5) * 2 * CROP_PAD * 2
    return _affine(x, theta)


def rotate(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Rotation by up to +/-15 degrees."""
    n = x.shape[0]
    a = (_rand(n, gen, x.device) - 0.5) * 2 * ROTATE_DEG * math.pi / 180
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), torch.sin(-a)
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
    return _affine(x, theta)


def scale(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Independent horizontal and vertical scaling in [1/1.2, 1.2]."""
    n = x.shape[0]
    theta = torch.zeros(n, 2, 3, device=x.device)
    theta[:, 0, 0] = _rand(n, gen, x.device) * (SCALE - 1 / SCALE) + 1 / SCALE
    theta[:, 1, 1] = _rand(n, gen, x.device) * (SCALE - 1 / SCALE) + 1 / SCALE
    return _affine(x, theta)


def cutout(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Zero a random square of half the image size (clipped at the borders) per sample."""
    n, _, h, w = x.shape
    ch, cw = int(h * CUTOUT + 0.5), int(w * CUTOUT + 0.5)
    cy = (torch.randint(0, h + (1 - ch % 2), (n,), generator=gen)).to(x.device)
    cx = (torch.randint(0, w + (1 - cw % 2), (n,), generator=gen)).to(x.device)
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    y0, x0 = (cy - ch // 2).view(-1, 1, 1), (cx - cw // 2).view(-1, 1, 1)
    inside = (ys >= y0) & (ys < y0 + ch) & (xs >= x0) & (xs < x0 + cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_FUNCS = {"flip": flip, "color": color, "crop": crop, "rotate": rotate, "scale": scale, "cutout": cutout}


def diff_augment(x: torch.Tensor, ops: Sequence[str], mode: str, gen: torch.Generator) -> torch.Tensor:
    """Augment a batch ``[B, C, H, W]``: ``mode='one'`` applies one op drawn from ``ops``, ``'all'`` each in turn.

    ``gen`` (a CPU generator) decides everything: equal generator states give equal outputs."""
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    chosen = [ops[int(torch.randint(len(ops), (1,), generator=gen))]] if mode == "one" else list(ops)
    for op in chosen:
        x = _FUNCS[op](x, gen)
    return x


def batch_generator(seed: int, epoch: int, batch: int) -> torch.Generator:
    """The generator for training batch ``batch`` of ``epoch``: a function of its arguments, so a resumed run draws
    what the uninterrupted one did."""
    from .batching import view_seed

    return torch.Generator().manual_seed(view_seed(seed, epoch, -1 - batch))
