"""A sweep folder on object storage (`storage: s3://bucket/prefix`, gs://, whatever pyarrow.fs resolves).

Ray writes its own part there (experiment snapshot, trial folders, checkpoints) through its
`storage_path`. sweeper's own files (marker, spec, ledger, leaderboard, curves, plot) are written
as always into a local mirror folder, and each is uploaded whole the moment it changes; readers
(`leaderboard`, `compare`, `report`, `export`, `diagnose`, `resume`) download them into a
temporary mirror and read that. The endpoint and the credentials come from the standard
variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...): no filesystem object carrying keys is ever
handed to Ray, which would pickle it into the bucket.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import socket
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from sweeper.errors import SweeperError
from sweeper.results.store import MARKER
from sweeper.uri import is_uri

# sweeper's files in a sweep folder, what a reader of the sweep needs.
SWEEP_FILES = (MARKER, "spec.yaml", "ledger.jsonl", "leaderboard.csv", "curves.parquet", "curves.png")
LOCK = ".sweeper.lock"
# Variables a trial's process needs to reach the storage itself (its checkpoints go there).
STORAGE_ENV = (
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "GOOGLE_APPLICATION_CREDENTIALS",
)


def storage_env() -> dict[str, str]:
    """The storage variables this process has, to pass on to every trial's process."""
    return {name: os.environ[name] for name in STORAGE_ENV if os.environ.get(name)}


class RemoteFolder:
    """A folder on object storage, addressed by URI."""

    def __init__(self, uri: str) -> None:
        import pyarrow.fs as pafs

        self.uri = uri.rstrip("/")
        try:
            self.fs, self.path = pafs.FileSystem.from_uri(self.uri)
        except (ValueError, OSError) as error:
            raise SweeperError(f"{uri}: not a storage URI pyarrow can open ({error})") from None
        self.path = self.path.rstrip("/")

    def _at(self, name: str) -> str:
        return posixpath.join(self.path, name)

    def exists(self, name: str = "") -> bool:
        import pyarrow.fs as pafs

        return self._info(self._at(name) if name else self.path).type != pafs.FileType.NotFound

    def names(self) -> list[str]:
        """The names directly in the folder (files and sub-folders)."""
        import pyarrow.fs as pafs

        selector = pafs.FileSelector(self.path, recursive=False, allow_not_found=True)
        return sorted(info.base_name for info in self._call(self.fs.get_file_info, selector))

    def read_bytes(self, name: str) -> bytes:
        def read() -> bytes:
            with self.fs.open_input_stream(self._at(name)) as stream:
                return stream.read()

        return self._call(read)

    def write_bytes(self, name: str, data: bytes) -> None:
        """One whole object: a reader sees the old one or the new one (object stores replace whole)."""

        def write() -> None:
            with self.fs.open_output_stream(self._at(name)) as stream:
                stream.write(data)

        self._call(write)

    def upload_tree(self, local: Path, name: str) -> None:
        """Copy a local folder, whole, to `name` in this folder."""
        import pyarrow.fs as pafs

        self._call(
            pafs.copy_files, str(local), self._at(name),
            source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs,
        )

    def delete(self, name: str) -> None:
        self._call(self.fs.delete_file, self._at(name))

    def delete_tree(self) -> None:
        self._call(self.fs.delete_dir_contents, self.path, missing_dir_ok=True)

    def _info(self, path: str) -> Any:
        return self._call(self.fs.get_file_info, path)

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except OSError as error:
            raise SweeperError(f"{self.uri}: {str(error).splitlines()[0]}") from None


class MirroredSweep:
    """sweeper's files of a sweep on object storage, kept in a local folder and uploaded on change."""

    def __init__(self, uri: str, local: Path) -> None:
        self.remote = RemoteFolder(uri)
        self.uri = self.remote.uri
        self.local = Path(local)
        self._sent: dict[str, tuple[int, int]] = {}  # name -> (mtime_ns, size) last uploaded
        self.lock: RemoteLock | None = None  # refreshed as files go up, so others see the sweep alive
        self._refreshed = time.monotonic()

    def is_sweep(self) -> bool:
        names = set(self.remote.names())
        return MARKER in names or {"spec.yaml", "leaderboard.csv"} <= names

    def pull(self) -> "MirroredSweep":
        self.local.mkdir(parents=True, exist_ok=True)
        present = set(self.remote.names())
        for name in SWEEP_FILES:
            if name in present:
                (self.local / name).write_bytes(self.remote.read_bytes(name))
                self._sent[name] = _stamp(self.local / name)
        return self

    def push(self, tensorboard: bool = False) -> None:
        """Upload each of sweeper's files that changed since it was last sent; with `tensorboard`,
        the TensorBoard folder too (at the end: its event files grow with every point)."""
        for name in SWEEP_FILES:
            path = self.local / name
            if not path.is_file():
                continue
            stamp = _stamp(path)
            if self._sent.get(name) != stamp:
                self.remote.write_bytes(name, path.read_bytes())
                self._sent[name] = stamp
        if tensorboard and (self.local / "tensorboard").is_dir():
            self.remote.upload_tree(self.local / "tensorboard", "tensorboard")
        if self.lock is not None and time.monotonic() - self._refreshed > RemoteLock.STALE_SECONDS / 4:
            self.lock.refresh()
            self._refreshed = time.monotonic()


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_mtime_ns, stat.st_size


class RemoteLock:
    """The sweep's lock on object storage, which has no file locks: an object naming its holder
    (host and process). Another holder is refused while that process lives, judged on the same
    host by its PID and elsewhere by the lock's age (a driver refreshes it as it uploads)."""

    STALE_SECONDS = 120.0

    def __init__(self, remote: RemoteFolder) -> None:
        self.remote = remote
        self._mine = f"{socket.gethostname()} pid {os.getpid()}"

    def acquire(self) -> "RemoteLock":
        if self.remote.exists(LOCK):
            holder = self.remote.read_bytes(LOCK).decode("utf-8", "replace").strip()
            if holder and not self._stale(holder):
                raise SweeperError(
                    f"{self.remote.uri}: another sweep is writing to this folder ({holder}); "
                    "wait for it, or give this sweep another name or storage"
                )
        self.refresh()
        return self

    def refresh(self) -> None:
        self.remote.write_bytes(LOCK, f"{self._mine} at {time.time():.0f}\n".encode())

    def release(self) -> None:
        with contextlib.suppress(SweeperError):
            self.remote.delete(LOCK)

    def _stale(self, holder: str) -> bool:
        match = re.match(r"^(\S+) pid (\d+) at (\d+)", holder)
        if match is None:
            return True
        host, pid, stamp = match.group(1), int(match.group(2)), float(match.group(3))
        if host == socket.gethostname():
            return not _alive(pid)
        return time.time() - stamp > self.STALE_SECONDS

    def __enter__(self) -> "RemoteLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def readable(location: str | Path) -> Iterator[Path]:
    """A local folder (or file) to read a sweep from: `location` itself, or for a URI a temporary
    mirror of the sweep's files (for a URI inside a sweep, e.g. its trial folder, the same place
    inside the mirror)."""
    if not is_uri(str(location)):
        yield Path(location)
        return
    uri = str(location).rstrip("/")
    parts = uri.split("/")
    tail: list[str] = []
    if parts[-1] == "leaderboard.csv" or parts[-1].startswith("trial_"):
        tail = [parts[-1]]
        uri = "/".join(parts[:-1])
    with tempfile.TemporaryDirectory(prefix="sweeper-read-") as work:
        mirror = MirroredSweep(uri, Path(work) / parts[-1 - len(tail)])
        if not mirror.remote.exists():
            raise SweeperError(f"{uri}: nothing there (is this a sweep folder?)")
        mirror.pull()
        if tail and tail[0].startswith("trial_"):
            (mirror.local / tail[0]).mkdir()  # read as the sweep's curve of that trial
        yield mirror.local.joinpath(*tail)
