"""MobileNet v1 (Howard et al. 2017) with a width multiplier, built to load the Keras-applications ImageNet weights
(``mobilenet_v1_025_224_keras.npz``): TF "SAME" padding, BatchNorm eps 1e-3, ReLU6, inputs scaled as x/127.5 - 1.
As a student (random init, the paper's comparison of Farhat & Chen 2024) or a teacher / pre-trained student
(``weights: ...npz``: the backbone always, the 1000-class head only when the task has 1000 classes)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DistilleryError
from ..features import Features
from .base import ImagePreprocess, Network
from .registry import register_model

DW_STRIDES = (1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1)
PW_WIDTHS = (64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)  # at width 1.0
WIDTHS = (0.25, 0.5, 0.75, 1.0)


def same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TensorFlow "SAME" padding: output size ceil(n / stride), the extra pixel after (bottom/right)."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class ConvBN(nn.Module):
    """Conv (no bias, "SAME" padding) -> BatchNorm (eps 1e-3) -> ReLU6; ``groups = channels`` for depthwise."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, depthwise: bool = False):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=0, groups=cin if depthwise else 1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01)  # Keras momentum 0.99

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self.bn(self.conv(same_pad(x, self.kernel, self.stride))))


class MobileNetV1(Network):
    """``stem`` (3x3 stride-2 conv), 13 ``blocks`` of depthwise 3x3 + pointwise 1x1, global average pooling (the
    embedding, ``1024 x width`` wide) and a linear head."""

    def __init__(self, num_classes: int, width: float = 0.25, dropout: float = 0.0, input_size: int | None = None):
        super().__init__()
        if input_size is not None and input_size < 32:
            raise DistilleryError(f"mobilenet_v1: input_size {input_size} is under 32 pixels")
        if width not in WIDTHS:
            raise DistilleryError(f"mobilenet_v1: width {width} is not one of {', '.join(map(str, WIDTHS))}")
        c = int(32 * width)
        self.stem = ConvBN(3, c, 3, 2)
        blocks = []
        for stride, w in zip(DW_STRIDES, PW_WIDTHS, strict=True):
            cout = int(w * width)
            blocks.append(nn.Sequential(ConvBN(c, c, 3, stride, depthwise=True), ConvBN(c, cout, 1, 1)))
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.embed_dim = c
        self.head = nn.Linear(c, num_classes)
        self.num_classes = num_classes
        self.width = width
        self.preprocess = ImagePreprocess((0.5, 0.5, 0.5), (0.5, 0.5, 0.5), input_size)  # x / 127.5 - 1

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> Features:
        h = self.stem(self.preprocess(inputs["pixel_values"]))
        hidden = []
        for block in self.blocks:
            h = block(h)
            hidden.append(h)
        emb = self.dropout(h.mean(dim=(2, 3)))
        return Features(embedding=emb, hidden_states=(hidden[3], hidden[5], hidden[11], hidden[12]))

    def adapt_state_dict(self, sd: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Keras-applications names and HWIO layouts (``conv1/kernel``, ``conv_dw_1/depthwise_kernel``,
        ``conv_pw_1_bn/moving_mean``, ``conv_preds/kernel`` ...) -> this network's state dict; anything else is
        returned as it is."""
        if "conv1/kernel" not in sd:
            return sd
        out: dict[str, torch.Tensor] = {}

        def t(a: np.ndarray | torch.Tensor) -> torch.Tensor:
            return torch.as_tensor(np.asarray(a, dtype=np.float32))

        def bn(prefix: str, key: str) -> None:
            for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                                 ("running_var", "moving_variance")):
                out[f"{prefix}.bn.{ours}"] = t(sd[f"{key}/{theirs}"])

        out["stem.conv.weight"] = t(sd["conv1/kernel"]).permute(3, 2, 0, 1)
        bn("stem", "conv1_bn")
        for i in range(1, 14):
            out[f"blocks.{i - 1}.0.conv.weight"] = t(sd[f"conv_dw_{i}/depthwise_kernel"]).permute(2, 3, 0, 1)
            bn(f"blocks.{i - 1}.0", f"conv_dw_{i}_bn")
            out[f"blocks.{i - 1}.1.conv.weight"] = t(sd[f"conv_pw_{i}/kernel"]).permute(3, 2, 0, 1)
            bn(f"blocks.{i - 1}.1", f"conv_pw_{i}_bn")
        if "conv_preds/kernel" in sd:
            out["head.weight"] = t(sd["conv_preds/kernel"])[0, 0].T.contiguous()
            out["head.bias"] = t(sd["conv_preds/bias"])
        return out


@register_model("mobilenet_v1")
def mobilenet_v1(num_classes: int, width: float = 0.25, dropout: float = 0.0, input_size: int | None = None
                 ) -> MobileNetV1:
    """MobileNet v1 at ``width`` 0.25 (default), 0.5, 0.75 or 1.0; any input size of at least 32 pixels.
    ``input_size``: the network resizes its input to this square size itself (bilinear, antialiased), so a
    32-pixel dataset and a 32-pixel teacher stay as they are while the student sees e.g. 96 pixels."""
    return MobileNetV1(num_classes, width=width, dropout=dropout, input_size=input_size)
