"""Multi-process training helpers on top of Lightning's strategies (DDP/FSDP over gloo or NCCL).

(The process's rank and device are in :mod:`distillery.runtime`; the samplers that give each process its slice
of the global batches, and its shard of evaluation, in :mod:`distillery.data.samplers`.)

- :func:`gather_batch`: the student's and teacher's features, labels and indices of all processes, with gradients
  flowing back to each process's own samples, for loss terms that need the whole batch (uniformity, relations,
  memory banks).
"""
from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from ..features import Features
from ..runtime import world_size

GATHERABLE = frozenset({"logits", "embedding"})  # one row per sample, the same width on every process


def _gather(x: torch.Tensor, grad: bool) -> torch.Tensor:
    """Concatenate ``x`` from every process along dim 0 (sizes may differ). With ``grad``, the gradient of the
    result flows back to each process's own rows (summed over processes, as autograd's all_gather does)."""
    w = dist.get_world_size()
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(w)]
    dist.all_gather(sizes, torch.tensor([x.shape[0]], device=x.device))
    sizes_l = [int(s) for s in sizes]
    m = max(sizes_l)
    pad = torch.cat([x, x.new_zeros((m - x.shape[0], *x.shape[1:]))]) if x.shape[0] < m else x
    if grad:
        from torch.distributed.nn.functional import all_gather

        parts = list(all_gather(pad))
    else:
        parts = [torch.empty_like(pad) for _ in range(w)]
        dist.all_gather(parts, pad.contiguous())
    return torch.cat([p[:n] for p, n in zip(parts, sizes_l, strict=True)])


def gather_batch(s: Features, t: Features | None, batch: dict[str, Any]) -> tuple[Features, Features | None,
                                                                                  dict[str, Any]]:
    """The global batch seen from this process: student features (with gradients), teacher features, labels and
    sample indices of all processes concatenated in rank order. Every process then computes the same loss; DDP's
    gradient average then equals the 1-process gradient of the global batch."""
    def feats(f: Features, grad: bool) -> Features:
        return Features(**{k: _gather(getattr(f, k), grad) for k in sorted(GATHERABLE)  # one order on every process
                            if getattr(f, k) is not None})

    out = {**batch, **{k: _gather(batch[k], False) for k in ("label", "index", "label_mix", "lam") if k in batch}}
    return feats(s, True), (feats(t, False) if t is not None else None), out


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over processes (identity on one process)."""
    if world_size() == 1:
        return values
    x = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(x)
    return x.tolist()
