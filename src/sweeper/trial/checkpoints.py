"""A trial's checkpoint folders: naming, finding, pruning, and the step a checkpoint holds."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from sweeper.errors import SweeperError

STATE_FILE = "sweeper_state.json"  # sweeper's part of a checkpoint: the open logging window, its files
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


def file_sizes(folder: Path) -> dict[str, int]:
    """Relative path -> size of every file in a checkpoint folder but sweeper's state file: written
    into that file, they tell a complete copy of the checkpoint from one cut off mid-copy."""
    folder = Path(folder)
    return {
        path.relative_to(folder).as_posix(): path.stat().st_size
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != STATE_FILE
    }


def is_complete(state: dict, sizes: dict[str, int]) -> bool:
    """Whether a copy of a checkpoint whose files have `sizes` holds every file its state file
    (already parsed: a cut-off JSON file does not parse) lists, at full size. A checkpoint written
    before sweeper listed its files counts as incomplete: nothing proves it whole."""
    listed = state.get("files")
    if not isinstance(listed, dict) or not listed:
        return False
    return all(sizes.get(name) == size for name, size in listed.items())
