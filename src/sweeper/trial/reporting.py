"""What a trial reports: the reporter it is given, and the points it builds from its loss windows."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Protocol

from sweeper.trial.encode import SEG_EXPLANATION, SEG_LABEL
from sweeper.trial.losses import LossTotals, LossWindow


class Reporter(Protocol):
    """Where a trial's points go. A reporter may also answer `stop_requested() -> bool`: True
    once the sweep is stopping, and the trial then saves a checkpoint at its next step and ends."""

    def report(self, metrics: dict[str, Any], checkpoint: Path | None = None) -> None: ...


class ListReporter:
    """Keeps every report (and checkpoint path) in memory: for tests and benchmarks."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.checkpoints: list[tuple[int, Path]] = []

    def report(self, metrics: dict[str, Any], checkpoint: Path | None = None) -> None:
        self.reports.append(dict(metrics))
        if checkpoint is not None:
            self.checkpoints.append((int(metrics["step"]), Path(checkpoint)))

    @property
    def train_points(self) -> list[dict[str, Any]]:
        return [r for r in self.reports if "loss" in r]

    @property
    def eval_points(self) -> list[dict[str, Any]]:
        return [r for r in self.reports if "eval_loss" in r]


class ReportSession:
    """Reporting state of one run: the open loss window, pending reports, bests.

    With `across_ranks` (data-parallel training) each logging window sums every rank's batches,
    so every rank reports the same point.
    """

    def __init__(self, reporter: Reporter, include_explanation: bool, facts: dict[str, Any], across_ranks: bool = False) -> None:
        self.reporter = reporter
        self.include_explanation = include_explanation
        self.facts = facts
        self.across_ranks = across_ranks
        self.window = LossWindow(across_ranks=across_ranks)
        self.window_started = time.perf_counter()
        self.window_eval_seconds = 0.0
        self.pending: list[dict[str, Any]] = []
        self.sent_since_save: list[dict[str, Any]] = []  # reports sent since the last checkpoint
        self.last_eval_step: int | None = None
        self.last_save_step: int | None = None
        self.best_accuracy: float | None = None
        self.best_macro_f1: float | None = None
        self.final_label_loss: float | None = None
        self.final_eval_label_loss: float | None = None
        self.train_tokens = 0

    def stop_requested(self) -> bool:
        """Whether the sweep asked this trial to save and end (see `Reporter`)."""
        asked = getattr(self.reporter, "stop_requested", None)
        return bool(asked()) if asked is not None else False

    def reopen(self, window: LossTotals, step: int, reports: list[dict[str, Any]] = ()) -> None:
        """Continue from a checkpoint: its open window, and nothing to evaluate or save at its step.
        `reports` (the ones the checkpoint says were made since the checkpoint before it) are sent
        again first: a run lost mid-report (a data-parallel worker killed) may never have
        delivered them, and a driver that has them replaces them with the same values."""
        self.window = LossWindow(start=window, across_ranks=self.across_ranks)
        self.last_eval_step = self.last_save_step = step
        self.pending = list(reports)

    def reports_since_save(self) -> list[dict[str, Any]]:
        """Every report made since the last checkpoint, sent or not: what a checkpoint keeps."""
        return [*self.sent_since_save, *self.pending]

    def train_point(self, step: int, epoch: float, logs: dict[str, Any]) -> dict[str, Any]:
        """The point of the window that ends at `step`; a loss with no tokens in it is left out."""
        nan = float("nan")
        elapsed = time.perf_counter() - self.window_started - self.window_eval_seconds
        totals = self.window.read()
        losses = {"loss": totals.mean(), "label_loss": totals.mean(SEG_LABEL)}
        if self.include_explanation:
            losses["explanation_loss"] = totals.mean(SEG_EXPLANATION)
        point: dict[str, Any] = {"step": step, "epoch": epoch}
        point.update((name, value) for name, value in losses.items() if value is not None)
        point["learning_rate"] = float(logs.get("learning_rate", nan))
        if logs.get("grad_norm") is not None:
            point["grad_norm"] = float(logs["grad_norm"])
        point["tokens_per_second"] = totals.tokens / elapsed if elapsed > 0 else nan
        point.update(self.facts)
        self.final_label_loss = losses["label_loss"]
        self.train_tokens += totals.tokens - self.window.start.tokens
        self.window = LossWindow(across_ranks=self.across_ranks)
        self.window_started = time.perf_counter()
        self.window_eval_seconds = 0.0
        return point

    def eval_point(self, step: int, epoch: float, metrics: dict[str, float], seconds: float) -> dict[str, Any]:
        point: dict[str, Any] = {"step": step, "epoch": epoch, **metrics, "eval_seconds": seconds}
        point.update(self.facts)
        self.window_eval_seconds += seconds
        self.last_eval_step = step
        self.best_accuracy = _best(self.best_accuracy, metrics.get("eval_accuracy"))
        self.best_macro_f1 = _best(self.best_macro_f1, metrics.get("eval_macro_f1"))
        self.final_eval_label_loss = metrics.get("eval_label_loss")
        return point

    def flush(self, checkpoint: Path | None = None) -> None:
        """Send the pending reports; the checkpoint goes with the last one."""
        pending, self.pending = self.pending, []
        for index, metrics in enumerate(pending):
            last = index == len(pending) - 1
            self.reporter.report(metrics, checkpoint=checkpoint if last else None)
        if checkpoint is not None and not pending:
            # A save with nothing else to say: report the step so the checkpoint is not lost.
            self.reporter.report({"step": self.last_save_step, **self.facts}, checkpoint=checkpoint)
        if checkpoint is None:
            self.sent_since_save += pending
        else:
            # A replay from the next checkpoint begins at this one's step: its evaluation may come
            # after the save, and a driver replaces every point from a replay's first step on.
            self.sent_since_save = [report for report in pending if report.get("step") == self.last_save_step]


def _best(current: float | None, value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return current
    return value if current is None or value > current else current
