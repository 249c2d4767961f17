"""``timm:<name>`` and ``torchvision:<name>`` image models as distillery networks."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import DistilleryError
from ..features import Features
from .base import IMAGENET_MEAN, IMAGENET_STD, ImagePreprocess, Network
from .registry import register_source


class TimmNetwork(Network):
    """A timm model: ``forward_features`` + ``forward_head(pre_logits=True)`` give the embedding."""

    head_attr = "classifier"

    def __init__(self, name: str, num_classes: int, pretrained: bool = False, **kwargs: Any):
        super().__init__()
        import timm

        if name not in timm.list_models() and name.split(".")[0] not in timm.list_models():
            raise DistilleryError(f"timm:{name}: unknown timm model")
        try:
            body = timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
        except Exception as e:  # timm raises many types for download failures
            raise DistilleryError(f"timm:{name}: could not create the model (pretrained weights need the Hub or a "
                                  f"local weights file): {str(e).splitlines()[0] if str(e) else type(e).__name__}") \
                from None
        self.body = body
        self.embed_dim = body.num_features
        self.classifier = nn.Linear(self.embed_dim, num_classes)
        self.num_classes = num_classes
        cfg = getattr(body, "pretrained_cfg", {}) or {}
        size = _timm_fixed_size(body) or (cfg.get("input_size", (3, 224, 224))[-1] if pretrained else None)
        self.preprocess = ImagePreprocess(cfg.get("mean", IMAGENET_MEAN), cfg.get("std", IMAGENET_STD), size)

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> Features:
        x = self.preprocess(inputs["pixel_values"])
        fmap = self.body.forward_features(x)
        emb = self.body.forward_head(fmap, pre_logits=True)
        return Features(embedding=emb.flatten(1))


def _timm_fixed_size(body: nn.Module) -> int | None:
    """The input size a timm model insists on (a ViT's patch embedding built for ``img_size``, which the
    ``img_size`` kwarg sets); None for models that take any size (CNNs, ``dynamic_img_size``)."""
    pe = getattr(body, "patch_embed", None)
    img_size = getattr(pe, "img_size", None)
    if img_size is None or not getattr(pe, "strict_img_size", True) or getattr(pe, "dynamic_img_size", False):
        return None
    return int(img_size[-1] if isinstance(img_size, (tuple, list)) else img_size)


class TorchvisionNetwork(Network):
    """A torchvision classification model whose last ``nn.Linear`` (the classifier) becomes our head."""

    head_attr = "classifier"

    def __init__(self, name: str, num_classes: int, pretrained: bool = False, **kwargs: Any):
        super().__init__()
        import torchvision

        if name not in torchvision.models.list_models():
            raise DistilleryError(f"torchvision:{name}: unknown torchvision model")
        try:
            body = torchvision.models.get_model(name, weights="DEFAULT" if pretrained else None, **kwargs)
        except Exception as e:
            raise DistilleryError(f"torchvision:{name}: could not create the model (pretrained weights need a "
                                  f"download or a local weights file): {str(e).splitlines()[0]}") from None
        linears = [n for n, m in body.named_modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise DistilleryError(f"torchvision:{name}: its classifier is not a Linear layer (e.g. SqueezeNet's is a "
                                  "convolution); distillery replaces a final nn.Linear with the task head, so choose "
                                  "a model that ends in one")
        last_name = linears[-1]
        last = body.get_submodule(last_name)
        parent_name, _, leaf = last_name.rpartition(".")
        setattr(body.get_submodule(parent_name) if parent_name else body, leaf, nn.Identity())
        self.body = body
        self.embed_dim = last.in_features
        self.classifier = nn.Linear(self.embed_dim, num_classes)
        if pretrained and last.out_features == num_classes:
            self.classifier.load_state_dict(last.state_dict())
            self.head_fits = True
        self.num_classes = num_classes
        fixed = getattr(body, "image_size", None)  # torchvision's vision transformers take only that size
        self.preprocess = ImagePreprocess(IMAGENET_MEAN, IMAGENET_STD,
                                          int(fixed) if fixed else (224 if pretrained else None))

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> Features:
        return Features(embedding=self.body(self.preprocess(inputs["pixel_values"])).flatten(1))


@register_source("timm")
def _timm(name: str, num_classes: int, pretrained: bool = False, **kwargs: Any) -> Network:
    return TimmNetwork(name, num_classes, pretrained=pretrained, **kwargs)


@register_source("torchvision")
def _tv(name: str, num_classes: int, pretrained: bool = False, **kwargs: Any) -> Network:
    return TorchvisionNetwork(name, num_classes, pretrained=pretrained, **kwargs)
