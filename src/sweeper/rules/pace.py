"""Pace: judged against the steps it has left, the run cannot get anywhere. Too slow: it is
learning, but even an optimistic projection of its pace ends above the stuck line at `max_steps`
(plateau kind "too_slow": the run will not converge in its budget). Going nowhere, and the same
projection fails: stuck (plateau kind "stuck"), found here on runs too short for the plateau
rule's 60 points.

Learning rates too low for the budget give curves that fall steadily but far too slowly: a
3-class label loss going 11 -> 9 in an epoch that has to reach ~0.5 by its last step. No plateau
rule sees them (they are improving, significantly), yet they only burn compute.

How it is judged (needs `max_steps`; nothing before `after` x max_steps, nor on the last step):

- The trend is the three-group resistant line (sweeper.rules._blocks) over two spans: every point
  since warm-up, and the trailing `recent_fraction` of them (at least `min_points` points).
- Each span's projection to `max_steps` is deliberately optimistic:
      level_lo = (median of its last third) - z * se
      pace_lo  = min(0, slope - z * se_slope)              (the fastest plausible fall per step)
      projection = level_lo + pace_lo * (steps from the last third's centre to now
                                         + `margin` x steps left)
  i.e. the run keeps falling at `margin` times its fastest plausible pace until its last step.
- It fires when both projections stay above the stuck line: `stuck_fraction` x ln C with
  `num_classes`, else `stuck_ratio` x the run's start (the highest of its first `initial_points`
  values). That relative line is a guess (an LM loss over free text converges far above zero,
  often at 60-80% of its start), so without `num_classes` the rule judges only a run that logs
  eval points, and only while they show no learning.
- The kind says where the run is headed. With `num_classes`: "too_slow" while it is still above
  2 x ln C (worse than a uniform guess over the labels: still learning to put its mass on them),
  "stuck" when it is below that and its eval accuracy is near chance (collapsed to the class prior:
  such a run's label loss creeps towards ln C from above while it learns nothing). Otherwise
  "too_slow" when the span since warm-up fell significantly (its slope's z-score >= z), else "stuck".

Why this is conservative:
- Convex decays (every exponential or power-law decay, and every curve whose pace slows as a
  cosine or linear schedule anneals the learning rate) lie above each of their secant lines
  extended forward, so a straight-line projection can only undershoot where they end. The span
  from the start of the run is the most optimistic secant of a convex curve.
- A curve that is accelerating (a late bloomer, a slow start under a warm-up) is where a straight
  line overshoots; the trailing span sees the faster recent pace, the `margin` covers a pace that
  keeps growing, and warm-up points (learning rate still rising) are never judged.
- Noise only makes the projection more optimistic (the z * se terms), so a short or noisy run is
  not judged until its shortfall is larger than its noise.
- Held-out evidence overrides: while the eval points show learning (sweeper.rules._heldout: eval
  accuracy above chance + `chance_margin` and `accuracy_gain` above its lowest; without accuracy,
  an eval loss `eval_loss_gain` below its first), it never fires.

Fires once; `active` holds the finding while the latest check still finds the same.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from sweeper.rules import _check
from sweeper.rules._blocks import Thirds, thirds
from sweeper.rules._stats import noise_sigma
from sweeper.rules._trail import Trail
from sweeper.rules.point import Finding, Point
from sweeper.rules.sweep import NO_SWEEP, Sweep


class Projection(NamedTuple):
    line: Thirds
    level: float  # the fitted level now (last third's median moved along the slope)
    level_lo: float
    slope: float
    pace_lo: float  # the fastest plausible change per step (<= 0)
    value: float  # the optimistic level at max_steps


class PaceRule:
    """Fire when the run cannot reach the stuck line by `max_steps`; kind "too_slow" or "stuck"
    (see the module docstring)."""

    name = "pace"
    verdict = "plateau"  # a run that will not converge in its budget

    def __init__(
        self,
        max_steps: int,
        margin: float = 2.0,
        after: float = 0.3,
        z: float = 2.0,
        min_points: int = 12,
        recent_fraction: float = 0.5,
        stuck_ratio: float = 0.6,
        stuck_fraction: float = 0.5,
        chance_margin: float = 0.05,
        accuracy_gain: float = 0.1,
        eval_loss_gain: float = 0.02,
        num_classes: int | None = None,
        initial_points: int = 5,
        max_blocks: int = 64,
        signal: str = "auto",
    ) -> None:
        self._max_steps = _check.positive("max_steps", max_steps)
        self._margin = _check.number("margin", margin, 1)
        self._from_step = _check.fraction("after", after) * self._max_steps
        self._z = _check.number("z", z, 0)
        self._min_points = _check.integer("min_points", min_points, 6)
        self._recent_fraction = _check.fraction("recent_fraction", recent_fraction, low_open=True, high_open=False)
        self._stuck_ratio = _check.fraction("stuck_ratio", stuck_ratio, low_open=True)
        self._stuck_fraction = _check.fraction("stuck_fraction", stuck_fraction, low_open=True)
        self._chance_margin = _check.fraction("chance_margin", chance_margin)
        self._accuracy_gain = _check.fraction("accuracy_gain", accuracy_gain, low_open=True)
        self._eval_loss_gain = _check.fraction("eval_loss_gain", eval_loss_gain, low_open=True)
        self._num_classes = _check.integer("num_classes", num_classes, 2, optional=True)
        _check.integer("initial_points", initial_points, 1)
        _check.integer("max_blocks", max_blocks, 8)
        self._trail = Trail(signal, initial_points, max_blocks)
        self._last_check = 0
        self._fired: Finding | None = None
        self.active: Finding | None = None

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        if not self._trail.add(point):
            return None
        step = point.step
        if step < self._from_step or step >= self._max_steps:
            return None  # too early to judge the pace, or nothing left to save
        n = self._trail.n
        if n - self._trail.warmup_end < self._min_points or n - self._last_check < max(1, n // 64):
            return None  # too few points since warm-up, or judged a moment ago
        self._last_check = n
        return self._check(point)

    def _check(self, point: Point) -> Finding | None:
        if self._num_classes is None and not self._trail.held_out.logged:
            return None  # a stuck line relative to the start is a guess: wait for eval points to agree
        since = self._trail.n - self._trail.warmup_end
        sigma = noise_sigma(self._trail.recent)
        whole = self._project(since, point.step, sigma)
        recent = self._project(max(self._min_points, math.ceil(self._recent_fraction * since)), point.step, sigma)
        if whole is None or recent is None:
            return None
        best = whole if whole.value <= recent.value else recent  # the more optimistic of the two
        line, line_words = self._stuck_line()
        held_out = self._trail.held_out
        if best.value <= line or held_out.learning(self._num_classes, self._chance_margin, self._accuracy_gain, self._eval_loss_gain):
            self.active = None
            return None
        if self._fired is not None:
            self.active = self._fired  # still true: the finding holds (fires once)
            return None
        # how significant the fall since warm-up is (z-score of its slope): too slow or stuck
        fall_z = -whole.slope / whole.line.slope_se(sigma) if sigma > 0 else (math.inf if whole.slope < 0 else 0.0)
        self._fired = self.active = self._make_finding(point, best, whole, fall_z, line, line_words)
        return self.active

    def _project(self, target: int, step: int, sigma: float) -> Projection | None:
        line = thirds(self._trail.buffer.trailing(target))
        if line is None or line.end_step <= line.start_step:
            return None
        z = self._z
        slope = line.slope
        level_lo = line.end_level - z * line.level_se(sigma)
        pace_lo = min(0.0, slope - z * line.slope_se(sigma))
        ahead = (step - line.end_step) + self._margin * (self._max_steps - step)
        return Projection(line, line.end_level + slope * (step - line.end_step), level_lo, slope, pace_lo, level_lo + pace_lo * ahead)

    def _stuck_line(self) -> tuple[float, str]:
        classes = self._num_classes
        if classes is not None:
            ln_c = math.log(classes)
            return self._stuck_fraction * ln_c, f"{self._stuck_fraction:g} x ln {classes} = {self._stuck_fraction * ln_c:.3g}"
        # The highest of the first values, not their median: a short run can fall a long way within
        # its first few points, and a higher start only lowers the bar the run has to clear.
        initial = max(self._trail.initial)
        return self._stuck_ratio * initial, f"{self._stuck_ratio:.0%} of its start {initial:.3g}"

    def _kind(self, level: float, fall_z: float) -> tuple[str, str]:
        """("too_slow" | "stuck", why): where is a run that cannot reach the stuck line headed?"""
        classes = self._num_classes
        if classes is not None:
            ln_c = math.log(classes)
            if level >= 2.0 * ln_c:
                # Not even down to chance level: still learning to put its mass on the C labels.
                return "too_slow", f"still far above chance level (2 x ln {classes} = {2 * ln_c:.3g})"
            accuracy = self._trail.held_out.accuracy
            if accuracy is not None and accuracy <= 1.0 / classes + self._chance_margin:
                # At chance level and guessing: collapsed to the class prior, however slowly it still moves.
                return "stuck", f"collapsed to the class prior: eval accuracy {accuracy:.3f} is near chance (1/{classes} = {1.0 / classes:.3f})"
        if fall_z >= self._z:
            return "too_slow", f"it fell significantly since warm-up (z = {fall_z:.1f})"
        return "stuck", f"no significant fall since warm-up (z = {fall_z:.1f})"

    def _make_finding(self, point: Point, best: Projection, whole: Projection, fall_z: float, line: float, line_words: str) -> Finding:
        name = self._trail.signal.name
        fit = best.line
        max_steps = self._max_steps
        kind, why = self._kind(best.level, fall_z)
        trend = f"falling {-best.slope:.3g} per step" if best.slope < 0 else "not falling"
        how = (
            f"{'too slow' if kind == 'too_slow' else 'stuck'}: {name} is about {best.level:.3g} at step {point.step}, "
            f"{trend} (steps {fit.step_from}-{point.step}), {why}"
        )
        message = (
            f"{how}; even at {self._margin:g}x its fastest plausible pace ({-best.pace_lo:.3g} per step) it would still be "
            f"{best.value:.3g} at step {max_steps:g}, above the stuck line ({line_words})"
        )
        held_out = self._trail.held_out.words()
        if held_out and "eval accuracy" not in why:
            message += f"; {held_out}"
        evidence = {
            "signal": self._trail.signal.field or "loss",
            "test": "pace",
            "fall_z": fall_z,
            "window_points": fit.covered,
            "step_from": fit.step_from,
            "step_to": point.step,
            "level": best.level,
            "level_low": best.level_lo,
            "slope": best.slope,
            "pace_low": best.pace_lo,
            "margin": self._margin,
            "max_steps": max_steps,
            "projected": best.value,
            "stuck_line": line,
            "noise_sigma": noise_sigma(self._trail.recent),
        }
        evidence.update(self._trail.held_out.evidence())
        return Finding(self.verdict, self.name, point.step, point.epoch, kind, message, evidence)
