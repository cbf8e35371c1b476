"""Live progress: the trials in flight with their step, last raw loss, label loss and eval F1.

In a terminal a table redraws in place; in a log (CI, `make run | tee`) one line per event
and a status line every so often, so the output stays readable.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from sweeper.orchestrate.ledger import FINISHED
from sweeper.results.leaderboard import TrialRecord


def _last(record: TrialRecord, key: str) -> Any:
    for point in reversed(record.points):
        if point.get(key) is not None:
            return point[key]
    return None


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) >= 10 ** -digits or value == 0 else f"{value:.1e}"
    return str(value)


class Progress:
    def __init__(self, planned: int, stream: TextIO | None = None, interval: float = 15.0) -> None:
        self.planned = planned
        self.stream = stream or sys.stdout
        self.interactive = self.stream.isatty()
        self.interval = interval
        self._started = time.monotonic()
        self._last_line = 0.0
        self._announced: dict[str, str] = {}
        self._live: Any = None

    def __enter__(self) -> "Progress":
        if self.interactive:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(file=self.stream), refresh_per_second=2, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)

    def say(self, line: str) -> None:
        """A line of its own, above the live table in a terminal."""
        if self._live is not None:
            self._live.console.print(line)
        else:
            self._print(line)

    def update(self, records: dict[str, TrialRecord]) -> None:
        if self._live is not None:
            self._live.update(self._table(records))
            return
        for record in records.values():
            if self._announced.get(record.trial_id) != record.status:
                self._announced[record.trial_id] = record.status
                self._print(self._event(record))
        if time.monotonic() - self._last_line >= self.interval:
            self._print(self._status(records))

    def _print(self, line: str) -> None:
        self._last_line = time.monotonic()
        print(line, file=self.stream, flush=True)

    def _counts(self, records: dict[str, TrialRecord]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for record in records.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    def _status(self, records: dict[str, TrialRecord]) -> str:
        counts = self._counts(records)
        elapsed = time.monotonic() - self._started
        done = sum(counts.get(s, 0) for s in FINISHED)
        running = [r for r in records.values() if r.status == "running"]
        flight = "; ".join(
            f"{r.trial_id} step {_fmt(_last(r, 'step'))} loss {_fmt(_last(r, 'loss'))} "
            f"label {_fmt(_last(r, 'label_loss'))} f1 {_fmt(_last(r, 'eval_macro_f1'))}"
            for r in running
        )
        return f"[{elapsed:5.0f}s] {done}/{self.planned} done ({self._summary(counts)}) | {flight or 'starting'}"

    @staticmethod
    def _summary(counts: dict[str, int]) -> str:
        shown = [s for s in FINISHED if s != "duplicate" or counts.get(s)]
        return ", ".join(f"{counts.get(s, 0)} {s}" for s in shown)

    def _event(self, record: TrialRecord) -> str:
        params = " ".join(f"{k}={_fmt(v, 4) if isinstance(v, float) else v}" for k, v in record.params.items())
        if record.status == "running":
            return f"  {'started':<12}{record.trial_id}  {params}"
        detail = record.reason or record.error or record.verdict
        if record.status == "duplicate":
            return f"  {record.status:<12}{record.trial_id}  {detail}"
        f1 = _fmt(max((p["eval_macro_f1"] for p in record.points if p.get("eval_macro_f1") is not None), default=None))
        return f"  {record.status:<12}{record.trial_id}  step {_fmt(_last(record, 'step'))}  best f1 {f1}  {detail}"

    def _table(self, records: dict[str, TrialRecord]) -> Any:
        from rich.table import Table

        counts = self._counts(records)
        elapsed = time.monotonic() - self._started
        done = sum(counts.get(s, 0) for s in FINISHED)
        table = Table(title=f"sweep {done}/{self.planned} done ({self._summary(counts)}), {elapsed:.0f}s")
        for column in ("trial", "status", "params", "step", "epoch", "loss", "label loss", "eval f1", "verdict"):
            table.add_column(column)
        for record in records.values():
            params = " ".join(f"{k}={_fmt(v, 4) if isinstance(v, float) else v}" for k, v in record.params.items())
            table.add_row(
                record.trial_id,
                record.status,
                params,
                _fmt(_last(record, "step")),
                _fmt(_last(record, "epoch"), 2),
                _fmt(_last(record, "loss")),
                _fmt(_last(record, "label_loss")),
                _fmt(_last(record, "eval_macro_f1")),
                record.verdict or "",
            )
        return table
