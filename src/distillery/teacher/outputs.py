"""Teacher outputs behind one method, ``outputs(batch) -> Features``: live (forward each step) or cached
(:mod:`distillery.teacher.cache`)."""
from __future__ import annotations

import time

import torch
from torch import nn
from torch.utils.data import DataLoader

from ..features import Features
from ..progress import track
from ..runtime import autocast_ctx, device_of


@torch.no_grad()
def compute_features(net: nn.Module, loader: DataLoader, keep: set[str], description: str,
                     device: torch.device | None = None, bf16: bool = False, progress: bool = True,
                     side: str = "teacher") -> dict[str, torch.Tensor]:
    """Run ``net`` (eval, no grad) over ``loader`` on ``device`` (default: where ``net`` is); return the ``keep``
    features (fp32, CPU) in sample order."""
    device = device or device_of(net)
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
        self.device = device_of(network)
        self.forward_s = 0.0  # time spent in the teacher's forward pass (for the overhead benchmark)

    def to(self, device: torch.device) -> LiveTeacher:
        self.network.to(device)
        self.device = device
        return self

    @torch.no_grad()
    def outputs(self, batch: dict) -> Features:
        t0 = time.perf_counter()
        with autocast_ctx(self.device, self.bf16):
            out = self.network(batch["teacher"]).detach()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.forward_s += time.perf_counter() - t0
        return out
