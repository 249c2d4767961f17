"""A teacher made of several networks: their logits averaged (optionally weighted), the embedding (and the other
features) of one named member. Ensembles of teachers are a common way to a stronger teacher (Hinton, Vinyals &
Dean 2015 distil an ensemble into one model); distillery caches an ensemble's outputs like a single teacher's."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..features import Features
from .base import Network


class Ensemble(Network):
    """``members`` (each with its own task head) as one teacher: ``logits = sum_i w_i * logits_i / sum_i w_i``,
    every other Feature from ``members[embedding_member]``."""

    def __init__(self, members: list[Network], weights: list[float] | None = None, embedding_member: int = 0):
        super().__init__()
        self.members = nn.ModuleList(members)
        w = torch.tensor(weights if weights is not None else [1.0] * len(members), dtype=torch.float32)
        self.register_buffer("member_weights", w / w.sum())  # in the state dict: the fingerprints see it
        self.embedding_member = embedding_member
        lead = members[embedding_member]
        self.modality = lead.modality
        self.embed_dim = lead.embed_dim
        self.num_classes = lead.num_classes
        self.max_positions = min((m.max_positions for m in members if m.max_positions is not None), default=None)

    @property
    def head_fits(self) -> bool:  # type: ignore[override]
        return all(m.head_fits for m in getattr(self, "members", []))

    @head_fits.setter
    def head_fits(self, value: bool) -> None:  # set by Network.__init__ before the members exist
        pass

    def get_head(self) -> nn.Module:
        return self.members[self.embedding_member].get_head()

    def forward(self, inputs: dict[str, torch.Tensor]) -> Features:
        outs = [m(inputs) for m in self.members]
        logits = sum(w * o.logits.float() for w, o in zip(self.member_weights, outs, strict=True))
        lead = outs[self.embedding_member]
        lead.logits = logits
        return lead

    def input_spec(self) -> dict[str, Any]:
        return {"members": [m.input_spec() for m in self.members]}

    def set_channels_last(self) -> None:
        for m in self.members:
            m.set_channels_last()
        self.to(memory_format=torch.channels_last)

    def request_features(self, names: set[str]) -> None:
        request = getattr(self.members[self.embedding_member], "request_features", None)
        if request is not None:
            request(names)
