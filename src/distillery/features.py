"""The one object every network returns, and every loss term consumes."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

FEATURE_NAMES = ("logits", "embedding", "hidden_states", "attentions", "qkv")
# Features a network computes only when a loss term asks for them (see ``request_features`` on the transformer
# adapters): the default forward pass stays as fast as it was.
ON_REQUEST = frozenset({"attentions", "qkv"})


@dataclass
class Features:
    """Outputs of a network for one batch.

    - ``logits``: ``[B, C]`` task logits (None for a bare backbone without head).
    - ``embedding``: ``[B, D]`` pooled penultimate features.
    - ``hidden_states``: per-layer ``[B, L, H]`` (transformers: the embedding-layer output first, then one per
      layer, as Hugging Face returns them) or ``[B, C, H, W]`` (CNN stages).
    - ``attentions``: per-layer ``[B, heads, L, L]`` attention probabilities, where the architecture has them
      (transformers with eager attention).
    - ``qkv``: per layer, the self-attention ``(query, key, value)`` projections, each ``[B, heads, L, d_head]``
      (split into heads, before the scaled dot product), for relation losses (MiniLM) and raw attention scores
      (TinyBERT). Transformers only, and only when requested.
    """

    logits: torch.Tensor | None = None
    embedding: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None
    qkv: tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], ...] | None = None

    def detach(self) -> Features:
        def _d(v):
            if v is None:
                return None
            if isinstance(v, tuple):
                return tuple(_d(x) for x in v)
            return v.detach()

        return Features(**{f.name: _d(getattr(self, f.name)) for f in fields(self)})

    def available(self) -> set[str]:
        return {f.name for f in fields(self) if getattr(self, f.name) is not None}
