"""What the cross-trial rules know of the rest of the sweep: its finished runs.

The sweep's scheduler (sweeper.adapters.ray_scheduler) builds it from the trials that ran to their
end without being stopped and passes it with every point; without it (`NO_SWEEP`, as when a single
log is diagnosed) the outpaced and precedent rules never fire.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FinishedRun:
    """A run that ran to its end: its final eval metric (macro-F1, else accuracy) and its evals of
    that metric as (fraction of its max_steps, value), oldest first."""

    final: float
    curve: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Sweep:
    """The sweep's finished runs, in the order they finished; `best` is the first with the highest final metric."""

    finished: tuple[FinishedRun, ...] = ()
    best: FinishedRun | None = None

    def adding(self, run: FinishedRun) -> "Sweep":
        """This sweep with one more finished run."""
        best = run if self.best is None or run.final > self.best.final else self.best
        return Sweep(self.finished + (run,), best)


NO_SWEEP = Sweep()
