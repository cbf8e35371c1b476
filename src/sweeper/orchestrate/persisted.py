"""The checkpoint a restarted trial starts from.

Ray restarts a trial from the checkpoint its experiment snapshot names, and that snapshot is
written about once a second: a driver killed just after a trial persisted a checkpoint restarts
the trial from an older one, or from scratch. The checkpoint is on the storage all the same, so a
trial starts from the newest whole checkpoint in its own folder there.
"""

from __future__ import annotations

from typing import Any

from sweeper.results.stored_checkpoints import checkpoint_step, persisted_checkpoints


def newest_checkpoint(known: Any) -> Any:
    """The newest whole checkpoint in the trial's storage folder, or `known` (Ray's, from its
    snapshot) when that is as new or the folder holds none."""
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


def _step(checkpoint: Any) -> int:
    try:
        return checkpoint_step(checkpoint.filesystem, checkpoint.path)
    except (OSError, ValueError, KeyError, TypeError):
        return -1
