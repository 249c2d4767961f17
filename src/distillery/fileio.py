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

from .errors import InUse


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


def is_locked(path: str | Path) -> bool:
    """Whether another process holds the lock file ``path`` now (a missing file is not held)."""
    path = Path(path)
    if not path.is_file():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases the probe's lock, if it got it
    return False


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
                raise InUse(f"{what} is in use by another distillery process (lock {path})") from None
            if on_wait is not None:
                on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as hex."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sidecar(path: str | Path) -> Path:
    """Where the content hash of ``path`` is kept: ``<name>.sha256`` beside it."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def write_with_hash(path: str | Path, write: Callable[[Path], None]) -> str:
    """:func:`atomic_write`, then the file's SHA-256 written (atomically) to its sidecar; returns the hash."""
    digest: list[str] = []

    def write_and_hash(tmp: Path) -> None:
        write(tmp)
        digest.append(file_sha256(tmp))

    atomic_write(path, write_and_hash)
    atomic_write_text(sidecar(path), digest[0] + "\n")
    return digest[0]


def verify_hash(path: str | Path, expected: str | None = None) -> bool | None:
    """Whether ``path`` still has the content hash recorded for it (``expected``, else its sidecar); None when no
    hash was recorded (an artefact of an older version)."""
    path = Path(path)
    if expected is None:
        side = sidecar(path)
        if not side.is_file():
            return None
        expected = side.read_text(encoding="utf-8").strip()
    return file_sha256(path) == expected
