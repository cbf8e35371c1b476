"""Rising eval: the eval loss up by half (or more) of its best and staying there while the training
loss falls: the run is memorising its training samples and getting worse on what it is measured on
(six named eval losses all rising 2-3x while the training loss falls 1.1 -> 0.055).

The rule (`EvalTally`, the tally both policies read): the lowest eval loss so far and how many of
the latest evals in a row are at least (1 + `rise`) x it. The policies differ:
- offline (`sweeper.rules.judgment`, the whole log): the last 2 evals are up;
- online (`EvalRiseRule`, the pruner) asks for more before a stop it cannot take back: `consecutive`
  evals in a row up (3), the training loss lower than when the eval was at its best (the run is
  memorising, not diverging: a rising training loss is the divergence rules'), and, on a run that
  logs an eval macro-F1 or accuracy, that metric below its best so far (a cross-entropy can rise
  while accuracy still improves: an overconfident but better classifier is not stopped).
"""

from __future__ import annotations

import math
from collections import deque

from sweeper.rules import _check
from sweeper.rules._stats import median
from sweeper.rules.outpaced import judged_value
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal
from sweeper.rules.sweep import NO_SWEEP, Sweep

_TRAIN_WINDOW = 5  # the training level is the median of the last 5 training values


class EvalTally:
    """Eval losses one at a time: how many, the lowest so far (its step) and how many of the latest
    in a row are at least (1 + rise) x that lowest."""

    __slots__ = ("rise", "count", "best", "best_step", "above", "last")

    def __init__(self, rise: float) -> None:
        self.rise = rise
        self.count = 0
        self.best = math.inf
        self.best_step = 0
        self.above = 0
        self.last = math.nan

    def add(self, step: int, value: float) -> bool:
        """Take one eval loss; True when it is the lowest so far."""
        self.count += 1
        self.last = value
        if value < self.best:
            self.best, self.best_step, self.above = value, step, 0
            return True
        self.above = self.above + 1 if value >= (1 + self.rise) * self.best else 0
        return False

    def risen(self, evals: int) -> bool:
        """The latest `evals` evals in a row at least (1 + rise) x a best > 0."""
        return self.best > 0 and self.above >= evals

    def finding(self, rule: str, name: str, step: int, epoch: float | None, extra: str = "", evidence: dict | None = None) -> Finding:
        return Finding(
            "divergence", rule, step, epoch, "eval_rising",
            f"the {name} rose from its best {self.best:.4g} (step {self.best_step}) to {self.last:.4g} "
            f"({self.last / self.best:.1f}x) and stayed up at the last {self.above} evals{extra}",
            {"best": self.best, "best_step": self.best_step, "end": self.last, "evals": self.count,
             "evals_up": self.above, **(evidence or {})},
        )


class EvalRiseRule:
    """Fire once (kind "eval_rising", then held as `active`) when the eval loss of the
    judged signal is >= (1 + `rise`) x its best at `consecutive` evals in a row, the training level
    (median of its last 5 values) is below what it was at that best eval, and the eval macro-F1 (or
    accuracy), where logged, is below its best so far."""

    name = "eval_rise"
    verdict = "divergence"

    def __init__(self, rise: float = 0.5, consecutive: int = 3, signal: str = "auto") -> None:
        self._tally = EvalTally(_check.positive("rise", rise))
        self._consecutive = _check.integer("consecutive", consecutive, 2)
        self._signal = Signal(signal)
        self._train: deque[float] = deque(maxlen=_TRAIN_WINDOW)
        self._train_at_best: float | None = None
        self._metric: str | None = None
        self._metric_best = -math.inf
        self._metric_last: float | None = None
        self.active: Finding | None = None

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        if self.active is not None:
            return None  # found once: the run got worse on what it is measured on
        value = self._signal.finite_value(point)
        if value is not None:
            self._train.append(value)
        if not point.is_eval:
            return None
        self._metric, metric = judged_value(point, self._metric)
        if metric is not None:
            self._metric_best = max(self._metric_best, metric)
            self._metric_last = metric
        loss = self._signal.eval_value(point)
        if loss is None or not math.isfinite(loss):
            return None  # an eval without a loss of the judged signal says nothing here
        tally = self._tally
        if tally.add(point.step, loss):
            self._train_at_best = median(self._train) if self._train else None
        if not tally.risen(self._consecutive):
            return None
        train_now = median(self._train) if self._train else None
        if train_now is None or self._train_at_best is None or train_now >= self._train_at_best:
            return None  # the training loss did not fall: not memorising (a rise in both is divergence)
        if self._metric_last is not None and self._metric_last >= self._metric_best:
            return None  # the eval metric is at its best: a worse cross-entropy, a better classifier
        said = f"; the training level fell {self._train_at_best:.4g} -> {train_now:.4g} meanwhile"
        evidence = {"train_at_best": self._train_at_best, "train_now": train_now}
        if self._metric_last is not None:
            said += f", {self._metric} {self._metric_last:.3g} is below its best {self._metric_best:.3g}"
            evidence.update(metric=self._metric, metric_now=self._metric_last, metric_best=self._metric_best)
        self.active = tally.finding(self.name, self._signal.eval_name(point), point.step, point.epoch,
                                    said + ": memorising", evidence)
        return self.active
