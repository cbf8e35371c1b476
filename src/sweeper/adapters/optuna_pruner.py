"""The convergence rules as an Optuna pruner, for users who run Optuna without Ray Tune.

    pruner = ConvergencePruner(PrunerSettings(num_classes=3), steps_per_epoch=250)
    study = optuna.create_study(pruner=pruner)

    def objective(trial):
        for step, loss in train(...):
            trial.report(loss, step)       # the reported value IS the training loss
            if trial.should_prune():
                raise optuna.TrialPruned()
        return eval_metric

The intermediate value reported at each step is judged as the run's training loss (lower is
better, whatever the study's direction), with the same rules and policy as the Ray scheduler.
Epochs come from `steps_per_epoch` (staircase needs them); without it there is no staircase
judgement. Richer points (label loss, eval metrics) need the Ray adapter or CurveMonitor.

Optuna calls `prune(study, trial)` with a snapshot of the trial; the pruner keeps one
CurveMonitor per trial number and feeds it only the steps it has not seen (O(1) per new step in
the usual report/should_prune loop). A trial it has no monitor for (another process, or evicted
from the cache) is rebuilt by replaying its reported values.
"""

from __future__ import annotations

from collections import OrderedDict

try:
    import optuna
except ImportError as error:  # pragma: no cover - exercised only without optuna installed
    raise ImportError("sweeper.adapters.optuna_pruner needs optuna: pip install optuna") from error

from sweeper.rules import CurveMonitor, Decision, Point, PrunerSettings


class _TrialState:
    __slots__ = ("monitor", "last_step", "count", "stop")

    def __init__(self, monitor: CurveMonitor) -> None:
        self.monitor = monitor
        self.last_step: int | None = None
        self.count = 0  # intermediate values fed so far
        self.stop = False


class ConvergencePruner(optuna.pruners.BasePruner):
    """Prune a trial whose own reported loss curve diverges, gets stuck, or memorises.

    Args:
        settings: the policy (PrunerSettings defaults when None).
        max_steps: the steps a full trial runs; sets the grace period from `grace_fraction`.
        steps_per_epoch: turns steps into epochs for the staircase rule.
        max_trials_cached: monitors kept in memory (least recently used are dropped, and
            rebuilt from the trial's values if it reports again).
    """

    def __init__(
        self,
        settings: PrunerSettings | None = None,
        *,
        max_steps: int | None = None,
        steps_per_epoch: float | None = None,
        max_trials_cached: int = 1024,
    ) -> None:
        if settings is not None and not isinstance(settings, PrunerSettings):
            raise ValueError(f"settings must be a PrunerSettings or None, got {type(settings).__name__}.")
        if not isinstance(max_trials_cached, int) or max_trials_cached < 1:
            raise ValueError(f"max_trials_cached must be an int >= 1, got {max_trials_cached!r}.")
        self._settings = settings if settings is not None else PrunerSettings()
        self._max_steps = max_steps
        self._steps_per_epoch = steps_per_epoch
        self._max_cached = max_trials_cached
        self._trials: OrderedDict[int, _TrialState] = OrderedDict()
        CurveMonitor(self._settings, max_steps=max_steps, steps_per_epoch=steps_per_epoch)  # validate now, not mid-study

    def prune(self, study: "optuna.study.Study", trial: "optuna.trial.FrozenTrial") -> bool:
        step = trial.last_step
        if step is None:
            return False  # nothing reported yet
        state = self._state(trial.number)
        if state.stop:
            return True
        values = trial.intermediate_values
        if state.last_step is not None and step <= state.last_step and len(values) == state.count:
            return False  # should_prune() called twice for one report
        if state.last_step is not None and len(values) == state.count + 1 and step > state.last_step:
            new_steps = [step]  # the usual case: exactly one new report since the last call
        else:
            new_steps = sorted(s for s in values if state.last_step is None or s > state.last_step)
        for new_step in new_steps:
            decision = self._feed(state, new_step, values[new_step])
            if decision.action == "stop":  # never with enabled=False: the monitor only judges then
                state.stop = True
                return True
        return False

    def _feed(self, state: _TrialState, step: int, value: float) -> Decision:
        state.last_step = step
        state.count += 1
        return state.monitor.observe(Point(step=int(step), loss=float(value)))

    def _state(self, number: int) -> _TrialState:
        state = self._trials.get(number)
        if state is None:
            state = _TrialState(CurveMonitor(self._settings, max_steps=self._max_steps, steps_per_epoch=self._steps_per_epoch))
            self._trials[number] = state
            while len(self._trials) > self._max_cached:
                self._trials.popitem(last=False)
        else:
            self._trials.move_to_end(number)
        return state

    def monitor(self, trial_number: int) -> CurveMonitor | None:
        """The monitor of a trial (its findings, verdict and reason), if still cached."""
        state = self._trials.get(trial_number)
        return state.monitor if state is not None else None
