"""A trial's checkpoints as they lie on the sweep's storage (a local folder or an object store).

Ray restarts a trial from the checkpoint its experiment snapshot names, and that snapshot is
written about once a second: a driver killed just after a trial persisted a checkpoint restarts
the trial from an older one, or from scratch. The checkpoint is on the storage all the same, and
sweeper's state file in it lists its files and their sizes, which tells a whole copy from one cut
off mid-upload. So a trial starts from the newest whole checkpoint in its own folder.
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
            state = json.loads(_read(filesystem, posixpath.join(path, STATE_FILE)))
            step = int(json.loads(_read(filesystem, posixpath.join(path, "trainer_state.json")))["global_step"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # cut off mid-copy, or being removed right now
        if isinstance(state, dict) and is_complete(state, files):
            found.append((step, path))
    return sorted(found)


def newest_checkpoint(known: Any) -> Any:
    """The checkpoint a trial starts from: the newest whole one in its storage folder, or `known`
    (Ray's, from its snapshot) when that is as new or the folder cannot be listed."""
    from ray import tune
    from ray.train._internal.session import get_session

    storage = get_session().storage
    found = persisted_checkpoints(storage.storage_filesystem, storage.trial_fs_path)
    if not found:
        return known
    step, path = found[-1]
    if known is not None and _step(known) >= step:
        return known
    return tune.Checkpoint(path, filesystem=storage.storage_filesystem)


def _read(filesystem: Any, path: str) -> str:
    with filesystem.open_input_stream(path) as stream:
        return stream.read().decode("utf-8")


def _step(checkpoint: Any) -> int:
    try:
        return int(json.loads(_read(checkpoint.filesystem, posixpath.join(checkpoint.path, "trainer_state.json")))["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return -1
