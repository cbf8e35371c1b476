"""Plateau: the loss has stopped improving beyond its noise over a sustained trailing span.

The window is the trailing `window_fraction` of the run so far (at least `min_points` points),
and it never includes warm-up: while `learning_rate` is still rising the loss is not expected to
fall, so the window only starts after the last point where the learning rate rose.

Within the window the fall is measured robustly: the median of its first third minus the median
of its last third, scaled to the whole window (x1.5). With the point noise sigma (median
absolute first difference of the last 64 raw points) that fall has a standard error, and the
rule fires when we are confident the fall is small:

    max(fall, 0) + z * se  <  min_improvement * start level   (well under 2% improvement)
    fall                   <  z * se                          (no significant downward trend)

A window that rose by chance is no evidence of a plateau (the fall is clamped at 0): a noisy run
needs enough points for z * se alone to be under 2% before it can be called one. Medians make a
spike worth nothing.

Then it says whether the run plateaued high ("stuck") or low ("converged"):
- with `num_classes` C, the judged loss is a C-class cross-entropy on [0, ln C]: stuck when the
  level is above `stuck_fraction` x ln C, or the last eval accuracy is within `chance_margin` of
  chance (1/C). (A 3-class label loss of 0.1-0.3 is a good fit; ln 3 = 1.10 is chance.)
- without it, relative to the run's own start: stuck when the level is still above `stuck_ratio`
  x the median of the first `initial_points` values.

State is O(max_blocks): values are kept as at most 2 x `max_blocks` blocks (count, median, first
step) whose size doubles as the run grows; two merged blocks keep the count-weighted mean of
their medians. A 10,000-point run costs the same per point as a 100-point one.
"""

from __future__ import annotations

import math
from collections import deque

from sweeper.rules._stats import median, noise_sigma
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal

# sd(median of k points) = 1.2533 sigma / sqrt(k); the fall is 1.5 x a difference of two such medians.
_SE_FACTOR = 1.5 * math.sqrt(2.0) * 1.2533141373155001


def _weighted_median(pairs: list[tuple[float, int]]) -> float:
    """Median of values given as (value, weight) pairs."""
    ordered = sorted(pairs)
    half = sum(w for _, w in ordered) / 2.0
    acc = 0
    for value, weight in ordered:
        acc += weight
        if acc >= half:
            return value
    return ordered[-1][0]


class PlateauRule:
    """Fire when the run stops improving (see the module docstring); kind "stuck" or "converged".

    Fires once per plateau: `active` holds the finding while the plateau lasts, and the rule
    re-arms only when the run is again confidently improving by more than `min_improvement`.
    Needs at least 3 x `min_points` points (after warm-up) before it judges anything.
    """

    name = "plateau"

    def __init__(
        self,
        min_improvement: float = 0.02,
        window_fraction: float = 1 / 3,
        min_points: int = 20,
        z: float = 2.0,
        stuck_ratio: float = 0.6,
        stuck_fraction: float = 0.5,
        chance_margin: float = 0.05,
        num_classes: int | None = None,
        initial_points: int = 5,
        max_blocks: int = 64,
        signal: str = "auto",
    ) -> None:
        if not (isinstance(min_improvement, (int, float)) and 0 < min_improvement < 1):
            raise ValueError(f"min_improvement must be a number in (0, 1), got {min_improvement!r}.")
        if not (isinstance(window_fraction, (int, float)) and 0 < window_fraction <= 1):
            raise ValueError(f"window_fraction must be a number in (0, 1], got {window_fraction!r}.")
        if not isinstance(min_points, int) or min_points < 6:
            raise ValueError(f"min_points must be an int >= 6, got {min_points!r}.")
        if not (isinstance(z, (int, float)) and math.isfinite(z) and z >= 0):
            raise ValueError(f"z must be a finite number >= 0, got {z!r}.")
        if not (isinstance(stuck_ratio, (int, float)) and 0 < stuck_ratio < 1):
            raise ValueError(f"stuck_ratio must be a number in (0, 1), got {stuck_ratio!r}.")
        if not (isinstance(stuck_fraction, (int, float)) and 0 < stuck_fraction < 1):
            raise ValueError(f"stuck_fraction must be a number in (0, 1), got {stuck_fraction!r}.")
        if not (isinstance(chance_margin, (int, float)) and 0 <= chance_margin < 1):
            raise ValueError(f"chance_margin must be a number in [0, 1), got {chance_margin!r}.")
        if num_classes is not None and (not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 2):
            raise ValueError(f"num_classes must be an int >= 2 or None, got {num_classes!r}.")
        if not isinstance(initial_points, int) or initial_points < 1:
            raise ValueError(f"initial_points must be an int >= 1, got {initial_points!r}.")
        if not isinstance(max_blocks, int) or max_blocks < 8:
            raise ValueError(f"max_blocks must be an int >= 8, got {max_blocks!r}.")
        self._min_improvement = float(min_improvement)
        self._window_fraction = float(window_fraction)
        self._min_points = min_points
        self._z = float(z)
        self._stuck_ratio = float(stuck_ratio)
        self._stuck_fraction = float(stuck_fraction)
        self._chance_margin = float(chance_margin)
        self._num_classes = num_classes
        self._initial_points = initial_points
        self._max_blocks = max_blocks
        self._signal = Signal(signal)
        self._n = 0
        self._initial: list[float] = []
        self._recent: deque[float] = deque(maxlen=64)
        # Closed blocks: (count, median, first step); the open block collects up to _block_size values.
        self._blocks: list[tuple[int, float, int]] = []
        self._block_size = 1
        self._open: list[float] = []
        self._open_step = 0
        self._last_check = 0
        self._lr: float | None = None
        self._warmup_end = 0  # points seen when the learning rate last rose
        self._eval_accuracy: float | None = None
        self.active: Finding | None = None

    def observe(self, point: Point) -> Finding | None:
        accuracy = point.eval_accuracy
        if accuracy is not None and math.isfinite(accuracy):
            self._eval_accuracy = accuracy
        value = self._signal.value(point)
        if value is None or not math.isfinite(value):
            return None  # eval-only point, or a broken value (divergence judges those)
        self._n += 1
        lr = point.learning_rate
        if lr is not None and math.isfinite(lr):
            if self._lr is not None and lr > self._lr:
                self._warmup_end = self._n  # still warming up: the loss need not fall yet
            self._lr = lr
        if len(self._initial) < self._initial_points:
            self._initial.append(value)
        self._recent.append(value)
        if not self._open:
            self._open_step = point.step
        self._open.append(value)
        if len(self._open) < self._block_size:
            return None
        self._blocks.append((len(self._open), median(self._open) if len(self._open) > 1 else value, self._open_step))
        self._open = []
        if len(self._blocks) >= 2 * self._max_blocks:
            blocks = self._blocks
            merged = []
            for i in range(0, len(blocks) - 1, 2):
                (n1, m1, s1), (n2, m2, _) = blocks[i], blocks[i + 1]
                merged.append((n1 + n2, (n1 * m1 + n2 * m2) / (n1 + n2), s1))
            self._blocks = merged
            self._block_size *= 2
        n = self._n
        if n < 3 * self._min_points or n - self._last_check < max(1, n // 64):
            return None  # too early to judge, or judged a moment ago
        self._last_check = n
        return self._check(point)

    def _check(self, point: Point) -> Finding | None:
        n = self._n
        target = max(self._min_points, math.ceil(self._window_fraction * n))
        if n - self._warmup_end < target:
            return None  # the window would reach into warm-up
        chosen: list[tuple[int, float, int]] = []
        covered = 0
        for block in reversed(self._blocks):
            chosen.append(block)
            covered += block[0]
            if covered >= target:
                break
        if len(chosen) < 3:
            return None
        chosen.reverse()  # oldest first
        third = covered / 3.0
        first, last, acc = [], [], 0
        for count, center, _ in chosen:
            if acc + count / 2.0 <= third:
                first.append((center, count))
            elif acc + count / 2.0 >= covered - third:
                last.append((center, count))
            acc += count
        if not first or not last:
            return None
        start_level = _weighted_median(first)
        end_level = _weighted_median(last)
        fall = 1.5 * (start_level - end_level)
        sigma = noise_sigma(self._recent)
        se = _SE_FACTOR * sigma / math.sqrt(third)
        z = self._z
        need = self._min_improvement * abs(start_level)
        plateau = max(fall, 0.0) + z * se < need and fall <= z * se
        if not plateau:
            if self.active is not None and fall - z * se > need:
                self.active = None  # confidently improving again: a later plateau is a new one
            return None
        if self.active is not None:
            return None
        kind, level_words, level_evidence = self._level(end_level)
        rel = fall / abs(start_level) if start_level else 0.0
        rel_se = se / abs(start_level) if start_level else 0.0
        step_from = chosen[0][2]
        message = (
            f"{self._signal.name} stopped improving: over the last {covered} points (steps {step_from}-{point.step}) "
            f"it fell {rel:.1%} (+-{z * rel_se:.1%}), well under the {self._min_improvement:.0%} a real trend "
            f"would need; {level_words}"
        )
        evidence = {
            "signal": self._signal.field or "loss",
            "window_points": covered,
            "step_from": step_from,
            "step_to": point.step,
            "start_level": start_level,
            "end_level": end_level,
            "improvement": rel,
            "improvement_upper": max(rel, 0.0) + z * rel_se,
            "noise_sigma": sigma,
            **level_evidence,
        }
        self.active = Finding(self.name, point.step, point.epoch, kind, message, evidence)
        return self.active

    def _level(self, level: float) -> tuple[str, str, dict]:
        """(kind, words, evidence) for a plateau at `level`: stuck (high) or converged (low)."""
        classes = self._num_classes
        if classes is not None:
            ln_c = math.log(classes)
            chance = 1.0 / classes
            accuracy = self._eval_accuracy
            evidence = {"level": level, "ln_c": ln_c, "level_of_ln_c": level / ln_c, "eval_accuracy": accuracy}
            if accuracy is not None and accuracy <= chance + self._chance_margin:
                return "stuck", f"eval accuracy {accuracy:.3f} is near chance (1/{classes} = {chance:.3f}): stuck", evidence
            if level > self._stuck_fraction * ln_c:
                return "stuck", f"level {level:.3g} is {level / ln_c:.0%} of ln {classes} = {ln_c:.3g} (chance): stuck", evidence
            return "converged", f"level {level:.3g} is {level / ln_c:.0%} of ln {classes} = {ln_c:.3g}: converged", evidence
        initial = median(self._initial)
        evidence = {"level": level, "initial_level": initial}
        if initial <= 0:
            return "converged", f"level {level:.3g}", evidence  # a non-positive loss has no relative scale
        evidence["level_of_initial"] = level / initial
        kind = "stuck" if level > self._stuck_ratio * initial else "converged"
        return kind, f"level {level:.3g} is {level / initial:.0%} of its start {initial:.3g}: {kind}", evidence
