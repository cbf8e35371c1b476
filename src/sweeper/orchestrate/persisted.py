"""The checkpoint a restarted trial starts from.

Ray restarts a trial from the checkpoint its own records name (Tune's experiment snapshot, written
about once a second; Train's checkpoint list, for a data-parallel trial), and those lag the upload:
a driver or worker killed just after a checkpoint was persisted restarts the trial from an older
one, or from scratch. The checkpoint is on the storage all the same, so a trial starts from the
newest whole checkpoint in its own folder there.
"""

from __future__ import annotations

from typing import Any

from sweeper.results.stored_checkpoints import checkpoint_step, persisted_checkpoints


def newest_checkpoint(known: Any, filesystem: Any, folder: str) -> Any:
    """The newest whole checkpoint in `folder` (the trial's, on a pyarrow `filesystem`), or `known`
    (the one Ray's records name) when that is as new or the folder holds none."""
    from ray.train import Checkpoint

    found = persisted_checkpoints(filesystem, folder)
    if not found:
        return known
    step, path = found[-1]
    if known is not None and _step(known) >= step:
        return known
    return Checkpoint(path, filesystem=filesystem)


def _step(checkpoint: Any) -> int:
    try:
        return checkpoint_step(checkpoint.filesystem, checkpoint.path)
    except (OSError, ValueError, KeyError, TypeError):
        return -1
