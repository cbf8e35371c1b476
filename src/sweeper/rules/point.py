"""The plain-number types every rule, reader and adapter speaks, and the one definition of what a
trial reports: its points (`Point`, `POINT_FIELDS`), its facts (`FACT_FIELDS`) and the batch a
trial sends the driver (`Batch`), parsed once there and shared by the pruner and the recorder."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping, Sequence

EVAL_FIELDS = ("eval_loss", "eval_label_loss", "eval_accuracy", "eval_macro_f1")

# Facts a trial states in every report, so the driver knows them even if the trial is pruned early.
# `resumed_from`: the checkpoint step its latest attempt started from (0: from scratch);
# `node`: the Ray node its latest attempt runs on (rank 0's, for a data-parallel trial);
# `signal`: what the pruner must judge the run on when the trial knows better than the sweep's
# setting ("eval_metric" for an explanation-first trial: sweeper.rules.signal).
FACT_FIELDS = (
    "max_steps", "steps_per_epoch", "samples_truncated", "samples_dropped", "num_eval", "global_batch",
    "resumed_from", "node", "signal",
)
# Facts whose earlier values are kept when they change: a trial that lost its node and went on
# elsewhere shows both nodes ("worker-1 > head"), so placement and moves can be read afterwards.
HISTORY_FACTS = ("node",)
HISTORY_SEPARATOR = " > "

BATCH_KEY = "points"  # a report may carry a batch of points under this key, oldest first


@dataclass(frozen=True, slots=True)
class Point:
    """One logged point of one run. Absent values are None; non-finite values are kept as they came.

    A point is a training point (`loss` set), an evaluation point (some `eval_*` set), or both.
    `epoch` is fractional, as HF Trainer logs it.
    """

    step: int
    epoch: float | None = None
    loss: float | None = None
    label_loss: float | None = None
    explanation_loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    tokens_per_second: float | None = None
    eval_loss: float | None = None
    eval_label_loss: float | None = None
    eval_accuracy: float | None = None
    eval_macro_f1: float | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "Point":
        """Build a point from a result dict (Ray result, log line); unknown keys are ignored."""
        step = values.get("step")
        if step is None:
            raise ValueError(f"a point needs a 'step'; got keys {sorted(values)}")
        kwargs: dict[str, Any] = {"step": int(step)}
        for name in POINT_FIELDS[1:]:
            value = values.get(name)
            if value is not None:
                kwargs[name] = float(value)
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @property
    def is_train(self) -> bool:
        return self.loss is not None

    @property
    def is_eval(self) -> bool:
        return any(getattr(self, name) is not None for name in EVAL_FIELDS)


POINT_FIELDS = tuple(f.name for f in fields(Point))  # "step" first


@dataclass(frozen=True, slots=True)
class Batch:
    """What one report of a trial carries: its points, oldest first, and the facts it stated."""

    points: tuple[Point, ...]
    facts: dict[str, Any]

    @classmethod
    def parse(cls, report: Mapping[str, Any]) -> "Batch":
        """A report holds a batch of points under BATCH_KEY, or is itself one point. Entries without
        a step carry no point (only facts)."""
        raw = report.get(BATCH_KEY)
        entries = list(raw) if isinstance(raw, list) else [report]
        facts: dict[str, Any] = {}
        points = []
        for entry in entries:
            if entry.get("step") is not None:
                points.append(Point.from_mapping(entry))
            facts.update({name: entry[name] for name in FACT_FIELDS if entry.get(name) is not None})
        return cls(tuple(points), facts)


def restart_step(recorded: Sequence[Point], new: Sequence[Point]) -> int | None:
    """The step from which `new` (a report) restarts a run whose points so far are `recorded`, or
    None when it continues it. A run resumed from a checkpoint reports again steps it reported
    before: its first measured point is a step already recorded with a later one, or the same step
    with the same kind of point (a train point and an eval point at one step are both kept; a
    point of only a step, beside a checkpoint, repeats nothing)."""
    first = next((point for point in new if point.is_train or point.is_eval), None)
    if first is None:
        return None
    for point in recorded:
        if point.step > first.step:
            return first.step
        if point.step == first.step and ((point.is_train and first.is_train) or (point.is_eval and first.is_eval)):
            return first.step
    return None


def merge_facts(recorded: dict[str, Any], stated: Mapping[str, Any]) -> None:
    """Update a trial's recorded facts with the ones a report stated (see HISTORY_FACTS)."""
    for name, value in stated.items():
        before = recorded.get(name)
        if name in HISTORY_FACTS and before is not None:
            latest = str(before).split(HISTORY_SEPARATOR)[-1]
            value = before if latest == str(value) else f"{before}{HISTORY_SEPARATOR}{value}"
        recorded[name] = value


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule saw, where, and the numbers that made it fire.

    `verdict` is the curve's shape the finding stands for: "divergence" | "staircase" | "plateau"
    (or "warning", which never sets a run's verdict). `rule` is the rule that fired: "divergence",
    "collapse", "blow_up", "eval_rise", "staircase", "plateau", "pace", "outpaced", "precedent",
    "forecast", "warning", or "judgment" (what only a whole log shows). `kind` refines it:
    plateau -> "stuck" | "converged"; pace -> "too_slow" | "stuck"; outpaced -> "outpaced";
    precedent -> "precedent"; forecast -> "unlikely"; staircase -> "memorising" | "improving" | "unjudged";
    divergence -> "non_finite" | "rising" | "fp16_overflow"; collapse -> "collapse"; blow_up -> "blow_up";
    eval_rise -> "eval_rising"; warning -> e.g. "non_finite_grad_norm".
    """

    verdict: str
    rule: str
    step: int
    epoch: float | None
    kind: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "rule": self.rule,
            "kind": self.kind,
            "step": self.step,
            "epoch": self.epoch,
            "message": self.message,
            "evidence": dict(self.evidence),
        }
