"""A trial's checkpoints as they lie on the sweep's storage (a local folder or an object store).

Ray copies each checkpoint a trial reports into `trial_<id>/checkpoint_<n>/`. sweeper's state file
in it lists the checkpoint's files and their sizes, which tells a whole copy from one cut off
mid-upload (a killed driver or node).
"""

from __future__ import annotations

import json
import posixpath
from typing import Any

from sweeper.trial.checkpoints import STATE_FILE, is_complete


def persisted_checkpoints(filesystem: Any, trial_path: str) -> list[tuple[int, str]]:
    """(step, path) of every whole checkpoint under `trial_path` on a pyarrow `filesystem`, oldest first."""
    import pyarrow.fs as pafs

    try:
        infos = filesystem.get_file_info(pafs.FileSelector(trial_path, recursive=True, allow_not_found=True))
    except OSError:
        return []
    sizes: dict[str, dict[str, int]] = {}  # checkpoint folder -> its files' sizes
    for info in infos:
        if info.type != pafs.FileType.File:
            continue
        relative = posixpath.relpath(info.path, trial_path)
        folder, _, name = relative.partition("/")
        if folder.startswith("checkpoint_") and name:
            sizes.setdefault(folder, {})[name] = info.size
    found = []
    for folder, files in sizes.items():
        if STATE_FILE not in files or "trainer_state.json" not in files:
            continue
        path = posixpath.join(trial_path, folder)
        try:
            state = json.loads(read_text(filesystem, posixpath.join(path, STATE_FILE)))
            step = checkpoint_step(filesystem, path)
        except (OSError, ValueError, KeyError, TypeError):
            continue  # cut off mid-copy, or being removed right now
        if isinstance(state, dict) and is_complete(state, files):
            found.append((step, path))
    return sorted(found)


def remote_checkpoints(trial_uri: str) -> dict[int, str]:
    """Step -> URI of every whole checkpoint of a trial folder on object storage."""
    import pyarrow.fs as pafs

    try:
        filesystem, path = pafs.FileSystem.from_uri(trial_uri)
    except (ValueError, OSError):
        return {}
    scheme = trial_uri.split("://", 1)[0]
    return {step: f"{scheme}://{found}" for step, found in persisted_checkpoints(filesystem, path)}


def checkpoint_step(filesystem: Any, path: str) -> int:
    return int(json.loads(read_text(filesystem, posixpath.join(path, "trainer_state.json")))["global_step"])


def read_text(filesystem: Any, path: str) -> str:
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode("utf-8")
