"""Blow-up: the loss rising at most logs since its best to several times that best (its last two
logs, so one spike is not enough), above where the run started (1 -> 30 over 10 logs at a
constant lr of 5e-3).

The divergence rule's rise is a median of 5 that must stay up for 5 more points (and 5% of the
run's steps): right for a long, noisy run, slow for a run that explodes within a few logs. The rule
here reads the raw values (`RiseTally`, the tally both policies read: the lowest value so far and,
since it, the logs, the rises and the highest). The policies differ:
- online (`BlowUpRule`, the pruner): stop while the loss is still climbing (the latest value is the
  highest since the best) once the climb is a blow-up and, with max_steps known, the loss has
  stayed `factor` x above its best for `spike_share` of the run's steps: a spike shorter than
  that, which the run comes back from, never stops it;
- offline (`sweeper.rules.judgment`, the whole log): the run ends blown up.
"""

from __future__ import annotations

import math

from sweeper.rules import _check
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal
from sweeper.rules.sweep import NO_SWEEP, Sweep


class RiseTally:
    """Finite values one at a time: the first, the lowest so far (its step), and since that lowest
    (counting it) the logs, the rises from one log to the next, the highest and the latest."""

    __slots__ = ("first", "best", "best_step", "logs", "rises", "peak", "last", "previous")

    def __init__(self) -> None:
        self.first: float | None = None
        self.best = math.inf
        self.best_step = 0
        self.logs = 0
        self.rises = 0
        self.peak = -math.inf
        self.last = math.nan
        self.previous = math.nan

    def add(self, step: int, value: float) -> None:
        if self.first is None:
            self.first = value
        if value < self.best:
            self.best, self.best_step, self.logs, self.rises, self.peak = value, step, 1, 0, value
        else:
            self.logs += 1
            self.rises += value > self.last
            self.peak = max(self.peak, value)
        self.previous, self.last = self.last, value

    def blown_up(self, factor: float, rising_share: float, min_logs: int) -> bool:
        """At least `min_logs` logs since the best (counting it), rising at >= `rising_share` of the
        steps between them, the latest two >= `factor` x the best (> 0: one spike is not a blow-up)
        and the latest >= the first value."""
        return (
            self.logs >= min_logs
            and self.best > 0
            and self.first is not None
            and self.last >= self.first
            and min(self.last, self.previous) >= factor * self.best
            and self.rises >= rising_share * (self.logs - 1)
        )

    def finding(self, rule: str, name: str, step: int, epoch: float | None) -> Finding:
        return Finding(
            "divergence", rule, step, epoch, "blow_up",
            f"the {name} rose at {self.rises} of the {self.logs - 1} logs since its best {self.best:.4g} "
            f"(step {self.best_step}) to {self.last:.4g} ({self.last / self.best:.1f}x), above where the run started ({self.first:.4g})",
            {"best": self.best, "best_step": self.best_step, "end": self.last, "rising_logs": self.rises, "logs": self.logs},
        )


class BlowUpRule:
    """Fire once (kind "blow_up") at a point where the judged loss, since its lowest value, rose at
    >= `rising_share` of at least `min_logs` - 1 logs to >= `factor` x that lowest and above the run's
    first value, and is at its highest since (still climbing). With `max_steps`, the loss must have
    stayed >= `factor` x that lowest for `spike_share` x max_steps steps: a spike shorter than that
    never fires. Non-finite values are the divergence rule's."""

    name = "blow_up"
    verdict = "divergence"

    def __init__(
        self,
        factor: float = 3.0,
        rising_share: float = 0.6,
        min_logs: int = 5,
        spike_share: float = 0.05,
        max_steps: int | None = None,
        signal: str = "auto",
    ) -> None:
        self._factor = _check.number("factor", factor, 1, low_open=True)
        self._rising_share = _check.fraction("rising_share", rising_share, low_open=True, high_open=False)
        self._min_logs = _check.integer("min_logs", min_logs, 3)
        share = _check.fraction("spike_share", spike_share)
        _check.positive("max_steps", max_steps, optional=True)
        self._min_span = share * max_steps if max_steps else 0.0
        self._signal = Signal(signal)
        self._tally = RiseTally()
        self._high_since: int | None = None  # first step of the current streak of logs >= factor x the best
        self._fired = False

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        if self._fired:
            return None
        value = self._signal.finite_value(point)
        if value is None:
            return None
        tally = self._tally
        tally.add(point.step, value)
        if value < self._factor * tally.best:
            self._high_since = None
        elif self._high_since is None:
            self._high_since = point.step
        if value < tally.peak or not tally.blown_up(self._factor, self._rising_share, self._min_logs):
            return None  # falling back (a spike the run may come back from), or not a blow-up yet
        if self._high_since is None or point.step - self._high_since < self._min_span:
            return None  # up for less than a small share of the run: a spike, until it lasts
        self._fired = True
        return tally.finding(self.name, self._signal.name, point.step, point.epoch)
