"""Which value of a point the rules judge: the label loss when the run logs one, else the loss;
or, for a run whose label comes after its explanation, only its eval metrics.

A w-explain run's mean token loss is dominated by explanation tokens; its label loss is on the
same scale as a wo-explain run's loss. Judging `label_loss` when present holds both to one
standard.

An explanation-first run (`explanation_position: before`) is trained and scored with the gold
explanation right before its label (teacher forcing), so its label loss is near zero whatever it
learned, and its eval loss and eval label loss likewise. What it learned shows only in the eval
metrics read from generated text (eval accuracy and macro-F1). Its judged signal is
`eval_metric`: the rules over the training curve (divergence, plateau, pace, staircase) see no
value and stay silent, and the run is judged by the rules over the eval metric (outpaced,
precedent, forecast). Such a trial states `signal: eval_metric` among its facts
(sweeper.rules.point.FACT_FIELDS), and `run_settings` in sweeper.rules.monitor applies it.
"""

from __future__ import annotations

import math

from sweeper.rules._check import choice
from sweeper.rules.point import Point

SIGNAL_CHOICES = ("auto", "label_loss", "loss", "eval_metric")
EVAL_METRIC = "eval_metric"  # judge only the eval metrics read from generated text


class Signal:
    """Picks the monitored value of each point.

    "auto" locks onto `label_loss` or `loss` at the first training point that has either, so a
    run is never judged on a mix of two scales. A point without the locked field has no value.
    "eval_metric": no point has a value (nor an eval value): only the rules over the eval
    metrics judge the run.
    """

    __slots__ = ("choice", "field")

    def __init__(self, signal: str = "auto") -> None:
        self.choice = choice("signal", signal, SIGNAL_CHOICES)
        self.field: str | None = None if signal == "auto" else signal

    def value(self, point: Point) -> float | None:
        field = self.field
        if field == EVAL_METRIC:
            return None
        if field is None:
            if point.label_loss is not None:
                field = self.field = "label_loss"
            elif point.loss is not None:
                field = self.field = "loss"
            else:
                return None
        return point.label_loss if field == "label_loss" else point.loss

    def finite_value(self, point: Point) -> float | None:
        """The judged value when it is a finite number; None on an eval-only point and on a broken
        (non-finite) value, which only the divergence rule judges."""
        value = self.value(point)
        return value if value is not None and math.isfinite(value) else None

    def eval_value(self, point: Point) -> float | None:
        """The eval counterpart: `eval_label_loss` when judging label loss and it is logged, else `eval_loss`."""
        if self.field == EVAL_METRIC:
            return None  # teacher-forced too: says nothing of a label read from generated text
        if self.field == "label_loss" and point.eval_label_loss is not None:
            return point.eval_label_loss
        return point.eval_loss

    @property
    def name(self) -> str:
        """Human name of the judged value, for messages."""
        if self.field == EVAL_METRIC:
            return "eval metric"
        return "label loss" if self.field == "label_loss" else "loss"

    def eval_name(self, point: Point) -> str:
        """Human name of what `eval_value(point)` returned."""
        if self.field == EVAL_METRIC:
            return "eval metric"
        return "eval label loss" if self.field == "label_loss" and point.eval_label_loss is not None else "eval loss"
