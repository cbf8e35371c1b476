"""Divergence: the run is broken. A non-finite loss, the fp16-overflow collapse, or a sustained
rise well above the run's own best. Plus the one warning that looks like divergence but is not:
a non-finite `grad_norm` while the loss stays finite (an fp16 step the scaler skipped).
"""

from __future__ import annotations

import math
from collections import deque

from sweeper.rules._stats import median
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal


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
      spike moves a median of 5 by nothing.
    """

    name = "divergence"

    def __init__(
        self,
        rise_ratio: float = 0.5,
        patience: int = 5,
        window: int = 5,
        noise_mult: float = 3.0,
        signal: str = "auto",
    ) -> None:
        if not (isinstance(rise_ratio, (int, float)) and math.isfinite(rise_ratio) and rise_ratio > 0):
            raise ValueError(f"rise_ratio must be a finite number > 0, got {rise_ratio!r}.")
        if not isinstance(patience, int) or patience < 1:
            raise ValueError(f"patience must be an int >= 1, got {patience!r}.")
        if not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be an int >= 1, got {window!r}.")
        if not (isinstance(noise_mult, (int, float)) and math.isfinite(noise_mult) and noise_mult >= 0):
            raise ValueError(f"noise_mult must be a finite number >= 0, got {noise_mult!r}.")
        self._rise_ratio = float(rise_ratio)
        self._patience = patience
        self._window = window
        self._noise_mult = float(noise_mult)
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

    def observe(self, point: Point) -> Finding | None:
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
        settled = median(self._long)
        best = self._best
        if best is None or settled < best:
            self._best, self._best_step = settled, point.step
            best = settled
        threshold = self._rise_ratio * abs(best)
        if level - best <= threshold:
            self._above = 0
            return None
        # Only now pay for the noise estimate: a rise must also clear the point-to-point jitter.
        sigma = noise_sigma_from_diffs(self._noise)
        if level - best <= self._noise_mult * sigma:
            self._above = 0
            return None
        self._above += 1
        if self._above < self._patience:
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
        return Finding(self.name, point.step, point.epoch, kind, message, evidence)


def noise_sigma_from_diffs(diffs: "deque[float]") -> float:
    if len(diffs) < 2:
        return 0.0
    return median([abs(d) for d in diffs]) / (0.6744897501960817 * math.sqrt(2.0))


class GradNormWarningRule:
    """Warn (rule "warning", kind "non_finite_grad_norm") the first time `grad_norm` is NaN/inf
    while the loss is finite and non-zero: an fp16 step the loss scaler skipped. It does not
    change the verdict. `count` keeps counting after the warning, for the final summary.
    """

    name = "warning"

    def __init__(self) -> None:
        self.count = 0
        self.first_step: int | None = None
        self.finding: Finding | None = None

    def observe(self, point: Point) -> Finding | None:
        grad = point.grad_norm
        if grad is None or math.isfinite(grad):
            return None
        loss = point.loss if point.loss is not None else point.label_loss
        if loss is None or not math.isfinite(loss) or loss == 0.0:
            return None  # a broken loss is divergence, judged by DivergenceRule
        self.count += 1
        if self.finding is not None:
            return None
        self.first_step = point.step
        self.finding = Finding(
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
            first.rule,
            first.step,
            first.epoch,
            first.kind,
            f"grad_norm was non-finite on {self.count} steps (first at step {first.step}) while the loss "
            "stayed finite: fp16 steps the loss scaler skipped, not divergence",
            {**first.evidence, "count": self.count},
        )
