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

A trial that restarts from a checkpoint (a retry after its process died, or `sweeper resume`)
reports steps again: its monitor is rebuilt from the points before the first repeated one, so the
rules judge each step once. Ray does not restore a scheduler's state, so `restore_trial` hands it
what the sweep's own files recorded.
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from sweeper.rules import NO_SWEEP, CurveMonitor, PrunerSettings, Sweep
from sweeper.rules.point import Batch, Point, restart_step


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
        self._restarts: dict[str, int | None] = {}  # the step the last report restarted from, if it did
        self._history: dict[str, list[Point]] = {}  # every point judged, per trial in flight
        self._restored: set[str] = set()  # completed trials restored from the sweep's files
        self._held = False

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        # Ray calls the scheduler before the callbacks: the report is parsed here, once, and the
        # recorder takes the same batch (`last_batch`, `last_restart`).
        trial_id = trial.trial_id
        batch = self._batches[trial_id] = Batch.parse(result)
        history = self._history.setdefault(trial_id, [])
        restart = self._restarts[trial_id] = restart_step(history, batch.points)
        stop = False
        if restart is not None or trial_id not in self._monitors:
            kept = [point for point in history if restart is None or point.step < restart]
            history[:] = []
            self._monitors.pop(trial_id, None)  # a restarted run is judged anew from the points before it
            stop = self._judge(trial_id, kept, batch.facts)
        return TrialScheduler.STOP if stop or self._judge(trial_id, batch.points, batch.facts) else TrialScheduler.CONTINUE

    def _judge(self, trial_id: str, points: Any, facts: dict[str, Any]) -> bool:
        """Feed points to the trial's monitor (made on its first point); True when it says stop."""
        monitor = self._monitors.get(trial_id)
        if monitor is None:
            monitor = self._monitors[trial_id] = CurveMonitor.for_run(self._settings, facts)
        history = self._history.setdefault(trial_id, [])
        for point in points:
            history.append(point)
            decision = monitor.observe(point, self._sweep)
            if decision.action == "stop" and self._settings.enabled:
                self._pruned[trial_id] = point.step
                return True
        return False

    def hold(self) -> None:
        """Start no more trials (the sweep is stopping); those in flight go on."""
        self._held = True

    def choose_trial_to_run(self, tune_controller: Any) -> Any:
        return None if self._held else super().choose_trial_to_run(tune_controller)

    def last_batch(self, trial_id: str) -> Batch:
        """The trial's last report as parsed by `on_trial_result`."""
        return self._batches[trial_id]

    def last_restart(self, trial_id: str) -> int | None:
        """The step from which the trial's last report restarted it (its points from that step on
        replace the ones recorded before), or None when it continued."""
        return self._restarts.get(trial_id)

    def restore_trial(self, trial_id: str, points: list[Point], facts: dict[str, Any], status: str) -> None:
        """What an earlier run of the sweep recorded of a trial, in the order trials finished:
        a completed trial joins the sweep's finished runs, a pruned one stays pruned, and an
        unfinished one is judged again from these points when it reports (from its checkpoint)."""
        if status == "pruned":
            self._pruned[trial_id] = points[-1].step if points else 0
        elif status == "completed":
            monitor = CurveMonitor.for_run(self._settings, facts)
            for point in points:
                monitor.observe(point, self._sweep)
            monitor.finish()
            if monitor.finished_run is not None:
                self._sweep = self._sweep.adding(monitor.finished_run)
            self._monitors[trial_id] = monitor
            self._restored.add(trial_id)  # Ray replays its end once more: counted already
        elif status != "errored":
            self._history[trial_id] = list(points)

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        monitor = self._monitors.get(trial.trial_id)
        if monitor is not None and trial.trial_id not in self._restored:
            monitor.finish()  # releases a staircase that was waiting for an eval point
            finished = monitor.finished_run
            if finished is not None and trial.trial_id not in self._pruned:
                self._sweep = self._sweep.adding(finished)
        self._batches.pop(trial.trial_id, None)
        self._history.pop(trial.trial_id, None)
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
