"""Held-out evidence of learning, shared by the rules that judge a noisy run without confidence.

The not-improving plateau test and the pace rule ask less of the training loss than the
confident tests do, so they ask the evaluation points (when the run logs any) to agree before
they fire. A run is learning on held-out data when:

- it logs eval accuracy: the latest is not near chance (above 1/C + `chance_margin`, when C is
  known) and at least `accuracy_gain` above the lowest so far. "The latest" is the better of the
  last two evals: one eval that dips to chance is not evidence that the run collapsed. (Not the eval loss: a run that
  collapses to the class prior has an eval label loss that falls towards ln C while it learns
  nothing.)
- it logs only an eval loss: the latest is at least `loss_gain` (relative) below the first.
"""

from __future__ import annotations

import math
from typing import Any

from sweeper.rules.point import Point
from sweeper.rules.signal import Signal


class HeldOut:
    """The eval metrics a run has logged so far: accuracy (first, lowest, latest), eval loss (first, latest).

    `accuracy` is the better of the last two eval accuracies (see the module docstring).
    """

    __slots__ = ("accuracy_first", "accuracy_lowest", "accuracy", "accuracy_last", "loss_first", "loss")

    def __init__(self) -> None:
        self.accuracy_first: float | None = None
        self.accuracy_lowest: float | None = None
        self.accuracy: float | None = None  # the latest: the better of the last two
        self.accuracy_last: float | None = None  # the very last
        self.loss_first: float | None = None
        self.loss: float | None = None  # the latest

    def observe(self, point: Point, signal: Signal) -> None:
        if point.eval_loss is None and point.eval_label_loss is None and point.eval_accuracy is None:
            return  # a training point (the common case: keep it cheap)
        accuracy = point.eval_accuracy
        if accuracy is not None and math.isfinite(accuracy):
            if self.accuracy_first is None:
                self.accuracy_first = accuracy
            if self.accuracy_lowest is None or accuracy < self.accuracy_lowest:
                self.accuracy_lowest = accuracy
            previous = self.accuracy_last
            self.accuracy = accuracy if previous is None else max(previous, accuracy)
            self.accuracy_last = accuracy
        loss = signal.eval_value(point)
        if loss is not None and math.isfinite(loss):
            if self.loss_first is None:
                self.loss_first = loss
            self.loss = loss

    @property
    def logged(self) -> bool:
        """Whether the run has logged any eval accuracy or eval loss so far."""
        return self.accuracy is not None or self.loss is not None

    def learning(self, num_classes: int | None, chance_margin: float, accuracy_gain: float, loss_gain: float) -> bool:
        """True when the eval points show the run learning (see the module docstring)."""
        accuracy, lowest = self.accuracy, self.accuracy_lowest
        if accuracy is not None and lowest is not None:
            if num_classes is not None and accuracy <= 1.0 / num_classes + chance_margin:
                return False
            return accuracy - lowest >= accuracy_gain
        first, latest = self.loss_first, self.loss
        if first is not None and latest is not None and first > 0:
            return latest <= (1.0 - loss_gain) * first
        return False

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.accuracy is not None:
            out.update(eval_accuracy=self.accuracy, eval_accuracy_first=self.accuracy_first, eval_accuracy_lowest=self.accuracy_lowest)
        if self.loss is not None:
            out.update(eval_loss_first=self.loss_first, eval_loss_latest=self.loss)
        return out

    def words(self) -> str:
        """What the eval points say, for a finding's message ("" when none were logged)."""
        if self.accuracy is not None:
            return f"eval accuracy {self.accuracy:.3f} (lowest {self.accuracy_lowest:.3f}) shows no learning on held-out data"
        if self.loss is not None:
            return f"eval loss {self.loss:.4g} (first {self.loss_first:.4g}) shows no learning on held-out data"
        return ""
