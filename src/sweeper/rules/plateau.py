"""Plateau: the loss has stopped improving beyond its noise over a sustained trailing span.

The window is the trailing `window_fraction` of the run so far (at least `min_points` points),
and it never includes warm-up: while `learning_rate` is still rising the loss is not expected to
fall, so the window only starts after the last point where the learning rate rose.

Within the window the fall is measured robustly: the median of its first third minus the median
of its last third, scaled to the whole window (x1.5). With the point noise sigma (median
absolute first difference of the last 64 raw points) that fall has a standard error se. Two
tests, for the two things a plateau can mean:

- confidently flat (any level):
      max(fall, 0) + z * se  <  min_improvement * start level   (well under 2% improvement)
      fall                   <= z * se                          (no significant downward trend)
  A window that rose by chance is no evidence of a flat curve (the fall is clamped at 0): a
  noisy run needs enough points for z * se alone to be under 2% before it is called flat.
- not improving (a stuck level only), over the window and again over the latter half of the run:
      fall                   <= z * se                          (no significant downward trend)
      fall                   <  min_improvement * start level   (point estimate under 2%)
  A noisy run that hovers high never gets confidently flat (its z * se stays above 2%), but it
  is not going anywhere either: a run stuck near chance with 20% point noise is the textbook
  case. Because this test asks less of the loss, it asks the eval points to agree when the run
  logs any: it does not fire while they show learning (sweeper.rules._heldout: eval accuracy
  above chance + `chance_margin` and `accuracy_gain` above its lowest; without accuracy, an eval
  loss `min_improvement` below its first).
  A converged run is only ever called so by the confident test (it never stops by default).
  Early in a long run a trailing third is a short span in which a healthy decay falls little, so
  this test needs `max_steps` and judges only from `pace_after` x max_steps on (the trailing
  third then spans at least a tenth of the run), and only once it holds over the trailing
  `stuck_span` x max_steps steps as well (45% by default: a late bloomer sits flat near chance
  for 35-60% of its run before it blooms); without `max_steps` it is off. Without
  `num_classes` the stuck level is only relative to the run's start (an LM loss over free text
  converges far above zero, often at 60-80% of its start), so the test then also needs eval
  points (and their agreement); a run with neither is judged by the confident test alone.

Medians make a spike worth nothing.

Then it says whether the run plateaued high ("stuck") or low ("converged"):
- with `num_classes` C, the judged loss is a C-class cross-entropy on [0, ln C]: stuck when the
  level is above `stuck_fraction` x ln C, or the latest eval accuracy (the better of the last two)
  is within `chance_margin` of chance (1/C). (A 3-class label loss of 0.1-0.3 is a good fit;
  ln 3 = 1.10 is chance.)
- without it, relative to the run's own start: stuck when the level is still above `stuck_ratio`
  x the median of the first `initial_points` values.

State is O(max_blocks) (sweeper.rules._blocks): a 10,000-point run costs the same per point as a
100-point one.
"""

from __future__ import annotations

import math

from sweeper.rules import _check
from sweeper.rules._blocks import thirds
from sweeper.rules._stats import MEDIAN_SD, median, noise_sigma
from sweeper.rules._trail import Trail
from sweeper.rules.point import Finding, Point
from sweeper.rules.sweep import NO_SWEEP, Sweep

# The fall is 1.5 x a difference of two medians of a third's points each.
_SE_FACTOR = 1.5 * math.sqrt(2.0) * MEDIAN_SD


class PlateauRule:
    """Fire when the run stops improving (see the module docstring); kind "stuck" or "converged".

    Fires once per plateau: `active` holds the finding while the plateau lasts, and the rule
    re-arms only when the run is again confidently improving by more than `min_improvement`.
    Needs at least 3 x `min_points` points (after warm-up) before it judges anything.
    """

    name = verdict = "plateau"

    def __init__(
        self,
        min_improvement: float = 0.02,
        window_fraction: float = 1 / 3,
        min_points: int = 20,
        z: float = 2.0,
        stuck_ratio: float = 0.6,
        stuck_fraction: float = 0.5,
        chance_margin: float = 0.05,
        accuracy_gain: float = 0.1,
        num_classes: int | None = None,
        max_steps: int | None = None,
        pace_after: float = 0.3,
        stuck_span: float = 0.45,
        initial_points: int = 5,
        max_blocks: int = 64,
        signal: str = "auto",
    ) -> None:
        self._min_improvement = _check.fraction("min_improvement", min_improvement, low_open=True)
        self._window_fraction = _check.fraction("window_fraction", window_fraction, low_open=True, high_open=False)
        self._min_points = _check.integer("min_points", min_points, 6)
        self._z = _check.number("z", z, 0)
        self._stuck_ratio = _check.fraction("stuck_ratio", stuck_ratio, low_open=True)
        self._stuck_fraction = _check.fraction("stuck_fraction", stuck_fraction, low_open=True)
        self._chance_margin = _check.fraction("chance_margin", chance_margin)
        self._accuracy_gain = _check.fraction("accuracy_gain", accuracy_gain, low_open=True)
        self._num_classes = _check.integer("num_classes", num_classes, 2, optional=True)
        max_steps = _check.positive("max_steps", max_steps, optional=True)
        pace_after = _check.fraction("pace_after", pace_after)
        stuck_span = _check.fraction("stuck_span", stuck_span)
        _check.integer("initial_points", initial_points, 1)
        _check.integer("max_blocks", max_blocks, 8)
        # the first step of the not-improving test (None: off)
        self._pace_from = None if max_steps is None else pace_after * max_steps
        self._stuck_span = None if max_steps is None else stuck_span * max_steps  # in steps
        self._trail = Trail(signal, initial_points, max_blocks)
        self._last_check = 0
        self.active: Finding | None = None

    @property
    def _blocks(self) -> list:
        return self._trail.buffer.blocks

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        if not self._trail.add(point):
            return None
        n = self._trail.n
        if n < 3 * self._min_points or n - self._last_check < max(1, n // 64):
            return None  # too early to judge, or judged a moment ago
        self._last_check = n
        return self._check(point)

    def _check(self, point: Point) -> Finding | None:
        n = self._trail.n
        target = max(self._min_points, math.ceil(self._window_fraction * n))
        if n - self._trail.warmup_end < target:
            return None  # the window would reach into warm-up
        line = thirds(self._trail.buffer.trailing(target))
        if line is None:
            return None
        covered, third, start_level, end_level = line.covered, line.third, line.start_level, line.end_level
        fall = 1.5 * (start_level - end_level)
        sigma = noise_sigma(self._trail.recent)
        se = _SE_FACTOR * sigma / math.sqrt(third)
        z = self._z
        need = self._min_improvement * abs(start_level)
        no_trend = fall <= z * se  # no significant downward trend
        flat = no_trend and max(fall, 0.0) + z * se < need  # confidently under min_improvement
        pace_from = self._pace_from
        # not improving: no significant trend, and the point estimate is under min_improvement, over
        # the trailing window and over the latter half of the run
        stalled = not flat and no_trend and fall < need and pace_from is not None and point.step >= pace_from
        # ... and only on an absolute scale (ln C), or with eval points to agree (see the module docstring)
        stalled = stalled and (self._num_classes is not None or self._trail.held_out.logged)
        if stalled:
            stalled = self._stalled_over(min(max(target, math.ceil(n / 2)), n - self._trail.warmup_end), sigma)
        if stalled:
            stalled = self._flat_for_span(point.step, sigma)
        if not (flat or stalled):
            if self.active is not None and fall - z * se > need:
                self.active = None  # confidently improving again: a later plateau is a new one
            return None
        if self.active is not None:
            return None
        kind, level_words, level_evidence = self._level(end_level)
        if not flat:
            # Only "not improving": that is enough to call a run stuck, never converged, and only
            # while the eval points (if any) do not show it learning.
            if kind != "stuck" or self._trail.held_out.learning(self._num_classes, self._chance_margin, self._accuracy_gain, self._min_improvement):
                return None
        rel = fall / abs(start_level) if start_level else 0.0
        rel_se = se / abs(start_level) if start_level else 0.0
        step_from = line.step_from
        if flat:
            how = f"well under the {self._min_improvement:.0%} a real trend would need"
        else:
            how = f"no significant downward trend, and under the {self._min_improvement:.0%} a real trend would need"
        message = (
            f"{self._trail.signal.name} stopped improving: over the last {covered} points (steps {step_from}-{point.step}) "
            f"it fell {rel:.1%} (+-{z * rel_se:.1%}), {how}; {level_words}"
        )
        evidence = {
            "signal": self._trail.signal.field or "loss",
            "test": "flat" if flat else "not_improving",
            "window_points": covered,
            "step_from": step_from,
            "step_to": point.step,
            "start_level": start_level,
            "end_level": end_level,
            "improvement": rel,
            "improvement_upper": max(rel, 0.0) + z * rel_se,
            "improvement_lower": rel - z * rel_se,
            "noise_sigma": sigma,
            **level_evidence,
        }
        self.active = Finding(self.verdict, self.name, point.step, point.epoch, kind, message, evidence)
        return self.active

    def _flat_for_span(self, step: int, sigma: float) -> bool:
        """The not-improving test over the trailing `stuck_span` x max_steps steps (after warm-up):
        a late bloomer sits near chance for 35-60% of its run, so a flat stretch shorter than that
        is no evidence of a stuck run."""
        span = self._stuck_span
        if not span:
            return True
        cutoff = step - span
        blocks = self._blocks
        if not blocks or blocks[0].first_step > cutoff:
            return False  # the run is not that long yet
        count = 0
        for block in reversed(blocks):
            if block.last_step < cutoff:
                break
            count += block.count
        if count > self._trail.n - self._trail.warmup_end:
            return False  # the span reaches into warm-up
        return self._stalled_over(max(count, self._min_points), sigma)

    def _stalled_over(self, target: int, sigma: float) -> bool:
        """The not-improving test over the trailing `target` points (the latter half of the run)."""
        line = thirds(self._trail.buffer.trailing(target))
        if line is None:
            return False
        fall = 1.5 * (line.start_level - line.end_level)
        se = _SE_FACTOR * sigma / math.sqrt(line.third)
        return fall <= self._z * se and fall < self._min_improvement * abs(line.start_level)

    def _level(self, level: float) -> tuple[str, str, dict]:
        """(kind, words, evidence) for a plateau at `level`: stuck (high) or converged (low)."""
        classes = self._num_classes
        if classes is not None:
            ln_c = math.log(classes)
            chance = 1.0 / classes
            accuracy = self._trail.held_out.accuracy
            evidence = {"level": level, "ln_c": ln_c, "level_of_ln_c": level / ln_c, **self._trail.held_out.evidence()}
            if accuracy is not None and accuracy <= chance + self._chance_margin:
                return "stuck", f"eval accuracy {accuracy:.3f} is near chance (1/{classes} = {chance:.3f}): stuck", evidence
            if level > self._stuck_fraction * ln_c:
                return "stuck", f"level {level:.3g} is {level / ln_c:.0%} of ln {classes} = {ln_c:.3g} (chance): stuck", evidence
            return "converged", f"level {level:.3g} is {level / ln_c:.0%} of ln {classes} = {ln_c:.3g}: converged", evidence
        initial = median(self._trail.initial)
        evidence = {"level": level, "initial_level": initial}
        evidence.update(self._trail.held_out.evidence())
        if initial <= 0:
            return "converged", f"level {level:.3g}", evidence  # a non-positive loss has no relative scale
        evidence["level_of_initial"] = level / initial
        kind = "stuck" if level > self._stuck_ratio * initial else "converged"
        return kind, f"level {level:.3g} is {level / initial:.0%} of its start {initial:.3g}: {kind}", evidence
