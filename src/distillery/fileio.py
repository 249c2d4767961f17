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
    except OSError as e:
        import errno

        if e.errno in (errno.ENOSPC, errno.EDQUOT):  # name the file meant, not the temporary one
            raise OSError(e.errno, e.strerror or "No space left on device", str(path)) from None
        raise
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
    """:func:`atomic_write`, with the file's SHA-256 kept in its sidecar; returns the hash. Before the new file
    replaces the old one the sidecar lists both hashes, so a process killed at any moment leaves a file whose hash
    the sidecar holds."""
    path = Path(path)
    side = sidecar(path)
    old = side.read_text(encoding="utf-8").split() if side.is_file() and path.is_file() else []
    digest: list[str] = []

    def write_and_hash(tmp: Path) -> None:
        write(tmp)
        digest.append(file_sha256(tmp))
        atomic_write_text(side, "\n".join([digest[0], *old]) + "\n")

    atomic_write(path, write_and_hash)
    atomic_write_text(side, digest[0] + "\n")
    return digest[0]


def verify_hash(path: str | Path, expected: str | None = None) -> bool | None:
    """Whether ``path`` still has the content hash recorded for it (``expected``, else one its sidecar lists);
    None when no hash was recorded (an artefact of an older version)."""
    path = Path(path)
    if expected is None:
        side = sidecar(path)
        if not side.is_file():
            return None
        allowed = set(side.read_text(encoding="utf-8").split())
    else:
        allowed = {expected}
    return file_sha256(path) in allowed
