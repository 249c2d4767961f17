"""Multi-process training helpers on top of Lightning's strategies (DDP/FSDP over gloo or NCCL).

- :func:`is_rank_zero`: known before any process group exists (torchrun, SLURM or Lightning's own launcher), so
  that only rank 0 claims and writes the run directory.
- :class:`GlobalBatchSampler`: every process draws the same seeded permutation as a 1-process run and takes its
  slice of each *global* batch, so N processes with per-process batch b step through exactly the batches of one
  process with batch N x b (the condition for their loss curves to match).
- :class:`ShardSampler`: evaluation split into contiguous, non-overlapping shards (no padding: counts are exact).
- :func:`gather_batch`: the student's and teacher's features, labels and indices of all processes, with gradients
  flowing back to each process's own samples, for loss terms that need the whole batch (uniformity, relations,
  memory banks).
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

from ..features import Features

GATHERABLE = frozenset({"logits", "embedding"})  # one row per sample, the same width on every process


def is_rank_zero() -> bool:
    """Whether this is the first process of a distributed job, as its launcher said before any process group
    exists (torchrun: RANK; Lightning's launcher: NODE_RANK and LOCAL_RANK; SLURM: SLURM_PROCID); True when not
    distributed. Only rank 0 claims and writes the run directory."""
    keys = ["RANK", "NODE_RANK", "LOCAL_RANK"] + (["SLURM_PROCID"] if int(os.environ.get("SLURM_NTASKS", "1")) > 1
                                                  else [])
    return all(int(os.environ.get(k, "0") or 0) == 0 for k in keys)


def launch_shard() -> tuple[int, int] | None:
    """``(rank, world)`` when a launcher started all processes of a distributed run together (torchrun: RANK and
    WORLD_SIZE; SLURM: SLURM_PROCID and SLURM_NTASKS), so they can share work before training; else None.
    (Lightning's own launcher starts the other processes only when training begins.)"""
    if "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in os.environ:
        return int(os.environ["SLURM_PROCID"]), int(os.environ["SLURM_NTASKS"])
    return None


def compute_device(accelerator: str) -> torch.device:
    """The device this process trains on, known before Lightning starts: the teacher's head, its features and its
    output cache are prepared there too (``gpu``/``cuda``/``auto`` with CUDA present: this process's local GPU)."""
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0") or 0))
    return torch.device("cpu")


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class GlobalBatchSampler(Sampler[list[int]]):
    """Per-process batches of ``batch_size`` indices: each process's slice of the *global* batches of size
    ``world x batch_size``, cut from one permutation per epoch drawn from ``generator``, the same draw (and the same
    generator use) as a 1-process shuffled ``DataLoader``. The world is read when iterating, so one loader serves
    1-process and multi-process runs. The last global batch is split as evenly as its size allows."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator | None, shuffle: bool = True):
        self.n, self.batch_size, self.generator, self.shuffle = n, batch_size, generator, shuffle

    def __len__(self) -> int:
        return -(-self.n // (self.batch_size * world_size()))

    def __iter__(self) -> Iterator[list[int]]:
        w, r = world_size(), rank()
        order = torch.randperm(self.n, generator=self.generator).tolist() if self.shuffle else list(range(self.n))
        g = self.batch_size * w
        for start in range(0, self.n, g):
            chunk = order[start:start + g]
            per = -(-len(chunk) // w)
            mine = chunk[r * per:(r + 1) * per]
            yield mine if mine else chunk[-1:]  # never an empty batch: every process must step


class ShardSampler(Sampler[int]):
    """Indices ``[rank x n / world, (rank + 1) x n / world)``: each sample evaluated by exactly one process (no
    padding, so summed counts are exact)."""

    def __init__(self, n: int):
        self.n = n

    def _range(self) -> range:
        w, r = world_size(), rank()
        return range(self.n * r // w, self.n * (r + 1) // w)

    def __len__(self) -> int:
        return len(self._range())

    def __iter__(self) -> Iterator[int]:
        return iter(self._range())


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

    out = {**batch, "label": _gather(batch["label"], False), "index": _gather(batch["index"], False)}
    return feats(s, True), (feats(t, False) if t is not None else None), out


def all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    """Element-wise sum over processes (identity on one process)."""
    if world_size() == 1:
        return values
    x = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(x)
    return x.tolist()
