"""The plain-number types every rule, reader and adapter speaks."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Mapping

_FLOAT_FIELDS = (
    "epoch",
    "loss",
    "label_loss",
    "explanation_loss",
    "learning_rate",
    "grad_norm",
    "eval_loss",
    "eval_label_loss",
    "eval_accuracy",
    "eval_macro_f1",
)


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
        for name in _FLOAT_FIELDS:
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
        return any(
            v is not None
            for v in (self.eval_loss, self.eval_label_loss, self.eval_accuracy, self.eval_macro_f1)
        )


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule saw, where, and the numbers that made it fire.

    `verdict` is the curve's shape the finding stands for: "divergence" | "staircase" | "plateau"
    (or "warning", which never sets a run's verdict). `rule` is the rule that fired: "divergence",
    "staircase", "plateau", "pace", "outpaced", "precedent" or "warning". `kind` refines it:
    plateau -> "stuck" | "converged"; pace -> "too_slow" | "stuck"; outpaced -> "outpaced";
    precedent -> "precedent"; staircase -> "memorising" | "improving" | "unjudged";
    divergence -> "non_finite" | "rising" | "fp16_overflow"; warning -> e.g. "non_finite_grad_norm".
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
