"""Forecast: the chance that the run ends near the sweep's best is small.

A probabilistic forecast of the run's final eval metric (macro-F1, else accuracy) from its partial
curve, calibrated on the sweep itself: the runs of the same sweep that ran to their end show how
much a run of this task still gains from each fraction of its schedule to its end (Domhan et al.
2015 fit saturating curves for this; the sweep's own finished runs are a better prior for its
runs than any parametric family, and cost nothing to evaluate).

At an eval point at fraction p = step / max_steps of the run (from `after` on, with at least
`min_evals` evals, the last step excluded), with the run out of chance (its level above
1/C + `chance_margin` and at least `min_gain` above its lowest eval; a run still at chance is a
possible late bloomer and is left to the precedent and stuck rules):
- the level L: the median of its last 3 evals;
- the comparable finished runs j: those also out of chance at p (their level there, `curve_level`,
  above the same line); each gained g_j = final_j - level_j(p) from there to its end;
- the forecast of the run's final metric is the mixture, over j, of normals centred on L + g_j
  with the eval noise as spread: sigma^2 = sd(L)^2 + s^2, where s is the binomial noise of an
  accuracy at L on n eval rows, sqrt(L (1 - L) / n) (`eval_rows`; without it, the run's own
  eval-to-eval noise from successive differences), at least `min_noise`, and sd(L) that of a
  median of 3 such evals;
- the chance of ending within `tolerance` of the best finished run B is the mixture's mass above
  B - tolerance. It fires when that chance is below `max_chance`, with at least `min_runs`
  comparable finished runs.

Why this is safe for the sweep's best: the gains are the sweep's own, so a run that is behind at
p by no more than runs that went on to the top were behind is kept; and a run still at chance is
never judged (a late bloomer looks like that until it blooms).
"""

from __future__ import annotations

import math

from sweeper.rules import _check
from sweeper.rules._stats import median, median_sd, sigma_from_diffs
from sweeper.rules.outpaced import curve_level, judged_value
from sweeper.rules.point import Finding, Point
from sweeper.rules.sweep import NO_SWEEP, Sweep

_RECENT = 3


def _normal_above(x: float) -> float:
    """P(Z > x) for a standard normal Z."""
    return 0.5 * math.erfc(x / math.sqrt(2.0))


class ForecastRule:
    """Fire when the run's chance of ending within `tolerance` of the sweep's best finished run is
    below `max_chance` (see the module docstring); kind "unlikely". Never fires without finished runs."""

    name = "forecast"
    verdict = "plateau"  # a run that will not get anywhere worth its compute

    def __init__(self, max_steps: float, num_classes: int | None = None, eval_rows: int | None = None,
                 after: float = 0.2, tolerance: float = 0.01, max_chance: float = 0.05, min_runs: int = 1,
                 min_noise: float = 0.01, chance_margin: float = 0.1, min_gain: float = 0.1, min_evals: int = 3,
                 bandwidth: float = 0.05, margin: float = 2.0) -> None:
        self._max_steps = _check.positive("max_steps", max_steps)
        self._num_classes = _check.integer("num_classes", num_classes, 2, optional=True)
        self._eval_rows = _check.integer("eval_rows", eval_rows, 1, optional=True)
        self._from_step = _check.fraction("after", after) * max_steps
        self._tolerance = _check.fraction("tolerance", tolerance)
        self._max_chance = _check.fraction("max_chance", max_chance)
        self._min_runs = _check.integer("min_runs", min_runs, 1)
        self._min_noise = _check.fraction("min_noise", min_noise)
        self._chance_margin = _check.fraction("chance_margin", chance_margin)
        self._min_gain = _check.fraction("min_gain", min_gain)
        self._min_evals = _check.integer("min_evals", min_evals, 3)
        self._bandwidth = _check.positive("bandwidth", bandwidth)
        self._margin = _check.number("margin", margin, 1)
        self._chance = 1.0 / num_classes + chance_margin if num_classes else None
        self._values: list[float] = []
        self._steps: list[int] = []
        self._lowest = math.inf
        self._metric: str | None = None
        self.active: Finding | None = None

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        self._metric, value = judged_value(point, self._metric)
        if value is None:
            return None
        self._values = (self._values + [value])[-16:]  # the noise needs a few, the level 3, the pace half
        self._steps = (self._steps + [point.step])[-16:]
        self._lowest = min(self._lowest, value)
        best = sweep.best
        if self.active is not None or best is None:
            return None
        if point.step < self._from_step or point.step >= self._max_steps or len(self._values) < self._min_evals:
            return None
        level = median(self._values[-_RECENT:])
        fraction = point.step / self._max_steps
        gains, weights = [], []
        for run in sweep.finished:
            there = curve_level(run.curve, fraction)
            if there is not None:
                gains.append(run.final - there)
                if not self._out_of_chance(level):  # at chance: every run that was at chance there is alike
                    weights.append(0.0 if self._out_of_chance(there) else 1.0)
                else:
                    weights.append(math.exp(-0.5 * ((there - level) / self._bandwidth) ** 2))
        if sum(weights) < self._min_runs:
            return None  # too few finished runs were where this one is now
        noise = self._noise(level)
        sigma = math.hypot(median_sd(noise, _RECENT), noise)
        target = best.final - self._tolerance
        own = self._own_gain(point.step)  # a run rising faster than the finished ones did keeps its pace
        chance = sum(w * _normal_above((target - level - max(g, own)) / sigma) for g, w in zip(gains, weights)) / sum(weights)
        if chance >= self._max_chance:
            return None
        self.active = self._finding(point, fraction, level, gains, sigma, chance, best.final)
        return self.active

    def _own_gain(self, step: int) -> float:
        """`margin` x the run's own pace (least squares over its latter half of evals, at least 3) times the steps left."""
        half = max(3, (len(self._values) + 1) // 2)
        xs, ys = self._steps[-half:], self._values[-half:]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        if sxx <= 0:
            return 0.0
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
        return self._margin * max(0.0, slope) * max(0.0, self._max_steps - step)

    def _out_of_chance(self, level: float) -> bool:
        return self._chance is None or level > self._chance

    def _noise(self, level: float) -> float:
        """The eval-to-eval noise of one eval of the metric at `level` (see the module docstring)."""
        if self._eval_rows:
            p = min(max(level, 0.0), 1.0)
            return max(self._min_noise, math.sqrt(p * (1.0 - p) / self._eval_rows))
        values = self._values
        return max(self._min_noise, sigma_from_diffs(values[i] - values[i - 1] for i in range(1, len(values))))

    def _finding(self, point: Point, fraction: float, level: float, gains: list[float], sigma: float,
                 chance: float, best: float) -> Finding:
        metric = self._metric or "eval metric"
        top = max(gains)
        message = (
            f"unlikely to reach the best: {metric} {level:.3g} (median of the last {min(_RECENT, len(self._values))} evals) "
            f"at {fraction:.0%} of its steps; the {len(gains)} finished trials of this sweep gained "
            f"{median(gains):+.3g} (median, at most {top:+.3g}) from there to their end, so with eval noise "
            f"+-{sigma:.3g} it ends within {self._tolerance:g} of the best finished trial's {best:.3g} with chance "
            f"{chance:.1%} (< {self._max_chance:.0%})"
        )
        evidence = {
            "signal": "eval_macro_f1" if metric == "eval macro-F1" else "eval_accuracy",
            "test": "forecast",
            "level": level,
            "fraction": fraction,
            "runs": len(gains),
            "gain_median": median(gains),
            "gain_max": top,
            "sigma": sigma,
            "chance": chance,
            "best": best,
            "tolerance": self._tolerance,
        }
        return Finding(self.verdict, self.name, point.step, point.epoch, "unlikely", message, evidence)
