"""The convergence rules as a Ray Tune scheduler.

Ray's OptunaSearch hard-codes Optuna's NopPruner, so pruning inside Ray Tune has to be a
scheduler. This one keeps a CurveMonitor per trial, feeds it every reported point, and answers
STOP when the monitor's policy says so. All judgement lives in `sweeper.rules`.

The one cross-trial input: the best final eval metric (macro-F1, else accuracy) of the trials that
ran to their end without being pruned. Each monitor gets it as its `reference` before every point,
so a trial whose eval metric cannot reach it even optimistically is stopped ("outpaced", see
sweeper.rules.outpaced; `PrunerSettings.compare_to_best`). And the finished trials themselves
(final metric and eval curve): a trial still at chance where finished ones were at chance too, none
of them ending near the best, is stopped ("precedent", sweeper.rules.precedent).
"""

from __future__ import annotations

from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from sweeper.rules import CurveMonitor, Point, PrunerSettings
from sweeper.rules.outpaced import Reference


POINTS = "points"  # a result may carry a batch of points under this key, oldest first


def result_points(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The curve points one Ray result carries: its batch, or the result itself.

    Trials batch their points (a round trip to the driver per logging step would cost more than
    a tiny model's training step); every point still reaches the rules, in order.
    """
    batch = result.get(POINTS)
    return list(batch) if isinstance(batch, list) else [result]


class ConvergenceScheduler(FIFOScheduler):
    """Stop trials whose own raw curve diverges, is stuck, or memorises, or whose eval metric cannot
    reach the best completed trial's (see PrunerSettings)."""

    def __init__(self, settings: PrunerSettings | None = None) -> None:
        super().__init__()
        self._settings = settings or PrunerSettings()
        self._monitors: dict[str, CurveMonitor] = {}
        self._pruned: dict[str, int] = {}  # trial_id -> step at which it was stopped
        self._best: float | None = None  # best final eval metric of the completed trials
        self._finished: list[Reference] = []  # final eval metric and curve of each completed trial

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> str:
        for point in result_points(result):
            if point.get("step") is None:
                continue  # a result without a step is not a curve point
            monitor = self._monitor(trial.trial_id, point)
            monitor.reference = self._best
            monitor.precedents = self._finished
            decision = monitor.observe(Point.from_mapping(point))
            if decision.action == "stop" and self._settings.enabled:
                self._pruned[trial.trial_id] = int(point["step"])
                return TrialScheduler.STOP
        return TrialScheduler.CONTINUE

    def _monitor(self, trial_id: str, result: dict[str, Any]) -> CurveMonitor:
        monitor = self._monitors.get(trial_id)
        if monitor is None:
            monitor = CurveMonitor(
                self._settings,
                max_steps=result.get("max_steps"),
                steps_per_epoch=result.get("steps_per_epoch"),
            )
            self._monitors[trial_id] = monitor
        return monitor

    def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict[str, Any]) -> None:
        monitor = self._monitors.get(trial.trial_id)
        if monitor is not None:
            monitor.finish()  # releases a staircase that was waiting for an eval point
            final = monitor.final_metric
            if final is not None and trial.trial_id not in self._pruned:
                self._finished.append(final)  # what a run at this point of its schedule went on to do
                if self._best is None or final > self._best:
                    self._best = final  # a trial we let finish: the bar the others must be able to reach
        super().on_trial_complete(tune_controller, trial, result)

    @property
    def best_reference(self) -> float | None:
        """The best final eval metric of the trials completed so far (None before the first)."""
        return self._best

    def was_pruned(self, trial_id: str) -> bool:
        return trial_id in self._pruned

    def verdict(self, trial_id: str) -> tuple[str, str]:
        """(verdict, reason) of a trial so far; ("", "") before its first point."""
        monitor = self._monitors.get(trial_id)
        if monitor is None:
            return "", ""
        return monitor.verdict, monitor.reason

    def debug_string(self) -> str:
        return f"ConvergenceScheduler: {len(self._pruned)} pruned of {len(self._monitors)} seen"
