"""Turning raw log values into Point fields, with one-line errors that name the file and line."""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

from sweeper.errors import SweeperError
from sweeper.rules.point import POINT_FIELDS, Point

# Log key -> Point field. The first key found wins when a line has two aliases.
_ALIASES = {
    "loss": ("loss", "lm loss"),  # "lm loss": Megatron-SWIFT
    "learning_rate": ("learning_rate", "lr", "learning rate"),
    "grad_norm": ("grad_norm", "grad norm"),
}
FIELD_KEYS: dict[str, tuple[str, ...]] = {name: _ALIASES.get(name, (name,)) for name in POINT_FIELDS[1:]}
# A logged step is a point when it has one of these (a loss or an eval metric).
METRIC_FIELDS = tuple(f for f in FIELD_KEYS if f not in ("epoch", "learning_rate", "grad_norm", "tokens_per_second"))
# HF Trainer with several eval sets logs eval_<name>_loss / eval_<name>_accuracy per set (one log
# entry per set at one step): without a plain eval_loss (eval_accuracy), the mean over the sets at a
# step is the run's eval value (all sets weigh the same). Carried as NAMED_PREFIX keys until merged.
_NAMED_EVAL = {"eval_loss": re.compile(r"eval_(.+)_loss"), "eval_accuracy": re.compile(r"eval_(.+)_accuracy")}
_OWN_EVAL_KEYS = {key for keys in FIELD_KEYS.values() for key in keys}
NAMED_PREFIX = "named:"


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
    for field_name, pattern in _NAMED_EVAL.items():
        for key, raw in record.items():
            if isinstance(key, str) and key not in _OWN_EVAL_KEYS and pattern.fullmatch(key):
                value = number(raw, key, where)
                if value is not None:
                    out[f"{NAMED_PREFIX}{field_name}:{key}"] = value
    return out


def _with_named_means(values: Mapping[str, float]) -> dict[str, float]:
    """Point fields: each named-eval mean fills its field when the log has no plain value for it."""
    out = {k: v for k, v in values.items() if not k.startswith(NAMED_PREFIX)}
    for field_name in _NAMED_EVAL:
        named = [v for k, v in values.items() if k.startswith(f"{NAMED_PREFIX}{field_name}:")]
        if named and field_name not in out:
            out[field_name] = sum(named) / len(named)
    return out


class StepMerger:
    """Merges records by step: a later record's values override an earlier one's (keep the last),
    values only the earlier one had are kept (a train line and an eval line at one step).

    Records arrive in file order, and a step lower than the one before is never mixed in silently:
    - back to (or before) the log's first step: a second run was appended to the file; only the
      last run is judged;
    - back to a later step, once or twice: the run resumed from a checkpoint there; the earlier
      points from that step on (which the resumed run redid) are dropped;
    - back again and again: two writers interleaved their lines in one log (two processes); the
      last value of each step is kept.
    `notes()` says which, with the line.
    """

    _MAX_RESUMES = 2

    def __init__(self) -> None:
        self._records: list[tuple[int, dict[str, float], str]] = []
        self._extra: dict[int, dict[str, float]] = {}
        self._steps: set[int] = set()

    def add(self, step: int, values: Mapping[str, float], where: str = "") -> None:
        self._records.append((step, dict(values), where))
        self._steps.add(step)

    def fill(self, step: int, values: Mapping[str, float]) -> None:
        """Add a step the lines lack (from an embedded copy of the history): not a restart."""
        self._extra.setdefault(step, {}).update(values)

    def has(self, step: int) -> bool:
        return step in self._steps

    def _merge(self) -> tuple[dict[int, dict[str, float]], list[str]]:
        restarts = []
        last = None
        for index, (step, values, _) in enumerate(self._records):
            if last is not None and step < last and any(f in values for f in METRIC_FIELDS):
                restarts.append(index)
            if any(f in values for f in METRIC_FIELDS):
                last = step
        notes: list[str] = []
        by_step: dict[int, dict[str, float]] = {}
        if len(restarts) > self._MAX_RESUMES:
            notes.append(
                f"steps go back {len(restarts)} times (first at {_line(self._records[restarts[0]][2])}): "
                "two writers interleaved in one log; the last value of each step is kept"
            )
            restarts = []
        first = None
        for index, (step, values, where) in enumerate(self._records):
            if index in restarts:
                before = max(by_step) if by_step else step
                if first is not None and step <= first:
                    notes.append(f"a new run starts at {_line(where)} (step {step} after step {before}): judging the last run only, {len(by_step)} earlier steps left out")
                    by_step.clear()
                    first = None
                else:
                    redone = [s for s in by_step if s >= step]
                    for s in redone:
                        del by_step[s]
                    notes.append(f"resumed at {_line(where)} (step {step} after step {before}): {len(redone)} earlier steps from {step} on replaced by the resumed run")
            if first is None and any(f in values for f in METRIC_FIELDS):
                first = step
            by_step.setdefault(step, {}).update(values)
        for step, values in self._extra.items():
            if step not in by_step:
                by_step[step] = dict(values)
        return by_step, notes

    def notes(self) -> list[str]:
        return self._merge()[1]

    def points(self) -> list[Point]:
        """Points sorted by step; steps that carry no loss and no eval metric are dropped."""
        by_step = self._merge()[0]
        out = []
        for step in sorted(by_step):
            values = _with_named_means(by_step[step])
            if any(f in values for f in METRIC_FIELDS):
                out.append(Point(step=step, **values))
        return out


def _line(where: str) -> str:
    return where.rsplit(": ", 1)[-1] if where else "a record"


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
