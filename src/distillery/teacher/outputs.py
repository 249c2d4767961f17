"""Teacher outputs behind one method, ``outputs(batch) -> Features``: live (forward each step) or precomputed."""
from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..features import Features
from ..progress import track


def autocast_ctx(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


@torch.no_grad()
def compute_features(net: nn.Module, loader: DataLoader, keep: set[str], description: str,
                     device: torch.device | None = None, bf16: bool = False, progress: bool = True,
                     side: str = "teacher") -> dict[str, torch.Tensor]:
    """Run ``net`` (eval, no grad) over ``loader``; return the ``keep`` features (fp32, CPU) in sample order."""
    device = device or torch.device("cpu")
    was_training = net.training
    net.eval()
    chunks: dict[str, list[torch.Tensor]] = {k: [] for k in keep}
    indices = []
    for batch in track(loader, description, total=len(loader), enabled=progress):
        inputs = {k: v.to(device) for k, v in batch[side].items()}
        with autocast_ctx(device, bf16):
            f = net(inputs)
        for k in keep:
            chunks[k].append(getattr(f, k).float().cpu())
        indices.append(batch["index"])
    net.train(was_training)
    order = torch.argsort(torch.cat(indices))
    return {k: torch.cat(v)[order] for k, v in chunks.items()}


class TeacherOutputs:
    """Interface: ``outputs(batch) -> Features`` with (at least) the features the loss terms need."""

    network: nn.Module | None = None

    def outputs(self, batch: dict) -> Features:
        raise NotImplementedError

    def to(self, device: torch.device) -> TeacherOutputs:
        return self


class LiveTeacher(TeacherOutputs):
    """Runs the frozen teacher (eval mode, no grad) on every batch. Needed when inputs are augmented."""

    def __init__(self, network: nn.Module, bf16: bool = False):
        self.network = network.eval().requires_grad_(False)
        self.bf16 = bf16
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> LiveTeacher:
        self.network.to(device)
        self.device = device
        return self

    @torch.no_grad()
    def outputs(self, batch: dict) -> Features:
        with autocast_ctx(self.device, self.bf16):
            return self.network(batch["teacher"]).detach()


class PrecomputedTeacher(TeacherOutputs):
    """Teacher features computed once over the (non-augmented) training set and replayed by sample index."""

    def __init__(self, store: dict[str, torch.Tensor]):
        self.store = store
        self.device = torch.device("cpu")

    def to(self, device: torch.device) -> PrecomputedTeacher:
        self.store = {k: v.to(device) for k, v in self.store.items()}
        self.device = device
        return self

    def outputs(self, batch: dict) -> Features:
        idx = batch["index"].to(self.device)
        return Features(**{k: v[idx] for k, v in self.store.items()})
