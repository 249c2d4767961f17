"""The optional, requested Features of networks that wrap a transformers model: per-layer query/key/value
(captured by forward hooks on the attention projections) and eager attention maps, switched on only when a loss
term declares it needs them (they cost time)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import DistilleryError
from ..features import ON_REQUEST

# Attribute names of the self-attention query/key/value projections: BERT/RoBERTa/ELECTRA/ViT/MiniLM (query, key,
# value), DistilBERT (q_lin, k_lin, v_lin), BART/LLaMA-style (q_proj, k_proj, v_proj), MPNet (q, k, v).
_QKV_NAMES = (("query", "key", "value"), ("q_lin", "k_lin", "v_lin"), ("q_proj", "k_proj", "v_proj"), ("q", "k", "v"))
_HEAD_ATTRS = ("num_attention_heads", "n_heads", "num_heads", "n_head")


@dataclass
class QKVLayer:
    """The query/key/value projections of one self-attention layer and their head width."""

    q: nn.Linear
    k: nn.Linear
    v: nn.Linear
    head_dim: int


def find_qkv_layers(encoder: nn.Module) -> list[QKVLayer]:
    """The self-attention q/k/v ``nn.Linear`` projections of a transformers encoder, in layer order."""
    cfg = getattr(encoder, "config", None)
    layers = []
    for module in encoder.modules():
        for names in _QKV_NAMES:
            q, k, v = (getattr(module, n, None) for n in names)
            if all(isinstance(x, nn.Linear) for x in (q, k, v)):
                heads = next((getattr(module, a) for a in _HEAD_ATTRS if isinstance(getattr(module, a, None), int)),
                             None) or next((getattr(cfg, a) for a in _HEAD_ATTRS
                                            if isinstance(getattr(cfg, a, None), int)), None)
                if heads and q.out_features % heads == 0:
                    layers.append(QKVLayer(q, k, v, q.out_features // heads))
                break
    return layers


@contextmanager
def capture_qkv(layers: list[QKVLayer] | None) -> Iterator[dict[tuple[int, int], torch.Tensor]]:
    """Forward hooks on the q/k/v projections for the duration of one forward pass (nothing when ``layers`` is
    empty); the outputs land in the yielded dict under ``(layer, 0|1|2)``."""
    store: dict[tuple[int, int], torch.Tensor] = {}
    handles = []
    for i, layer in enumerate(layers or ()):
        for j, lin in enumerate((layer.q, layer.k, layer.v)):
            handles.append(lin.register_forward_hook(lambda _m, _x, out, key=(i, j): store.__setitem__(key, out)))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def _split_heads(x: torch.Tensor, head_dim: int) -> torch.Tensor:
    """``[B, L, heads*d]`` -> ``[B, heads, L, d]``."""
    b, seq, width = x.shape
    return x.view(b, seq, width // head_dim, head_dim).transpose(1, 2)


def qkv_features(store: dict[tuple[int, int], torch.Tensor], layers: list[QKVLayer] | None):
    """The captured projections as ``Features.qkv`` (None when nothing was requested or captured)."""
    if not layers or len(store) != 3 * len(layers):
        return None
    return tuple(tuple(_split_heads(store[(i, j)], layer.head_dim) for j in range(3))
                 for i, layer in enumerate(layers))


class RequestableFeatures:
    """Mixin for networks wrapping a transformers model at ``self.encoder``: :meth:`request_features` switches on
    the costlier Features (``qkv`` hooks, eager ``attentions``) that a loss term declares; off by default."""

    encoder: nn.Module
    requested: frozenset[str] = frozenset()
    _qkv_layers: list[QKVLayer] | None = None
    _attn_restore: str | None = None

    def _spec(self) -> str:
        return getattr(self, "source", None) or type(self).__name__

    def request_features(self, names: set[str] | frozenset[str]) -> None:
        """Provide exactly the optional Features in ``names`` from now on (``set()`` switches them off again)."""
        if "qkv" in names:
            layers = find_qkv_layers(self.encoder)
            if not layers:
                raise DistilleryError(f"{self._spec()}: a loss term needs per-layer query/key/value (qkv), but this "
                                      "model has no self-attention query/key/value Linear projections that distillery "
                                      "recognises (BERT-like, DistilBERT, MPNet, q_proj/k_proj/v_proj)")
            self._qkv_layers = layers
        else:
            self._qkv_layers = None
        config = self.encoder.config
        current = getattr(config, "_attn_implementation", None)
        if "attentions" in names and current != "eager":
            _set_attn(self.encoder, "eager")
            if getattr(config, "_attn_implementation", None) != "eager":
                raise DistilleryError(f"{self._spec()}: a loss term needs attention maps, which need eager attention; "
                                      "set attn_implementation: eager in teacher.kwargs / student.kwargs")
            self._attn_restore = current
        elif "attentions" not in names and self._attn_restore is not None:
            _set_attn(self.encoder, self._attn_restore)
            self._attn_restore = None
        self.requested = frozenset(names) & ON_REQUEST


def _set_attn(model: nn.Module, impl: str) -> None:
    setter = getattr(model, "set_attn_implementation", None)
    if setter is not None:
        try:
            setter(impl)
            return
        except (ValueError, ImportError):
            pass
    model.config._attn_implementation = impl
