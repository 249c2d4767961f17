"""The common network interface: every model returns :class:`~distillery.features.Features`."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..features import Features

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ImagePreprocess(nn.Module):
    """uint8 or [0, 1] float images ``[B, 3, H, W]`` -> normalised float, resized to the model's input size.

    Each image network owns its preprocessing, so a teacher and a student that expect different
    normalisation or resolution both receive what they were built for from the same batch.
    """

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD, size: int | None = None):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.size = size
        self.channels_last = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float().div_(255.0)
        if self.size is not None and (x.shape[-1] != self.size or x.shape[-2] != self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def describe(self) -> dict[str, Any]:
        return {"mean": [round(float(v), 4) for v in self.mean.flatten()],
                "std": [round(float(v), 4) for v in self.std.flatten()], "size": self.size}


class Network(nn.Module):
    """A backbone that yields an embedding, plus a linear task head at ``head_attr``.

    Subclasses implement :meth:`forward_features`; :meth:`forward` adds the logits.
    ``head_fits`` is True when the head's weights come from pre-training and match the task's classes.
    """

    modality: str = "image"
    head_attr: str = "head"
    max_positions: int | None = None  # text: the most tokens the network can embed (None: no limit)

    def __init__(self) -> None:
        super().__init__()
        self.head_fits = False
        self.embed_dim = 0
        self.num_classes = 0

    def get_head(self) -> nn.Module:
        """The linear task head (the module at ``head_attr``)."""
        return self.get_submodule(self.head_attr)

    def replace_head(self, num_classes: int) -> None:
        """A new randomly initialised linear head for ``num_classes`` classes."""
        parent_name, _, leaf = self.head_attr.rpartition(".")
        parent = self.get_submodule(parent_name) if parent_name else self
        setattr(parent, leaf, nn.Linear(self.embed_dim, num_classes))
        self.num_classes = num_classes
        self.head_fits = False

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> Features:
        raise NotImplementedError

    def forward(self, inputs: dict[str, torch.Tensor]) -> Features:
        f = self.forward_features(inputs)
        f.logits = self.get_head()(f.embedding)
        return f

    def input_spec(self) -> dict[str, Any]:
        pre = getattr(self, "preprocess", None)
        return pre.describe() if isinstance(pre, ImagePreprocess) else {}

    def set_channels_last(self) -> None:
        pre = getattr(self, "preprocess", None)
        if isinstance(pre, ImagePreprocess):
            pre.channels_last = True
        self.to(memory_format=torch.channels_last)


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
