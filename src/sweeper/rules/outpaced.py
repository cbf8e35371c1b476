"""Outpaced: even an optimistic projection of the run's eval metric cannot reach the sweep's best.

It looks beyond its own run: it needs the sweep's best finished run (`Sweep.best`: the best final
eval macro-F1, or accuracy when the runs log no macro-F1, of the trials of the same sweep that ran
to their end, with its eval curve). The sweep's scheduler supplies it
(sweeper.adapters.ray_scheduler); without one, as when a single log is diagnosed, the rule never
fires.

Why the eval metric and not the label loss: the trial the sweep picks is the one with the best
final eval metric, and the training label loss does not rank trials by it (on the demo corpus the
lowest final label loss, 0.045, belongs to a trial at macro-F1 0.89; the best, 0.96, ends at 0.16:
a run that memorises its training set has the lowest training loss).

The optimistic projection, at an eval point at step s of a run of `max_steps` steps, from its
eval values so far (raw, no smoothing):
- the level: the median of the last 3 evals, plus z standard errors of that median (the
  eval-to-eval noise from successive differences, at least `min_noise`: macro-F1 on 120 eval
  examples moves 0.02-0.08 between evals);
- the pace: the least-squares slope over the latter half of the evals (at least 3), plus z
  standard errors, never below 0, times `margin`;
- projected = level + pace x (max_steps - s), capped at 1.
It fires when projected < reference, from `after` x max_steps on, with at least `min_evals` evals.

At equal progress (from the best finished run's eval curve, by fraction of its max_steps): the best finished trial shows how much a run of this task still gains from the
same point of its schedule to its end. The second projection grants the run the larger of that
gain (the reference's median level at the run's end minus its median level at the run's current
fraction, never below 0) and `margin` x its own fastest observed pace (the least-squares slope of
its latter half of evals, or of all of them, whichever is faster; no standard-error term) times
the steps it has left:
- projected_equal = level_high + max(reference gain from here, own gain), capped at 1.
It fires when projected_equal < reference as well. So a run is stopped only when it is behind the
best at the same progress by more than its noise allowance, and its own pace, doubled, would not
close the gap either: the eventual best can only be stopped by noise, or by a run whose pace
jumps later than anything it has shown since it left chance (runs at chance are never judged).

A late bloomer cannot be stopped by construction: the rule judges only runs that have left
chance (the level is above 1/C + `chance_margin` when the number of classes C is known, and at
least `min_gain` above the run's lowest eval). A run still flat at chance has no pace to project;
it is left to the run's own stuck and pace rules, which wait for it.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from sweeper.rules import _check
from sweeper.rules._stats import median_sd, median, sigma_from_diffs
from sweeper.rules.point import Finding, Point
from sweeper.rules.sweep import NO_SWEEP, Sweep

_RECENT = 3


class Outlook(NamedTuple):
    level: float  # median of the last evals
    level_high: float
    slope: float  # per step, least squares over the latter half
    pace_high: float  # optimistic pace per step (>= 0), margin included
    projected: float  # the optimistic value at max_steps
    slope_all: float = 0.0  # per step, least squares over every eval


def _slope(xs: list[int], ys: list[float]) -> tuple[float, float] | None:
    """(least-squares slope, sum of squared x deviations), None when the steps do not vary."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx <= 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx, sxx


def curve_level(curve: "tuple[tuple[float, float], ...]", fraction: float) -> float | None:
    """The median of the `_RECENT` evals of a reference curve ((fraction, value), sorted) nearest
    to `fraction` at or before it (its first evals when none is before); None when empty."""
    if not curve:
        return None
    upto = [v for f, v in curve if f <= fraction + 1e-9]
    if len(upto) < _RECENT:
        upto = [v for _, v in curve[:_RECENT]]
    return median(upto[-_RECENT:])


def judged_value(point: Point, metric: str | None) -> tuple[str | None, float | None]:
    """(metric, value) of an eval point: the metric a run is judged on is fixed by its first eval
    that has one, eval macro-F1 else eval accuracy; value None on a point without it."""
    if metric is None:
        if point.eval_macro_f1 is not None:
            metric = "eval macro-F1"
        elif point.eval_accuracy is not None:
            metric = "eval accuracy"
        else:
            return None, None
    value = point.eval_macro_f1 if metric == "eval macro-F1" else point.eval_accuracy
    return metric, value if value is not None and math.isfinite(value) else None


def optimistic_final(steps: list[int], values: list[float], max_steps: float, z: float = 2.0,
                     margin: float = 2.0, min_noise: float = 0.02) -> Outlook | None:
    """The optimistic projection of a metric (higher is better) to `max_steps`; None with < 3 values."""
    n = len(values)
    if n < 3:
        return None
    noise = max(min_noise, sigma_from_diffs(values[i] - values[i - 1] for i in range(1, n)))
    recent = values[-_RECENT:]
    level = median(recent)
    level_high = level + z * median_sd(noise, len(recent))
    half = max(3, (n + 1) // 2)
    fit = _slope(steps[-half:], values[-half:])
    whole = _slope(steps, values)
    if fit is None or whole is None:
        return None
    slope, sxx = fit
    pace_high = margin * max(0.0, slope + z * noise / math.sqrt(sxx))
    projected = min(1.0, level_high + pace_high * max(0.0, max_steps - steps[-1]))
    return Outlook(level, level_high, slope, pace_high, projected, whole[0])


class OutpacedRule:
    """Fire when the run's eval metric cannot reach the sweep's best finished run even
    optimistically (see the module docstring); kind "outpaced". Never fires without one."""

    name = "outpaced"
    verdict = "plateau"  # a run that will not get anywhere worth its compute, like a stuck or too-slow one

    def __init__(self, max_steps: float, num_classes: int | None = None, after: float = 0.25, z: float = 2.0,
                 margin: float = 2.0, min_noise: float = 0.02, chance_margin: float = 0.1, min_gain: float = 0.1,
                 min_evals: int = 4, max_evals: int = 256, equal_progress: bool = True) -> None:
        self._max_steps = _check.positive("max_steps", max_steps)
        self._num_classes = _check.integer("num_classes", num_classes, 2, optional=True)
        self._from_step = _check.fraction("after", after) * max_steps
        self._z, self._margin = float(_check.number("z", z, 0)), float(_check.number("margin", margin, 1))
        self._min_noise = float(_check.fraction("min_noise", min_noise))
        self._chance_margin = float(_check.fraction("chance_margin", chance_margin))
        self._min_gain = float(_check.fraction("min_gain", min_gain))
        self._min_evals = _check.integer("min_evals", min_evals, 3)
        self._max_evals = _check.integer("max_evals", max_evals, 8)
        self._equal_progress = _check.flag("equal_progress", equal_progress)
        self._steps: list[int] = []
        self._values: list[float] = []
        self._metric: str | None = None  # "eval macro-F1" or "eval accuracy", fixed by the first eval
        self.active: Finding | None = None

    @property
    def latest(self) -> float | None:
        """The run's last eval value of the judged metric (its final one once the run ended)."""
        return self._values[-1] if self._values else None

    @property
    def metric(self) -> str | None:
        return self._metric

    @property
    def curve(self) -> tuple[tuple[float, float], ...]:
        """The run's evals of the judged metric as (fraction of max_steps, value): what the
        sweep keeps of a finished run to compare others at equal progress."""
        return tuple((step / self._max_steps, value) for step, value in zip(self._steps, self._values))

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        self._metric, value = judged_value(point, self._metric)
        if value is None:
            return None  # not an eval point (the common case)
        self._steps.append(point.step)
        self._values.append(value)
        if len(self._values) > self._max_evals:  # keep the state bounded: drop every other old eval
            self._steps[: self._max_evals // 2] = self._steps[: self._max_evals // 2 : 2]
            self._values[: self._max_evals // 2] = self._values[: self._max_evals // 2 : 2]
        best = sweep.best
        if self.active is not None or best is None or not math.isfinite(best.final):
            return None
        reference, reference_curve = best.final, best.curve
        if point.step < self._from_step or point.step >= self._max_steps or len(self._values) < self._min_evals:
            return None  # too early, or nothing left to save
        outlook = optimistic_final(self._steps, self._values, self._max_steps, self._z, self._margin, self._min_noise)
        if outlook is None:
            return None
        equal = None
        if outlook.projected >= reference:
            equal = self._at_equal_progress(point.step, outlook, reference, reference_curve)
            if equal is None or equal[0] >= reference:
                return None
        if not self._left_chance(outlook.level):
            return None  # still at chance: a late bloomer looks like this (see the module docstring)
        self.active = self._finding(point, outlook, reference, equal)
        return self.active

    def _at_equal_progress(self, step: int, outlook: Outlook, reference: float,
                           curve: "tuple[tuple[float, float], ...]") -> tuple[float, float] | None:
        """(projected_equal, the reference's level at this fraction), or None without a curve."""
        if not self._equal_progress or not curve:
            return None
        fraction = step / self._max_steps
        there = curve_level(curve, fraction)
        end = curve_level(curve, 1.0)
        if there is None or end is None:
            return None
        left = max(0.0, self._max_steps - step)
        own = self._margin * max(0.0, outlook.slope, outlook.slope_all) * left
        return min(1.0, outlook.level_high + max(0.0, end - there, own)), there

    def _left_chance(self, level: float) -> bool:
        if self._num_classes is not None and level <= 1.0 / self._num_classes + self._chance_margin:
            return False
        return level - min(self._values) >= self._min_gain

    def _finding(self, point: Point, outlook: Outlook, reference: float, equal: tuple[float, float] | None = None) -> Finding:
        metric = self._metric or "eval metric"
        if equal is None:
            message = (
                f"outpaced: {metric} {outlook.level:.3g} (median of the last {min(_RECENT, len(self._values))} evals) "
                f"projected <= {outlook.projected:.3g} at step {self._max_steps:g} even optimistically "
                f"(level +{outlook.level_high - outlook.level:.3g}, {self._margin:g}x its fastest plausible pace "
                f"{outlook.pace_high / self._margin:.3g} per step); the best finished trial reached {reference:.3g}"
            )
        else:
            message = (
                f"outpaced: {metric} {outlook.level:.3g} (median of the last {min(_RECENT, len(self._values))} evals) "
                f"at {point.step / self._max_steps:.0%} of its steps, where the best finished trial was at {equal[1]:.3g}; "
                f"projected <= {equal[0]:.3g} at step {self._max_steps:g} even optimistically (level "
                f"+{outlook.level_high - outlook.level:.3g}, plus the best trial's own gain from there or {self._margin:g}x "
                f"this run's fastest pace, whichever is larger); the best finished trial reached {reference:.3g}"
            )
        evidence = {
            "signal": "eval_macro_f1" if metric == "eval macro-F1" else "eval_accuracy",
            "test": "outpaced",
            "level": outlook.level,
            "level_high": outlook.level_high,
            "slope": outlook.slope,
            "pace_high": outlook.pace_high,
            "projected": outlook.projected if equal is None else equal[0],
            "reference": reference,
            "equal_progress": equal is not None,
            "reference_there": equal[1] if equal is not None else None,
            "max_steps": self._max_steps,
            "evals": len(self._values),
        }
        return Finding(self.verdict, self.name, point.step, point.epoch, "outpaced", message, evidence)
