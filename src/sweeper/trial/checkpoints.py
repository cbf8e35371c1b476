"""A trial's checkpoint folders: naming, finding, pruning, and the step a checkpoint holds."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from sweeper.errors import SweeperError

STATE_FILE = "sweeper_state.json"  # sweeper's part of a checkpoint: the open logging window
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def checkpoint_step(path: Path) -> int | None:
    match = _CHECKPOINT.match(Path(path).name)
    return int(match.group(1)) if match else None


def checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    """(step, folder) of every checkpoint in `output_dir`, oldest first."""
    if not output_dir.is_dir():
        return []
    found = [(checkpoint_step(p), p) for p in output_dir.iterdir() if p.is_dir()]
    return sorted((step, p) for step, p in found if step is not None)


def keep_latest(output_dir: Path, keep: int) -> None:
    for _, path in checkpoints(output_dir)[: -max(keep, 1)]:
        shutil.rmtree(path, ignore_errors=True)


def resume_step(resume_from: Path) -> int:
    state = resume_from / "trainer_state.json"
    try:
        return int(json.loads(state.read_text())["global_step"])
    except FileNotFoundError:
        raise SweeperError(f"resume_from {resume_from}: no trainer_state.json; not a Trainer checkpoint") from None
    except (OSError, KeyError, ValueError) as error:
        raise SweeperError(f"resume_from {resume_from}: unreadable trainer_state.json ({error})") from None


def discard_later(output_dir: Path, resume_from: Path, step: int) -> None:
    """Remove checkpoints after `step` other than `resume_from`: a superseded future of the trial."""
    for later, path in checkpoints(output_dir):
        if later > step and path.resolve() != resume_from.resolve():
            shutil.rmtree(path, ignore_errors=True)
