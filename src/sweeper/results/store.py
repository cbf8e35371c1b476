"""Files that survive crashes: every write goes to a temporary file that is renamed into place,
and one lock per sweep folder keeps two sweeps from writing into the same place."""

from __future__ import annotations

import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Callable, IO

from sweeper.errors import SweeperError


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Call `write(file)` on a temporary file beside `path`, fsync it, then rename it over `path`.

    A reader sees the old file or the new one, never a half-written one.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:
        raise SweeperError(f"{path.parent}: cannot write results here: {error.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as error:
        _remove_quietly(tmp)
        if error.errno == errno.ENOSPC:
            raise SweeperError(f"{path}: disk full while writing; the previous version is intact") from None
        raise SweeperError(f"{path}: cannot write: {error.strerror}") from None
    except BaseException:
        _remove_quietly(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def ensure_writable_dir(path: Path) -> Path:
    """Create `path` if needed and prove we can write there, before any work starts."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-probe-", delete=True)
        probe.close()
    except OSError as error:
        raise SweeperError(f"{path}: results folder is not writable: {error.strerror}") from None
    return path


class SweepLock:
    """An exclusive lock on a sweep folder, held for the life of the sweep.

    The kernel drops it when the process dies, so a crashed sweep never leaves a stale lock.
    """

    FILENAME = ".sweeper.lock"

    def __init__(self, sweep_dir: Path) -> None:
        self.path = Path(sweep_dir) / self.FILENAME
        self._handle: IO[str] | None = None

    def acquire(self) -> "SweepLock":
        try:
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as error:
            raise SweeperError(f"{self.path}: cannot create the sweep's lock file: {error.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise SweeperError(
                f"{self.path.parent}: another sweep is writing to this folder ({holder}); "
                "wait for it, or give this sweep another name or storage"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> "SweepLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


MARKER = ".sweeper-sweep"  # written first into every sweep folder: only such folders are ever emptied


def is_sweep_dir(path: Path) -> bool:
    """A folder sweeper made: its marker, or (older sweeps) a spec and a leaderboard."""
    path = Path(path)
    return (path / MARKER).exists() or ((path / "spec.yaml").exists() and (path / "leaderboard.csv").exists())


def is_empty_dir(path: Path) -> bool:
    """Absent, or holding nothing but a lock left by a sweep that never started."""
    path = Path(path)
    return not path.exists() or all(child.name == SweepLock.FILENAME for child in path.iterdir())
