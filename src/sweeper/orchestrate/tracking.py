"""The trackers users already look at: every raw point of every trial at its training step.

A driver-side Ray Tune callback. TensorBoard always (event files per trial under
`<sweep>/tensorboard/<trial_id>/`); MLflow and W&B when the spec's `tracking:` asks, one run per
trial with its parameters, and its status, verdict, stopping rule and reason at the end, grouped
by sweep (MLflow experiment / W&B group = the sweep's name).

It stands in for Ray's own TensorBoard logger (hence the base class: Ray adds its
TBXLoggerCallback only when none is given), which logs each report, a batch of points, at Ray's
iteration number: 8 of 96 points, at the wrong x.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ray.tune.logger import TBXLoggerCallback

from sweeper.orchestrate.duplicates import DUPLICATE_OF
from sweeper.rules.point import POINT_FIELDS

VALUES = POINT_FIELDS[1:]


def _values(point: dict[str, Any]) -> dict[str, float]:
    return {
        name: float(point[name])
        for name in VALUES
        if isinstance(point.get(name), (int, float)) and not isinstance(point.get(name), bool)
    }


def _plain(value: Any) -> Any:
    return value if isinstance(value, (bool, int, float, str)) or value is None else str(value)


class TensorBoardSink:
    """One tensorboardX writer per trial; tags are the point's field names."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._writers: dict[str, Any] = {}

    def start(self, trial_id: str, params: dict[str, Any]) -> None:
        if trial_id in self._writers:
            return
        from tensorboardX import SummaryWriter

        writer = SummaryWriter(logdir=str(self.root / trial_id), flush_secs=5)
        writer.add_text("params", ", ".join(f"{k}={v}" for k, v in params.items()) or "-", 0)
        self._writers[trial_id] = writer

    def points(self, trial_id: str, points: list[dict[str, Any]]) -> None:
        writer = self._writers[trial_id]
        for point in points:
            for name, value in _values(point).items():
                writer.add_scalar(name, value, global_step=int(point["step"]))

    def end(self, trial_id: str, outcome: dict[str, str]) -> None:
        writer = self._writers.pop(trial_id, None)
        if writer is not None:
            writer.add_text("outcome", "; ".join(f"{k}: {v}" for k, v in outcome.items() if v), 0)
            writer.close()


class MlflowSink:
    """One MLflow run per trial in the experiment named after the sweep."""

    def __init__(self, uri: str, sweep_name: str) -> None:
        import os

        if uri.startswith("file:"):
            # MLflow 3 refuses its file store unless asked; a file: URI in the spec is that ask.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        from mlflow.tracking import MlflowClient

        self._client = MlflowClient(tracking_uri=uri)
        experiment = self._client.get_experiment_by_name(sweep_name)
        self._experiment_id = (
            experiment.experiment_id if experiment is not None else self._client.create_experiment(sweep_name)
        )
        self._sweep = sweep_name
        self._runs: dict[str, str] = {}

    def start(self, trial_id: str, params: dict[str, Any]) -> None:
        if trial_id in self._runs:
            return
        from mlflow.entities import Param

        run = self._client.create_run(
            self._experiment_id, run_name=trial_id, tags={"sweep": self._sweep, "trial_id": trial_id}
        )
        self._runs[trial_id] = run.info.run_id
        self._client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in params.items()])

    def points(self, trial_id: str, points: list[dict[str, Any]]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(name, value, now, int(point["step"])) for point in points for name, value in _values(point).items()
        ]
        for start in range(0, len(metrics), 1000):  # MLflow's limit per batch
            self._client.log_batch(self._runs[trial_id], metrics=metrics[start : start + 1000])

    def end(self, trial_id: str, outcome: dict[str, str]) -> None:
        run_id = self._runs.pop(trial_id, None)
        if run_id is None:
            return
        for key, value in outcome.items():
            self._client.set_tag(run_id, key, value[:5000])
        states = {"completed": "FINISHED", "pruned": "KILLED", "duplicate": "FINISHED"}
        state = states.get(outcome.get("status", ""), "FAILED")
        self._client.set_terminated(run_id, status=state)


class WandbSink:
    """One W&B run per trial (offline: files under `<sweep>/wandb/`, `wandb sync` uploads them)."""

    def __init__(self, mode: str, project: str, sweep_name: str, root: Path) -> None:
        self._mode, self._project, self._group, self._root = mode, project, sweep_name, Path(root)
        self._runs: dict[str, Any] = {}

    def start(self, trial_id: str, params: dict[str, Any]) -> None:
        if trial_id in self._runs:
            return
        import wandb

        self._root.mkdir(parents=True, exist_ok=True)
        self._runs[trial_id] = wandb.init(
            project=self._project, group=self._group, name=trial_id, id=f"{self._group}-{trial_id}",
            config=params, mode=self._mode, dir=str(self._root), reinit="create_new",
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
        )

    def points(self, trial_id: str, points: list[dict[str, Any]]) -> None:
        run = self._runs[trial_id]
        for point in points:
            run.log(_values(point), step=int(point["step"]))

    def end(self, trial_id: str, outcome: dict[str, str]) -> None:
        run = self._runs.pop(trial_id, None)
        if run is not None:
            run.summary.update(outcome)
            run.finish(exit_code=0 if outcome.get("status") in ("completed", "pruned") else 1)


class TrackingCallback(TBXLoggerCallback):
    """Sends every point to each tracker at its training step; never fails the sweep (a tracker
    that raises is reported once on stderr and left out from then on)."""

    def __init__(self, sweep_dir: Path, sweep_name: str, param_names: list[str], scheduler: Any, tracking: Any) -> None:
        # Not TBXLoggerCallback.__init__: we keep no writers of Ray's; the base class only tells
        # Ray that a TensorBoard logger is present.
        self._sweep_dir = Path(sweep_dir)
        self._sweep_name = sweep_name
        self._param_names = param_names
        self._scheduler = scheduler
        self._tracking = tracking
        self._sinks: list[Any] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sinks"] = None  # writers and clients are re-opened after a restore
        return state

    def _open(self) -> list[Any]:
        if self._sinks is None:
            sinks: list[Any] = []
            if self._tracking.tensorboard:
                sinks.append(TensorBoardSink(self._sweep_dir / "tensorboard"))
            if self._tracking.mlflow:
                sinks.append(self._guard("MLflow", lambda: MlflowSink(self._tracking.mlflow, self._sweep_name)))
            if self._tracking.wandb != "off":
                sinks.append(self._guard("W&B", lambda: WandbSink(
                    self._tracking.wandb, self._tracking.wandb_project, self._sweep_name, self._sweep_dir)))
            self._sinks = [sink for sink in sinks if sink is not None]
        return self._sinks

    def _guard(self, name: str, make: Any) -> Any:
        try:
            return make()
        except Exception as error:  # an unreachable tracker must not cost the sweep
            print(f"warning: {name} tracking is off for this sweep: {error}", file=sys.stderr)
            return None

    def _each(self, call: str, *args: Any) -> None:
        for sink in list(self._open()):
            try:
                getattr(sink, call)(*args)
            except Exception as error:  # a tracker's failure is not the trial's
                print(f"warning: {type(sink).__name__} stopped tracking: {error}", file=sys.stderr)
                self._sinks.remove(sink)

    def log_trial_start(self, trial: Any) -> None:
        params = {name: _plain(trial.config.get(name)) for name in self._param_names}
        self._each("start", trial.trial_id, params)

    def log_trial_result(self, iteration: int, trial: Any, result: dict) -> None:
        points = [point.as_dict() for point in self._scheduler.last_batch(trial.trial_id).points]
        if points:
            self.log_trial_start(trial)  # idempotent; a restored driver meets running trials here first
            self._each("points", trial.trial_id, points)

    def log_trial_end(self, trial: Any, failed: bool = False) -> None:
        pruned = self._scheduler.was_pruned(trial.trial_id)
        status = "errored" if failed else ("pruned" if pruned else "completed")
        verdict, stopped_by, reason = self._scheduler.verdict(trial.trial_id)
        duplicate_of = (getattr(trial, "last_result", None) or {}).get(DUPLICATE_OF)
        if duplicate_of and not failed:  # it repeated that trial's result and trained nothing
            status, verdict, reason = "duplicate", "", f"the same settings as trial {duplicate_of}: not trained again"
        outcome = {"status": status, "verdict": verdict, "stopped_by": stopped_by, "reason": reason}
        self._each("end", trial.trial_id, outcome)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        for trial in trials:  # trials the sweep left unfinished (interrupted) still close their runs
            if getattr(trial, "status", "") not in ("TERMINATED", "ERROR"):
                self._each("end", trial.trial_id, {"status": "interrupted"})

