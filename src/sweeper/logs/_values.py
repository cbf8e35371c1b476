"""Turning raw log values into Point fields, with one-line errors that name the file and line."""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from sweeper.errors import SweeperError
from sweeper.rules.point import Point

# Log key -> Point field. The first key found wins when a line has two aliases.
FIELD_KEYS: dict[str, tuple[str, ...]] = {
    "epoch": ("epoch",),
    "loss": ("loss",),
    "label_loss": ("label_loss",),
    "explanation_loss": ("explanation_loss",),
    "learning_rate": ("learning_rate", "lr"),
    "grad_norm": ("grad_norm",),
    "eval_loss": ("eval_loss",),
    "eval_label_loss": ("eval_label_loss",),
    "eval_accuracy": ("eval_accuracy",),
    "eval_macro_f1": ("eval_macro_f1",),
}
METRIC_FIELDS = tuple(f for f in FIELD_KEYS if f not in ("epoch", "learning_rate", "grad_norm"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def number(value: Any, name: str, where: str) -> float | None:
    """A float from a JSON/CSV value; None stays None. NaN/inf (literals or strings) are kept."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise SweeperError(f"{where}: {name} is not a number: {_short(value)}")
    if isinstance(value, (int, float)):
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise SweeperError(f"{where}: {name} is not a number: {_short(value)}")


def step_number(value: Any, name: str, where: str) -> int:
    """A step: a non-negative integer (an integral float or a numeric string is accepted)."""
    number_ = number(value, name, where)
    if number_ is None or not math.isfinite(number_) or number_ < 0 or number_ != int(number_):
        raise SweeperError(f"{where}: {name} must be a whole number >= 0, got {_short(value)}")
    return int(number_)


def fields_of(record: Mapping[str, Any], where: str) -> dict[str, float]:
    """The Point fields (besides step) present in one log record."""
    out: dict[str, float] = {}
    for field_name, keys in FIELD_KEYS.items():
        for key in keys:
            if key in record:
                value = number(record[key], key, where)
                if value is not None:
                    out[field_name] = value
                break
    return out


class StepMerger:
    """Merges records by step: a later record's values override an earlier one's (keep the last),
    values only the earlier one had are kept (a train line and an eval line at one step)."""

    def __init__(self) -> None:
        self._by_step: dict[int, dict[str, float]] = {}

    def add(self, step: int, values: Mapping[str, float]) -> None:
        self._by_step.setdefault(step, {}).update(values)

    def has(self, step: int) -> bool:
        return step in self._by_step

    def points(self) -> list[Point]:
        """Points sorted by step; steps that carry no loss and no eval metric are dropped."""
        out = []
        for step in sorted(self._by_step):
            values = self._by_step[step]
            if any(f in values for f in METRIC_FIELDS):
                out.append(Point(step=step, **values))
        return out


def steps_per_epoch_of(points: Iterable[Point]) -> float | None:
    """step / epoch at the last point with epoch > 0 (HF: epoch = step / steps_per_epoch)."""
    last = None
    for point in points:
        if point.epoch is not None and math.isfinite(point.epoch) and point.epoch > 0 and point.step > 0:
            last = point
    if last is None:
        return None
    ratio = last.step / last.epoch
    return ratio if math.isfinite(ratio) else None  # a subnormal epoch (1e-320) overflows
