"""Collapse: the loss is exactly the same number log after log, after a different start.

A training loss is a mean over noisy batches: logged with any precision it moves at every log. One
that repeats exactly is not training: LLaMA-Factory's fp16/bf16 overflow failure logs 0.0 at every
log for the rest of the run (without a grad_norm to show the overflow), and a run with no tokens
left to learn logs one constant.

The rule (`ConstantRun`, the tally both policies read): the value of the latest log, how many logs
in a row repeated it exactly, and the value before them. The policies differ:
- online (`CollapseRule`, the pruner): stop once `min_logs` logs in a row are exactly equal after a
  different value that was more than `min_jump` of the run's start away: a converged loss rounded
  to 4 decimals (0.0001, 0.0001, 0.0) approaches its repeats gently, a collapse jumps to them;
- offline (`sweeper.rules.judgment`, the whole log): the run's tail, reached by the same jump, if
  it is long enough: a fifth of the log, or the online policy's 10 logs if fewer (5 at least).
"""

from __future__ import annotations

from sweeper.rules import _check
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal
from sweeper.rules.sweep import NO_SWEEP, Sweep


class ConstantRun:
    """The latest value, the logs in a row that repeated it exactly, where they began and the value
    before them (None while the run so far is one constant)."""

    __slots__ = ("value", "logs", "step", "epoch", "before", "first")

    def __init__(self) -> None:
        self.value: float | None = None
        self.logs = 0
        self.step = 0
        self.epoch: float | None = None
        self.before: float | None = None
        self.first: float | None = None

    def add(self, step: int, epoch: float | None, value: float) -> None:
        if self.first is None:
            self.first = value
        if self.logs and value == self.value:  # exact equality is the point; NaN never repeats
            self.logs += 1
            return
        self.before = self.value
        self.value, self.logs, self.step, self.epoch = value, 1, step, epoch

    def jumped(self, min_jump: float) -> bool:
        """The constant was reached by a jump of more than `min_jump` x |the first value| (a collapse),
        not approached gently (a converged loss repeating at its logged precision)."""
        return self.before is not None and self.first is not None and abs(self.before - self.value) > min_jump * abs(self.first)

    def finding(self, rule: str, name: str) -> Finding:
        """The collapse as a divergence finding, located where the constant began."""
        return Finding(
            "divergence", rule, self.step, self.epoch, "collapse",
            f"the {name} is exactly {self.value:g} at all {self.logs} logs from step {self.step} on "
            f"(it was {self.before:.4g} just before): not training (an fp16/bf16 overflow, or no tokens left to learn)",
            {"value": self.value, "logs": self.logs, "before": self.before},
        )


class CollapseRule:
    """Fire once, when the judged loss has been exactly one value for `min_logs` logs in a row after
    a different value more than `min_jump` x |the run's first value| away from it (kind "collapse").
    Non-finite values are the divergence rule's (they never repeat here)."""

    name = "collapse"
    verdict = "divergence"

    def __init__(self, min_logs: int = 10, min_jump: float = 0.01, signal: str = "auto") -> None:
        self._min_logs = _check.integer("min_logs", min_logs, 2)
        self._min_jump = _check.number("min_jump", min_jump, 0)
        self._signal = Signal(signal)
        self._run = ConstantRun()
        self._fired = False

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        if self._fired:
            return None
        value = self._signal.finite_value(point)
        if value is None:
            return None
        run = self._run
        run.add(point.step, point.epoch, value)
        if run.logs < self._min_logs or not run.jumped(self._min_jump):
            return None  # not long enough, constant from the start, or approached gently (converged)
        self._fired = True
        return run.finding(self.name, self._signal.name)
