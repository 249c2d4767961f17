"""``metrics.json["compute"]``: FLOPs per phase and in all, MFU against the machine's peak, and inference cost
(forward FLOPs and latency per sample) of the student and the teacher."""
from __future__ import annotations

import time
from typing import Any

import torch

from ..config import Config
from ..models.base import Network
from ..runtime import autocast_ctx, cache_root, compute_device, device_of
from .flops import FlopMeter, count_flops
from .peak import peak_flops


def probe(net: Network, batch: dict[str, Any], side: str):
    """The Features a network actually returns on ``batch[side]`` (one real forward pass, eval mode, no grad)."""
    was = net.training
    net.eval()
    device = device_of(net)
    with torch.no_grad():
        out = net({k: v.to(device) for k, v in batch[side].items()})
    net.train(was)
    return out


def latency_ms(net: Network, loader, side: str, batches: int = 5, bf16: bool = False, seconds: float = 1.0,
               warm: bool = False) -> float:
    """Milliseconds per sample for batched inference (eval, no grad): the fastest of up to ``batches`` timed
    batches after a warm-up batch (none when ``warm``: the network just ran on these inputs in this process), so
    that other work on a shared machine inflates it as little as possible; the timing stops once ``seconds`` have
    been spent in timed batches (a teacher's batch of 256 texts takes about a second on 2 CPU cores: seven of them
    were 7 % of a 12-epoch Banking77 job)."""
    from torch.utils.data import DataLoader

    net.eval()
    device = device_of(net)
    best, spent = float("inf"), 0.0
    if loader.batch_size is None:  # batches sorted by length: time the split's own order, not its shortest texts
        first = next(iter(loader.batch_sampler))
        loader = DataLoader(loader.dataset, batch_size=len(first), collate_fn=loader.collate_fn)
    with torch.no_grad():
        for i, batch in enumerate(loader):
            if i > batches or spent > seconds:
                break
            inputs = {k: v.to(device) for k, v in batch[side].items()}
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            t0 = time.perf_counter()
            with autocast_ctx(device, bf16):
                net(inputs)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i > 0 or warm or len(loader) == 1:
                took = time.perf_counter() - t0
                best, spent = min(best, took / batch["label"].numel()), spent + took
    return 1000 * best


def forward_flops_per_sample(net: Network | None, batch: dict[str, Any], side: str) -> float | None:
    """Inference FLOPs per sample (eval, no grad) on the probe batch's input shape."""
    if net is None:
        return None
    flops, _ = count_flops(lambda: probe(net, batch, side))
    return flops / max(1, int(batch["label"].shape[0]))


def compute_report(meter: FlopMeter, tracker, cfg: Config, bf16: bool, wall_s: float, student: Network,
                   teacher: Network | None, batch: dict[str, Any]) -> dict[str, Any]:
    """``metrics.json["compute"]``: FLOPs per phase, totals, wall time, MFU and what ended training."""
    tc = cfg.train
    p = meter.by_phase
    teacher_flops = p.get("teacher_head", 0.0) + p.get("cache_build", 0.0) + p.get("teacher_live", 0.0)
    student_flops = p.get("student_train", 0.0)
    device = compute_device(tc.accelerator)
    peak, source = peak_flops(device, torch.bfloat16 if bf16 else torch.float32,
                              cache_root(cfg.teacher.cache_dir if cfg.teacher else None), tc.peak_flops)
    total = teacher_flops + student_flops
    return {"teacher_flops": teacher_flops, "student_flops": student_flops, "total_flops": total,
            "phases": {k: v for k, v in p.items()}, "wall_time_s": round(wall_s, 2),
            "compute_time_s": round(tracker.compute_s, 2),
            "mfu": total / (tracker.compute_s * peak) if tracker.compute_s > 0 and peak > 0 else None,
            "peak_flops": peak, "peak_source": source, "steps": tracker.steps, "ended_by": tracker.ended_by,
            "budget": tc.budget.model_dump(exclude_none=True) if tc.budget else None,
            "budget_spent": round(tracker.spent(), 4) if tc.budget else None,
            "student_forward_flops_per_sample": forward_flops_per_sample(student, batch, "student"),
            "teacher_forward_flops_per_sample": forward_flops_per_sample(teacher, batch, "teacher")}
