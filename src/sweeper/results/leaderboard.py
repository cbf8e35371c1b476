"""One row per trial, built from the points a trial reported and what the pruner said of it.

Plain python and the csv module: `sweeper leaderboard` must answer in about a second.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sweeper.errors import SweeperError
from sweeper.results.store import atomic_write_text


SUMMARY_COLUMNS = (
    "steps_done",
    "max_steps",
    "epochs_done",
    "best_eval_accuracy",
    "best_eval_macro_f1",
    "final_label_loss",
    "final_eval_label_loss",
    "final_loss",
    "wall_seconds",
    "samples_truncated",
    "samples_dropped",
)

EVAL_KEYS = ("eval_loss", "eval_label_loss", "eval_accuracy", "eval_macro_f1")

METRIC_COLUMN = {
    "eval_macro_f1": ("best_eval_macro_f1", "max"),
    "eval_accuracy": ("best_eval_accuracy", "max"),
    "eval_label_loss": ("final_eval_label_loss", "min"),
    "eval_loss": ("final_eval_label_loss", "min"),
}


@dataclass
class TrialRecord:
    """Everything the sweep knows of one trial."""

    trial_id: str
    params: dict[str, Any]
    status: str = "pending"
    verdict: str = ""  # the curve's shape: healthy, staircase, plateau, divergence
    stopped_by: str = ""  # what stopped it (sweeper.rules.monitor's policy table), "" if nothing did
    reason: str = ""
    error: str = ""
    wall_seconds: float | None = None
    points: list[dict[str, Any]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # max_steps, samples_truncated, samples_dropped

    def summary(self) -> dict[str, Any]:
        train = [p for p in self.points if p.get("loss") is not None]
        evals = [p for p in self.points if any(p.get(k) is not None for k in EVAL_KEYS)]
        last = self.points[-1] if self.points else {}
        return {
            "steps_done": last.get("step", 0),
            "max_steps": self.facts.get("max_steps"),
            "epochs_done": _round(last.get("epoch")),
            "best_eval_accuracy": _best(p.get("eval_accuracy") for p in evals),
            "best_eval_macro_f1": _best(p.get("eval_macro_f1") for p in evals),
            "final_label_loss": _round(train[-1].get("label_loss")) if train else None,
            "final_eval_label_loss": _round(evals[-1].get("eval_label_loss")) if evals else None,
            "final_loss": _round(train[-1].get("loss")) if train else None,
            "wall_seconds": _round(self.wall_seconds, 1),
            "samples_truncated": self.facts.get("samples_truncated"),
            "samples_dropped": self.facts.get("samples_dropped"),
        }


def _best(values: Iterable[Any]) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return round(max(finite), 4) if finite else None


def _round(value: Any, digits: int = 4) -> Any:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else value


def leaderboard_rows(records: Iterable[TrialRecord], param_names: list[str], metric: str) -> list[dict[str, Any]]:
    """Rows sorted best first by the sweep's metric; trials without it, and errored ones, last."""
    column, mode = METRIC_COLUMN.get(metric, ("best_eval_macro_f1", "max"))
    rows = []
    for record in records:
        row: dict[str, Any] = {
            "trial_id": record.trial_id,
            "status": record.status,
            "verdict": record.verdict,
            "reason": record.reason or record.error,
        }
        row.update({name: record.params.get(name) for name in param_names})
        row.update(record.summary())
        rows.append(row)

    def key(row: dict[str, Any]) -> tuple[int, float]:
        value = row.get(column)
        if value is None or not math.isfinite(value) or row["status"] == "errored":
            return (1, 0.0)
        return (0, -value if mode == "max" else value)

    return sorted(rows, key=key)


def columns(param_names: list[str]) -> list[str]:
    return ["trial_id", "status", "verdict", "reason", *param_names, *SUMMARY_COLUMNS]


def write_leaderboard(path: Path, rows: list[dict[str, Any]], param_names: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(param_names), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def read_leaderboard(path: Path) -> list[dict[str, str]]:
    path = Path(path)
    if path.is_dir():
        path = path / "leaderboard.csv"
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise SweeperError(f"{path}: no leaderboard here (is this a sweep folder?)") from None
    except (UnicodeDecodeError, csv.Error) as error:
        raise SweeperError(f"{path}: not a leaderboard CSV: {error}") from None
    if rows and "trial_id" not in rows[0]:
        raise SweeperError(f"{path}: not a sweeper leaderboard (no trial_id column)")
    return rows


def format_table(rows: list[dict[str, Any]], columns_: list[str], limit: int | None = None) -> str:
    """A plain fixed-width table, readable in any terminal and in CI logs."""
    shown = rows[:limit] if limit else rows
    cells = [[_cell(row.get(c)) for c in columns_] for row in shown]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns_)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns_, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
    return "\n".join(lines)


def _cell(value: Any, max_width: int = 60) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str) and any(c.isdigit() for c in value) and "." in value:
        try:
            value = float(value)  # a CSV cell read back
        except ValueError:
            pass
    if isinstance(value, float):
        text = f"{value:.3g}" if (abs(value) < 1e-3 or abs(value) >= 1e4) and value != 0 else f"{value:.4g}"
    else:
        text = str(value)
    return text if len(text) <= max_width else text[: max_width - 1] + "…"
