"""One curve type for every log format."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sweeper.rules.point import Point


@dataclass
class Curve:
    """The points of one run, sorted by step (one point per step: train and eval values merged).

    `format`: "hf_trainer_state", "llamafactory_jsonl", "swift_jsonl", "megatron_swift_jsonl",
    "jsonl", "csv", "console" or "sweep_parquet". `source`: the file read. Metadata is None when the log does not say.
    """

    points: list[Point]
    format: str
    source: str
    max_steps: int | None = None
    num_train_epochs: float | None = None
    steps_per_epoch: float | None = None
    trial_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # What the reader did that changes which points are judged (a resume, a second run, the run
    # picked in a folder), one sentence each; diagnose prints them.
    notes: list[str] = field(default_factory=list)
    sweep_dir: str | None = None  # the sweep's results folder, for a trial of a curves.parquet

    @property
    def train_points(self) -> int:
        return sum(1 for p in self.points if p.is_train)

    @property
    def eval_points(self) -> int:
        return sum(1 for p in self.points if p.is_eval)
