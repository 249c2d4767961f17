"""Crash-safe file writes and inter-process locks.

Every result file is written to a temporary file in the same folder, flushed to disk (fsync) and renamed over the
target, so a killed process leaves either the old file or the new one, never half of one. A lock (``flock`` on a
``.lock`` file) keeps two processes from writing the same run directory or cache.
"""
from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import DistilleryError


def atomic_write(path: str | Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and move the result to ``path`` atomically (fsync, rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextmanager
def locked(path: str | Path, what: str, wait: bool = False, on_wait: Callable[[], None] | None = None
           ) -> Iterator[None]:
    """Hold an exclusive lock on the file ``path`` (created if needed). Without ``wait``, another holder is an
    error naming ``what``; with it, wait for the other holder (calling ``on_wait`` once)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise DistilleryError(f"{what} is in use by another distillery process (lock {path})") from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
