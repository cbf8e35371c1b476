"""A Ray Tune callback that keeps every trial's points and status, and refreshes
`leaderboard.csv` and `curves.parquet` (atomically) while the sweep runs."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable

from ray.tune import Callback

from sweeper.errors import SweeperError
from sweeper.orchestrate.duplicates import DUPLICATE, DUPLICATE_OF
from sweeper.orchestrate.ledger import Ledger
from sweeper.orchestrate.space import OBJECTIVE
from sweeper.orchestrate.trainable import TrialRaised
from sweeper.rules.point import merge_facts
from sweeper.results.curves import write_curves
from sweeper.results.leaderboard import TrialRecord, leaderboard_rows, write_leaderboard

OOM_HINT = "out of memory: lower per_device_train_batch_size or cutoff_len, or turn on gradient_checkpointing"


class SweepRecorder(Callback):
    def __init__(
        self,
        sweep_dir: Path,
        param_names: list[str],
        metric: str,
        mode: str,
        scheduler: Any,
        on_change: Callable[["SweepRecorder"], None] | None = None,
        flush_seconds: float = 5.0,
        effective: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        duplicates: Any = None,
        on_written: Callable[[], None] | None = None,
        checkpoints_in: str | None = None,
    ) -> None:
        """`effective` maps a trial's config to its effective settings (the leaderboard's parameter
        columns: blank where the trial does not use one); `duplicates` is the registry actor of
        sweeper.orchestrate.duplicates, told when a trial finishes or is retried. `on_written` is
        called after each write of the sweep's files (to upload them); `checkpoints_in`: where the
        trials' checkpoint folders are (default: `sweep_dir`)."""
        self.sweep_dir = Path(sweep_dir)
        self.checkpoints_in = checkpoints_in or str(self.sweep_dir)
        self._on_written = on_written
        self.param_names = param_names
        self.metric = metric
        self.mode = mode
        self.scheduler = scheduler
        self.records: dict[str, TrialRecord] = {}
        self.ledger = Ledger(self.sweep_dir)
        self.finished: set[str] = set()  # trials in the ledger: their records are final
        self._on_change = on_change
        self._flush_seconds = flush_seconds
        self._last_flush = 0.0
        self.write_error: SweeperError | None = None  # the last failed write, until one succeeds
        self._effective = effective
        self.duplicates = duplicates

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles the run config (callbacks included) into the experiment folder; the live
        # progress view holds a terminal stream and is re-attached by whoever runs the sweep.
        state = self.__dict__.copy()
        state["_on_change"] = None
        state["_on_written"] = None
        state["duplicates"] = None  # an actor of this run only
        return state

    def attach(self, on_change: Callable[["SweepRecorder"], None] | None) -> None:
        """Re-attach the live view (a recorder Ray restored from its pickle has none)."""
        self._on_change = on_change

    def restore(self, records: dict[str, TrialRecord], finished: set[str]) -> None:
        """Start from what an earlier run of the sweep recorded; `finished` are the ledger's trials."""
        self.records = dict(records)
        self.finished = set(finished)

    # Ray Tune hooks -------------------------------------------------------------------------

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self.finished:
            return
        record = self._record(trial)
        record.status = "running"
        self._changed()

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.scheduler.was_pruned(trial.trial_id) and OBJECTIVE not in result and self.mode == "max":
            # A trial pruned before its first evaluation still tells the searcher it was bad
            # (Ray passes this same dict to the searcher's on_trial_complete).
            result[OBJECTIVE] = 0.0
        if trial.trial_id in self.finished:
            return  # a finished trial Ray re-ran replays its final result: nothing new
        record = self._record(trial)
        record.status = "running"
        batch = self.scheduler.last_batch(trial.trial_id)
        restart = self.scheduler.last_restart(trial.trial_id)
        if restart is not None:
            # The trial restarted from a checkpoint (a retry, a resume): its new points replace
            # the ones recorded after that checkpoint, so the curve has each step once.
            record.points = [point for point in record.points if point["step"] < restart]
        record.points.extend(point.as_dict() for point in batch.points)
        merge_facts(record.facts, batch.facts)
        record.objective = result.get(OBJECTIVE, record.objective)
        if result.get(DUPLICATE_OF):
            record.duplicate_of = str(result[DUPLICATE_OF])
            ended = result.get("duplicate_status")
            record.reason = (
                f"the same settings as trial {record.duplicate_of} ({ended}): its result, not trained again"
                if ended
                else f"waiting for trial {record.duplicate_of}, which trains the same settings"
            )
        record.wall_seconds = result.get("time_total_s", record.wall_seconds)
        self._changed()

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        # A resumed trial continues after its checkpoint: every point up to it must be on disk.
        if trial.trial_id not in self.finished:
            self._changed(force=True)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self.finished:
            return
        record = self._record(trial)
        if record.duplicate_of:
            record.status = DUPLICATE  # its reason names the trial it repeated
        else:
            record.status = "pruned" if self.scheduler.was_pruned(trial.trial_id) else "completed"
            record.verdict, record.stopped_by, record.reason = self.scheduler.verdict(trial.trial_id)
        self._finish(record)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        if trial.trial_id in self.finished:
            return
        record = self._record(trial)
        record.status = "errored"
        record.verdict, record.stopped_by, _ = self.scheduler.verdict(trial.trial_id)
        record.error = error_line(trial)
        if record.duplicate_of:
            record.reason = ""  # the error says which trial's error it repeats
        self._finish(record)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # Its process died and Ray retries it: a trial waiting on its settings may take them over.
        if self.duplicates is not None:
            self.duplicates.release.remote(trial.trial_id)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._flush_during_sweep()  # the driver flushes once more after Ray and raises then

    # ----------------------------------------------------------------------------------------

    def mark_interrupted(self) -> None:
        """The sweep stopped with these trials in flight: a resume continues them."""
        for record in self.records.values():
            if record.status in ("running", "pending"):
                record.status = "interrupted"

    def _finish(self, record: TrialRecord) -> None:
        self.ledger.append(record)  # first: once here, a resume never trains this trial again
        self._written()
        self.finished.add(record.trial_id)
        if self.duplicates is not None and not record.duplicate_of:
            self.duplicates.finish.remote(record.trial_id, record.status, record.objective, record.error)
        self._changed(force=True)

    def _record(self, trial: Any) -> TrialRecord:
        record = self.records.get(trial.trial_id)
        if record is None:
            if self._effective is not None:
                params = self._effective(trial.config)
            else:
                params = {name: trial.config.get(name) for name in self.param_names}
            record = self.records[trial.trial_id] = TrialRecord(trial_id=trial.trial_id, params=params)
        return record

    def _changed(self, force: bool = False) -> None:
        if self._on_change is not None:
            self._on_change(self)
        if force or time.monotonic() - self._last_flush >= self._flush_seconds:
            self._flush_during_sweep()

    def rows(self) -> list[dict[str, Any]]:
        return leaderboard_rows(self.records.values(), self.param_names, self.metric, self.checkpoints_in)

    def flush(self) -> None:
        """Write leaderboard.csv and curves.parquet (atomically); SweeperError when that fails."""
        self._last_flush = time.monotonic()
        records = list(self.records.values())
        write_leaderboard(self.sweep_dir / "leaderboard.csv", self.rows(), self.param_names)
        write_curves(self.sweep_dir / "curves.parquet", records, self.param_names)
        self._written()

    def _written(self) -> None:
        if self._on_written is not None:
            self._on_written()

    def _flush_during_sweep(self) -> None:
        """A write that fails while trials run (disk full) must not take the sweep down: every
        point is still in memory, the files on disk are the last complete versions, and the
        next flush (the final one, after the sweep, raises) tries again. Said once, on stderr."""
        try:
            self.flush()
        except SweeperError as error:
            if self.write_error is None:
                print(f"warning: {error}; the sweep goes on and writes again at its next update", file=sys.stderr)
            self.write_error = error
        else:
            self.write_error = None


def error_line(trial: Any) -> str:
    """The last line of a trial's error, with a hint when it ran out of memory."""
    text = ""
    path = getattr(trial, "error_file", None)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else "the trial failed (no error text)"
    # Our own errors already say what to fix; the class name adds nothing.
    last = last.removeprefix(f"{TrialRaised.__module__}.{TrialRaised.__name__}: ")
    last = last.removeprefix(f"{SweeperError.__module__}.{SweeperError.__name__}: ")
    if "out of memory" in text.lower() or "OutOfMemoryError" in text:
        return f"{OOM_HINT} ({last})"
    return last
