"""The one object every network returns, and every loss term consumes."""
from __future__ import annotations

from dataclasses import dataclass, fields

import torch

FEATURE_NAMES = ("logits", "embedding", "hidden_states", "attentions")


@dataclass
class Features:
    """Outputs of a network for one batch.

    - ``logits``: ``[B, C]`` task logits (None for a bare backbone without head).
    - ``embedding``: ``[B, D]`` pooled penultimate features.
    - ``hidden_states``: per-layer ``[B, L, H]`` (transformers) or ``[B, C, H, W]`` (CNN stages).
    - ``attentions``: per-layer ``[B, heads, L, L]`` attention maps, where the architecture has them.
    """

    logits: torch.Tensor | None = None
    embedding: torch.Tensor | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None

    def detach(self) -> Features:
        def _d(v):
            if v is None:
                return None
            if isinstance(v, tuple):
                return tuple(x.detach() for x in v)
            return v.detach()

        return Features(**{f.name: _d(getattr(self, f.name)) for f in fields(self)})

    def available(self) -> set[str]:
        return {f.name for f in fields(self) if getattr(self, f.name) is not None}
