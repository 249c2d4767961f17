"""Samplers that make N processes step through exactly the batches of one process.

- :class:`GlobalBatchSampler`: every process draws the same seeded permutation as a 1-process run and takes its
  slice of each *global* batch, so N processes with per-process batch b step through exactly the batches of one
  process with batch N x b (the condition for their loss curves to match).
- :class:`ShardSampler`: evaluation split into contiguous, non-overlapping shards (no padding: counts are exact).
- :class:`SortedBatchSampler`: evaluation batches of examples of similar length (optionally this process's shard).
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler

from ..runtime import rank, world_size


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


class SortedBatchSampler(Sampler[list[int]]):
    """Evaluation batches of examples sorted by ``lengths``, so that a batch padded to its longest example is
    mostly tokens: the same outputs per example, fewer FLOPs. ``shard``: only this process's part of the split
    (as :class:`ShardSampler`)."""

    def __init__(self, lengths: list[int], batch_size: int, shard: bool = False):
        self.lengths, self.batch_size, self.shard = lengths, batch_size, shard

    def _batches(self) -> list[list[int]]:
        rows = ShardSampler(len(self.lengths))._range() if self.shard else range(len(self.lengths))
        order = sorted(rows, key=self.lengths.__getitem__)
        return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def __len__(self) -> int:
        return len(self._batches())

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())
