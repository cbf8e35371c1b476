import errno
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from sweeper.errors import SweeperError
from sweeper.results.store import SweepLock, atomic_write_text, ensure_writable_dir


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "leaderboard.csv"
    atomic_write_text(target, "old\n")
    atomic_write_text(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["leaderboard.csv"]  # no temporary left behind


def test_writer_killed_mid_write_leaves_previous_version_intact(tmp_path):
    target = tmp_path / "curves.parquet"
    atomic_write_text(target, "complete previous version\n")
    # A writer that stalls half-way through a large write; we SIGKILL it there.
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from sweeper.results.store import atomic_write
        def slow(handle):
            handle.write(b"x" * 1_000_000)
            handle.flush()
            print("half", flush=True)
            time.sleep(60)
            handle.write(b"y" * 1_000_000)
        atomic_write(Path({str(target)!r}), slow)
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "half"
        temporaries = [p for p in tmp_path.iterdir() if p.name != target.name]
        assert temporaries, "the writer should be writing to a temporary file"
        assert temporaries[0].stat().st_size >= 1_000_000
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert target.read_text() == "complete previous version\n"


def test_exception_in_writer_removes_temporary(tmp_path):
    from sweeper.results.store import atomic_write

    target = tmp_path / "x.csv"

    def broken(handle):
        handle.write(b"partial")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(SweeperError, match="not writable"):
            ensure_writable_dir(blocker / "sub")  # a path under a regular file can't be a folder
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(SweeperError, match="not writable"):
            ensure_writable_dir(locked / "sub")


def test_second_sweep_on_same_folder_refuses(tmp_path):
    with SweepLock(tmp_path):
        other = subprocess.run(
            [sys.executable, "-c", f"from sweeper.results.store import SweepLock; SweepLock({str(tmp_path)!r}).acquire()"],
            capture_output=True,
            text=True,
        )
        assert other.returncode != 0
        assert "another sweep is writing to this folder" in other.stderr
    # released: a later sweep may take it
    with SweepLock(tmp_path):
        pass


def test_lock_dies_with_its_process(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", f"from sweeper.results.store import SweepLock; import time; lock = SweepLock({str(tmp_path)!r}).acquire(); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(SweeperError):
        SweepLock(tmp_path).acquire()
    holder.kill()
    holder.wait()
    time.sleep(0.1)
    SweepLock(tmp_path).acquire().release()


class _FullDisk:
    """A file whose writes fail the way a full disk fails them (ENOSPC from the OS)."""

    def __init__(self, handle):
        self._handle = handle

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self._handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._handle.close()


@pytest.mark.parametrize("where", ["write", "fsync"])
def test_disk_full_is_a_clear_error_and_keeps_the_previous_version(tmp_path, monkeypatch, where):
    from sweeper.results import store
    from sweeper.results.leaderboard import write_leaderboard

    target = tmp_path / "leaderboard.csv"
    write_leaderboard(target, [{"trial_id": "a", "status": "completed"}], [])
    before = target.read_bytes()
    if where == "write":
        real_fdopen = os.fdopen
        monkeypatch.setattr(store.os, "fdopen", lambda fd, mode: _FullDisk(real_fdopen(fd, mode)))
    else:

        def full(fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(store.os, "fsync", full)
    with pytest.raises(SweeperError) as caught:
        write_leaderboard(target, [{"trial_id": "b", "status": "running"}], [])
    assert str(caught.value) == f"{target}: disk full while writing; the previous version is intact"
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["leaderboard.csv"]  # no temporary left behind


def test_lock_file_that_cannot_be_created_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SweeperError, match="cannot create the sweep's lock file"):
        SweepLock(blocker).acquire()  # a "folder" that is a regular file
