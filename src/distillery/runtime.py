"""The ground floor every package may import: where computation runs (device, bf16 autocast, this process's rank
in a distributed job), where stored artefacts go (the cache root), how a network's weights are fingerprinted,
and the one-line progress log on stderr."""
from __future__ import annotations

import hashlib
import os
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn


def log(msg: str, quiet: bool = False) -> None:
    """A ``distillery ...`` line on stderr (progress and notes; never the results, which go to stdout)."""
    if not quiet:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"[bold cyan]distillery[/] {msg}")


def autocast_ctx(device: torch.device, bf16: bool):
    """bf16 autocast on ``device`` when asked, else nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


def device_of(net: nn.Module) -> torch.device:
    """Where ``net``'s parameters live (CPU for a module without parameters): its inputs go there."""
    p = next(net.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def compute_device(accelerator: str) -> torch.device:
    """The device this process trains on, known before Lightning starts: the teacher's head, its features and its
    output cache are prepared there too (``gpu``/``cuda``/``auto`` with CUDA present: this process's local GPU)."""
    if accelerator in ("gpu", "cuda", "auto") and torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0") or 0))
    return torch.device("cpu")


def cache_root(configured: str | None = None) -> Path:
    """Where teacher heads, caches and scores are kept: ``teacher.cache_dir``, else ``$DISTILLERY_CACHE``, else
    ``~/.cache/distillery``."""
    return Path(configured or os.environ.get("DISTILLERY_CACHE") or Path.home() / ".cache" / "distillery")


def weights_fingerprint(net: nn.Module, exclude_prefix: str | None = None) -> str:
    """A short SHA-256 of a network's state dict (names and bytes), optionally without one sub-module."""
    h = hashlib.sha256()
    for k, v in sorted(net.state_dict().items()):
        if exclude_prefix and k.startswith(exclude_prefix):
            continue
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


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


def world_size() -> int:
    """Processes in the initialised process group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the initialised process group (0 without one)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
