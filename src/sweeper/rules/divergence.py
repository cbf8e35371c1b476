"""Divergence: the run is broken. A non-finite loss, the fp16-overflow collapse, or a sustained
rise well above the run's own best. Plus the one warning that looks like divergence but is not:
a non-finite `grad_norm` while the loss stays finite (an fp16 step the scaler skipped).
"""

from __future__ import annotations

import math
from collections import deque

from sweeper.rules import _check
from sweeper.rules._stats import median, sigma_from_diffs
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal
from sweeper.rules.sweep import NO_SWEEP, Sweep


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


class DivergenceRule:
    """Fire once, at the first point where the run is broken.

    - kind "non_finite": the judged loss (or the raw `loss`) is NaN or +-inf. Fires on that point.
    - kind "fp16_overflow": the loss is exactly 0.0 while `grad_norm` is non-finite. Fires on that point.
    - kind "rising": the median of the last `window` values stays above the run's best level
      (the lowest median of 2 x `window` + 1 consecutive values) by more than `rise_ratio` of it
      (and by more than `noise_mult` x the point noise) for `patience` consecutive points. One
      spike moves a median of 5 by nothing. The rise must also exceed `floor_ratio` of the run's
      start level (the median of its first `window` values): near-zero losses (a full fine-tune
      bouncing between 1e-4 and 0.03) rise "300x above the best" by nothing on the run's own scale.
      With `max_steps`, the rise must also have lasted `spike_share` of the run's steps: a
      transient spike (lr too high without warm-up, then recovered) is not a reason to kill a run.
    """

    name = verdict = "divergence"

    def __init__(
        self,
        rise_ratio: float = 0.5,
        patience: int = 5,
        window: int = 5,
        noise_mult: float = 3.0,
        signal: str = "auto",
        floor_ratio: float = 0.05,
        spike_share: float = 0.05,
        max_steps: int | None = None,
    ) -> None:
        self._rise_ratio = _check.positive("rise_ratio", rise_ratio)
        self._patience = _check.integer("patience", patience, 1)
        self._window = _check.integer("window", window, 1)
        self._noise_mult = _check.number("noise_mult", noise_mult, 0)
        self._floor_ratio = _check.number("floor_ratio", floor_ratio, 0)
        self._min_span = _check.number("spike_share", spike_share, 0) * max_steps if max_steps else 0.0
        self._start: float | None = None
        self._above_since = 0
        self._signal = Signal(signal)
        self._recent: deque[float] = deque(maxlen=window)
        # The best level is the minimum of a longer median (2 x window + 1 points): the minimum of
        # thousands of short noisy medians sits far below the run's real best level.
        self._long: deque[float] = deque(maxlen=2 * window + 1)
        self._noise: deque[float] = deque(maxlen=32)
        self._best: float | None = None
        self._best_step = 0
        self._above = 0
        self._fired = False

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        if self._fired:
            return None  # one divergence is enough: the run is broken from here on
        value = self._signal.value(point)
        if value is None:
            return None  # an eval-only point: divergence is judged on the training loss
        loss = point.loss
        name = self._signal.name
        # NaN compares false with everything, so test finiteness first and explicitly.
        if not math.isfinite(value) or (loss is not None and not math.isfinite(loss)):
            bad = value if not math.isfinite(value) else loss
            what = name if not math.isfinite(value) else "loss"
            last = self._recent[-1] if self._recent else None
            return self._fire(
                point,
                "non_finite",
                f"{what} became {bad} at step {point.step}; the last finite value was {_fmt(last)}",
                {"value": bad, "last_finite": last},
            )
        grad = point.grad_norm
        if value == 0.0 and grad is not None and not math.isfinite(grad):
            # fp16 overflow: the scaler produced inf/NaN gradients and the logged loss collapsed
            # to exactly 0. A finite loss with a NaN grad_norm is only a skipped step (a warning).
            return self._fire(
                point,
                "fp16_overflow",
                f"{name} collapsed to exactly 0 while grad_norm was {grad} at step {point.step}: "
                "the classic fp16 overflow",
                {"value": value, "grad_norm": grad},
            )
        return self._rising(point, value)

    def _rising(self, point: Point, value: float) -> Finding | None:
        recent = self._recent
        if recent:
            self._noise.append(value - recent[-1])
        recent.append(value)
        self._long.append(value)
        if len(recent) < self._window:
            return None  # too early: no robust level yet
        level = median(recent) if self._window > 1 else value
        if self._start is None:
            self._start = level
        settled = median(self._long)
        best = self._best
        if best is None or settled < best:
            self._best, self._best_step = settled, point.step
            best = settled
        threshold = max(self._rise_ratio * abs(best), self._floor_ratio * abs(self._start))
        if level - best <= threshold:
            self._above = 0
            return None
        # Only now pay for the noise estimate: a rise must also clear the point-to-point jitter.
        sigma = sigma_from_diffs(self._noise) if len(self._noise) >= 2 else 0.0
        if level - best <= self._noise_mult * sigma:
            self._above = 0
            return None
        self._above += 1
        if self._above == 1:
            self._above_since = point.step
        if self._above < self._patience or point.step - self._above_since < self._min_span:
            return None
        rise = (level - best) / abs(best) if best else math.inf
        return self._fire(
            point,
            "rising",
            f"{self._signal.name} rose to {_fmt(level)} (median of the last {self._window} points), "
            f"{rise:.0%} above its best {_fmt(best)} (step {self._best_step}), and stayed there "
            f"for {self._above} points",
            {
                "level": level,
                "best": best,
                "best_step": self._best_step,
                "rise": rise,
                "points_above": self._above,
                "noise_sigma": sigma,
            },
        )

    def _fire(self, point: Point, kind: str, message: str, evidence: dict) -> Finding:
        self._fired = True
        evidence = {"signal": self._signal.field or "loss", **evidence}
        return Finding(self.verdict, self.name, point.step, point.epoch, kind, message, evidence)


class GradNormWarningRule:
    """Warn (rule "warning", kind "non_finite_grad_norm") the first time `grad_norm` is NaN/inf
    while the loss is finite and non-zero: an fp16 step the loss scaler skipped. It does not
    change the verdict. `count` keeps counting after the warning, for the final summary.
    """

    name = verdict = "warning"

    def __init__(self) -> None:
        self.count = 0
        self.finding: Finding | None = None

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        grad = point.grad_norm
        if grad is None or math.isfinite(grad):
            return None
        loss = point.loss if point.loss is not None else point.label_loss
        if loss is None or not math.isfinite(loss) or loss == 0.0:
            return None  # a broken loss is divergence, judged by DivergenceRule
        self.count += 1
        if self.finding is not None:
            return None
        self.finding = Finding(
            self.verdict,
            self.name,
            point.step,
            point.epoch,
            "non_finite_grad_norm",
            f"grad_norm was {grad} at step {point.step} while the loss stayed finite ({_fmt(loss)}): "
            "an fp16 step the loss scaler skipped, not divergence",
            {"grad_norm": grad, "loss": loss, "count": 1},
        )
        return self.finding

    def summary(self) -> Finding | None:
        """The warning with the final count, for a whole log (None if it never fired)."""
        if self.finding is None or self.count == 1:
            return self.finding
        first = self.finding
        return Finding(
            first.verdict,
            first.rule,
            first.step,
            first.epoch,
            first.kind,
            f"grad_norm was non-finite on {self.count} steps (first at step {first.step}) while the loss "
            "stayed finite: fp16 steps the loss scaler skipped, not divergence",
            {**first.evidence, "count": self.count},
        )
