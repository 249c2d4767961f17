"""The run directory: claimed under a lock, never overwritten, kept when interrupted with a checkpoint (to be
resumed) and removed when it holds nothing worth keeping; its config snapshot and metrics written atomically."""
from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from .config import Config, load_raw
from .errors import DistilleryError, InUse
from .fileio import atomic_write_text, is_locked, locked
from .runtime import log


def refuse_if_taken(d: Path) -> None:
    """Runs are never overwritten: a directory holding anything but a (stale) lock file is refused."""
    if d.exists() and (not d.is_dir() or any(p.name != ".lock" for p in d.iterdir())):
        if d.is_dir() and is_locked(d / ".lock"):
            raise InUse(f"output.dir {d} is in use by another distillery process (lock {d / '.lock'})")
        if (d / "config.yaml").is_file() and not (d / "metrics.json").exists():
            raise DistilleryError(f"output.dir {d} holds an unfinished run; continue it with `distillery run "
                                  f"--resume {d}`, or choose another directory")
        raise DistilleryError(f"output.dir {d} already exists and is not empty; choose another directory "
                              "(runs are never overwritten)")


def last_checkpoint(run_dir: Path) -> str | None:
    """The checkpoint a resume continues from (``checkpoints/last.ckpt``), if there is one."""
    last = run_dir / "checkpoints" / "last.ckpt"
    return str(last) if last.is_file() else None


def read_run_config(d: Path) -> dict[str, Any]:
    """A run directory's saved config.yaml as a raw mapping, pointed at the directory where it now is."""
    raw = load_raw(d / "config.yaml", "run config")
    if not isinstance(raw.get("output"), dict):
        raise DistilleryError(f"{d / 'config.yaml'}: corrupt run config (no output section); it was not written by "
                              "distillery or has been edited")
    raw["output"]["dir"] = str(d)
    return raw


def check_resumable(d: Path) -> None:
    """Refuse ``--resume`` of a finished run or of a folder that is not a run directory."""
    if (d / "metrics.json").exists():
        raise DistilleryError(f"--resume {d}: the run has already finished (metrics.json is there)")
    if not (d / "config.yaml").is_file():
        raise DistilleryError(f"--resume {d}: not a distillery run directory (no config.yaml)")


def write_config(run_dir: Path, cfg: Config) -> None:
    """The resolved config, as ``--resume`` and ``eval`` read it back."""
    atomic_write_text(run_dir / "config.yaml", yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def write_metrics(run_dir: Path, metrics: dict[str, Any]) -> None:
    """``metrics.json``: written last, so a run directory that has it is finished."""
    atomic_write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2))


@contextmanager
def claimed(run_dir: Path, fresh: bool, quiet: bool) -> Iterator[Callable[[], str | None]]:
    """Hold ``run_dir`` for one run (or resume) of it. Yields a function giving the checkpoint to resume from.

    A fresh run claims an empty (or new) directory; a resume continues from the last checkpoint, or starts over
    in the same directory when there is none. On failure the directory is kept when it has a checkpoint (to be
    resumed) and removed when this process created it and nothing is worth keeping."""
    if fresh:
        refuse_if_taken(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / ".lock"
    ours = False  # the directory is this process's once it holds the lock and found the directory empty
    try:
        with locked(lock, f"output.dir {run_dir}"):
            ckpt = None
            if fresh:
                refuse_if_taken(run_dir)  # again under the lock: another process may have got here first
                ours = True
            else:
                ckpt = last_checkpoint(run_dir)
                log(f"resuming {run_dir} " + (f"from {ckpt}" if ckpt else "from the start (no checkpoint yet)"),
                    quiet)
                if ckpt is None:  # nothing to keep: start over in the same directory
                    for p in run_dir.iterdir():
                        if p.name != ".lock":
                            shutil.rmtree(p) if p.is_dir() else p.unlink()
            yield lambda: ckpt
        lock.unlink(missing_ok=True)
    except BaseException as e:
        if isinstance(e, InUse):  # another process holds this run: nothing here is ours to keep or to advise on
            raise
        # a failed run leaves nothing that looks finished. With a checkpoint it is kept, to be resumed (a numerical
        # fault keeps its last good checkpoint); without one the directory we created is removed.
        resumable = any((run_dir / "checkpoints").glob("*.ckpt"))
        if not (run_dir / "metrics.json").exists():
            if resumable:
                log(f"the run is kept at {run_dir}; continue it with: distillery run --resume {run_dir}", quiet)
            elif ours:
                shutil.rmtree(run_dir, ignore_errors=True)
        raise
