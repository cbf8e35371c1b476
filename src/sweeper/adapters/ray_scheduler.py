"""The convergence rules as a Ray Tune scheduler.

Ray's OptunaSearch hard-codes Optuna's NopPruner, so pruning inside Ray Tune has to be a
scheduler. This one keeps a CurveMonitor per trial, feeds it every reported point, and answers
STOP when the monitor's policy says so. All judgement lives in `sweeper.rules`.

The one cross-trial input: the trials that ran to their end without being pruned, their final eval
metric (macro-F1, else accuracy) and eval curve (`sweeper.rules.Sweep`), passed with every point.
A trial whose eval metric cannot reach the best of them even optimistically is stopped ("outpaced",
sweeper.rules.outpaced; `PrunerSettings.compare_to_best`); a trial still at chance where finished
ones were at chance too, none of them ending near the best, is stopped ("precedent",
sweeper.rules.precedent).
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from sweeper.rules import NO_SWEEP, CurveMonitor, PrunerSettings, Sweep
from sweeper.rules.point import Batch


class ConvergenceScheduler(FIFOScheduler):
    """Stop trials whose own raw curve diverges, is stuck, or memorises, or whose eval metric cannot
    reach the best completed trial's (see PrunerSettings)."""

    def __init__(self, settings: PrunerSettings | None = None) -> None:
        super().__init__()
        self._settings = settings or PrunerSettings()
        self._monitors: dict[str, CurveMonitor] = {}
        self._pruned: dict[str, int] = {}  # trial_id -> step at which it was stopped
        self._sweep: Sweep = NO_SWEEP  # the completed trials: what a run at each point of its schedule went on to do
        self._batches: dict[str, Batch] = {}  # the last parsed report of each trial

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        # Ray calls the scheduler before the callbacks: the report is parsed here, once, and the
        # recorder takes the same batch (`last_batch`).
        batch = self._batches[trial.trial_id] = Batch.parse(result)
        for point in batch.points:
            monitor = self._monitor(trial.trial_id, batch.facts)
            decision = monitor.observe(point, self._sweep)
            if decision.action == "stop" and self._settings.enabled:
                self._pruned[trial.trial_id] = point.step
                return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def last_batch(self, trial_id: str) -> Batch:
        """The trial's last report as parsed by `on_trial_result`."""
        return self._batches[trial_id]

    def _monitor(self, trial_id: str, facts: dict[str, Any]) -> CurveMonitor:
        monitor = self._monitors.get(trial_id)
        if monitor is None:
            monitor = CurveMonitor(
                self._settings,
                max_steps=facts.get("max_steps"),
                steps_per_epoch=facts.get("steps_per_epoch"),
            )
            self._monitors[trial_id] = monitor
        return monitor

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        monitor = self._monitors.get(trial.trial_id)
        if monitor is not None:
            monitor.finish()  # releases a staircase that was waiting for an eval point
            finished = monitor.finished_run
            if finished is not None and trial.trial_id not in self._pruned:
                self._sweep = self._sweep.adding(finished)
        self._batches.pop(trial.trial_id, None)
        super().on_trial_complete(tune_controller, trial, result)

    @property
    def sweep(self) -> Sweep:
        """The trials completed so far (a `sweeper.rules.Sweep`; its `best` is None before the first)."""
        return self._sweep

    def was_pruned(self, trial_id: str) -> bool:
        return trial_id in self._pruned

    def verdict(self, trial_id: str) -> tuple[str, str, str]:
        """(verdict, stopped_by, reason) of a trial so far: the curve's shape, what stopped it ("" when
        nothing did) and the one-line evidence; ("", "", "") before its first point."""
        monitor = self._monitors.get(trial_id)
        if monitor is None:
            return "", "", ""
        return monitor.verdict, monitor.stopped_by, monitor.reason

    def debug_string(self) -> str:
        return f"ConvergenceScheduler: {len(self._pruned)} pruned of {len(self._monitors)} seen"
