"""CIFAR ResNets (He et al. 2016, "option A" shortcuts) whose state dicts load the akamaster checkpoints."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..features import Features
from .base import ImagePreprocess, Network
from .registry import register_model


class _ShortcutA(nn.Module):
    """Parameter-free shortcut: subsample by 2 and zero-pad channels (planes // 4 on each side)."""

    def __init__(self, planes: int):
        super().__init__()
        self.pad = planes // 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_planes != planes:
            self.shortcut = _ShortcutA(planes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(Network):
    """ResNet-(6n+2) for 32x32 inputs; widths 16/32/64; hidden states are the three stage outputs."""

    modality = "image"
    head_attr = "linear"

    def __init__(self, depth: int, num_classes: int = 10):
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError("depth must be 6n+2")
        n = (depth - 2) // 6
        self.preprocess = ImagePreprocess(size=None)
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._stage(16, 16, n, 1)
        self.layer2 = self._stage(16, 32, n, 2)
        self.layer3 = self._stage(32, 64, n, 2)
        self.linear = nn.Linear(64, num_classes)
        self.embed_dim = 64
        self.num_classes = num_classes
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    @staticmethod
    def _stage(in_planes: int, planes: int, n: int, stride: int) -> nn.Sequential:
        blocks = [BasicBlock(in_planes, planes, stride)] + [BasicBlock(planes, planes) for _ in range(n - 1)]
        return nn.Sequential(*blocks)

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> Features:
        x = self.preprocess(inputs["pixel_values"])
        x = F.relu(self.bn1(self.conv1(x)))
        h1 = self.layer1(x)
        h2 = self.layer2(h1)
        h3 = self.layer3(h2)
        emb = F.adaptive_avg_pool2d(h3, 1).flatten(1)
        return Features(embedding=emb, hidden_states=(h1, h2, h3))


for _depth in (20, 32, 44, 56, 110):
    register_model(f"resnet{_depth}")(lambda num_classes=10, _d=_depth: CifarResNet(_d, num_classes))
