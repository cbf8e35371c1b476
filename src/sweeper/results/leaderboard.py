"""One row per trial, built from the points a trial reported and what the pruner said of it.

Ranking: completed trials first, by the sweep's metric at the kept checkpoint (the best eval whose
checkpoint is still on disk), with its binomial standard error over the eval rows; running and
interrupted trials next, then pruned and errored ones, then duplicates (trials whose effective
settings equalled an earlier trial's: they trained nothing and name that trial in `duplicate_of`).
A pruned trial that collapsed after a lucky early eval never outranks a trial that ran to its end.

Plain python and the csv module: `sweeper leaderboard` must answer in about a second.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from sweeper.errors import SweeperError
from sweeper.results.store import atomic_write_text
from sweeper.rules.point import EVAL_FIELDS
from sweeper.uri import is_uri

# duplicate_of: the trial whose result a trial repeated (same effective settings; it trained nothing).
ID_COLUMNS = ("trial_id", "status", "duplicate_of", "verdict", "stopped_by", "reason")

SUMMARY_COLUMNS = (
    "metric",
    "score",
    "score_se",
    "score_step",
    "final_score",
    "steps_done",
    "max_steps",
    "saved_share",
    "epochs_done",
    "eval_accuracy",
    "eval_macro_f1",
    "best_eval_accuracy",
    "best_eval_macro_f1",
    "final_label_loss",
    "final_explanation_loss",
    "final_eval_label_loss",
    "final_loss",
    "test_accuracy",
    "test_macro_f1",
    "wall_seconds",
    "samples_truncated",
    "samples_dropped",
    "num_eval",
    "adapter_path",
    "global_batch",
    "resumed_from",
    "node",
)

TEST_KEYS = ("test_accuracy", "test_macro_f1")
RATE_METRICS = ("eval_accuracy", "eval_macro_f1")  # in [0, 1]: a binomial SE over the eval rows applies
METRIC_MODES = {"eval_macro_f1": "max", "eval_accuracy": "max", "eval_label_loss": "min", "eval_loss": "min"}

# Ranking groups: what ran to its end first; what may still change next; then what was cut short.
# A duplicate last: its result is its original's row.
STATUS_ORDER = {"completed": 0, "running": 1, "interrupted": 2, "pending": 3, "pruned": 4, "errored": 5, "duplicate": 6}

# A trial pruned this close to its end saved next to nothing; the summary says so apart.
LATE_PRUNE_SHARE = 0.05


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
    facts: dict[str, Any] = field(default_factory=dict)  # sweeper.rules.point.FACT_FIELDS
    objective: float | None = None  # what the searcher was told when the trial finished (replayed on resume)
    duplicate_of: str = ""  # the trial with the same effective settings whose result this one repeated

    def summary(self, metric: str = "eval_macro_f1", checkpoints: dict[int, str] | None = None) -> dict[str, Any]:
        """The row's numbers. `checkpoints` maps a step to its checkpoint folder still on disk."""
        train = [p for p in self.points if p.get("loss") is not None]
        evals = [p for p in self.points if any(_finite(p.get(k)) for k in EVAL_FIELDS)]
        tests = [p for p in self.points if any(_finite(p.get(k)) for k in TEST_KEYS)]
        last = self.points[-1] if self.points else {}
        kept, adapter = _kept_eval(evals, metric, checkpoints or {})
        num_eval = self.facts.get("num_eval")
        score = _round(kept.get(metric)) if kept else None
        final = next((p[metric] for p in reversed(evals) if _finite(p.get(metric))), None)
        max_steps = self.facts.get("max_steps")
        steps_done = last.get("step", 0)
        saved = None
        if self.status == "pruned" and max_steps:
            saved = round(max(0, max_steps - steps_done) / max_steps, 4)
        return {
            "metric": metric,
            "score": score,
            "score_se": _binomial_se(score, num_eval) if metric in RATE_METRICS else None,
            "score_step": kept.get("step") if kept else None,
            "final_score": _round(final),
            "steps_done": steps_done,
            "max_steps": max_steps,
            "saved_share": saved,
            "epochs_done": _round(last.get("epoch")),
            "eval_accuracy": _round(kept.get("eval_accuracy")) if kept else None,
            "eval_macro_f1": _round(kept.get("eval_macro_f1")) if kept else None,
            "best_eval_accuracy": _best(p.get("eval_accuracy") for p in evals),
            "best_eval_macro_f1": _best(p.get("eval_macro_f1") for p in evals),
            "final_label_loss": _round(train[-1].get("label_loss")) if train else None,
            "final_explanation_loss": _round(train[-1].get("explanation_loss")) if train else None,
            "final_eval_label_loss": _round(evals[-1].get("eval_label_loss")) if evals else None,
            "final_loss": _round(train[-1].get("loss")) if train else None,
            "test_accuracy": _round(tests[-1].get("test_accuracy")) if tests else None,
            "test_macro_f1": _round(tests[-1].get("test_macro_f1")) if tests else None,
            "wall_seconds": _round(self.wall_seconds, 1),
            "samples_truncated": self.facts.get("samples_truncated"),
            "samples_dropped": self.facts.get("samples_dropped"),
            "num_eval": num_eval,
            "adapter_path": adapter,
            "global_batch": self.facts.get("global_batch"),
            "resumed_from": self.facts.get("resumed_from"),
            "node": self.facts.get("node"),
        }


def _kept_eval(evals: list[dict[str, Any]], metric: str, checkpoints: dict[int, str]) -> tuple[dict[str, Any], str | None]:
    """The best eval of `metric` whose checkpoint is kept, and that checkpoint; without a kept
    checkpoint at any eval step, the best eval and the latest checkpoint."""
    sign = 1.0 if METRIC_MODES.get(metric, "max") == "max" else -1.0
    scored = [p for p in evals if _finite(p.get(metric))]
    kept = [p for p in scored if p.get("step") in checkpoints]
    pool = kept or scored
    if not pool:
        return {}, checkpoints[max(checkpoints)] if checkpoints else None
    # The earliest of equal values: the same quality with fewer steps.
    best = max(pool, key=lambda p: (sign * float(p[metric]), -p.get("step", 0)))
    if kept:
        return best, checkpoints[best["step"]]
    return best, checkpoints[max(checkpoints)] if checkpoints else None


def kept_checkpoints(trial_dir: Path | str) -> dict[int, str]:
    """Step -> folder of every checkpoint of a trial still on disk (Ray keeps the latest few); for a
    trial folder on object storage (a URI), its whole checkpoints there, by URI."""
    if is_uri(trial_dir):
        from sweeper.results.stored_checkpoints import remote_checkpoints

        return remote_checkpoints(str(trial_dir))
    found: dict[int, str] = {}
    for state in Path(trial_dir).glob("checkpoint_*/trainer_state.json"):
        try:
            found[int(json.loads(state.read_text(encoding="utf-8"))["global_step"])] = str(state.parent)
        except (OSError, KeyError, ValueError, TypeError):
            continue  # a checkpoint being written or removed right now
    return found


def _binomial_se(value: float | None, n: Any) -> float | None:
    if value is None or not n or not 0.0 <= value <= 1.0:
        return None
    return round(math.sqrt(value * (1.0 - value) / float(n)), 4)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _best(values: Iterable[Any]) -> float | None:
    finite = [float(v) for v in values if _finite(v)]
    return round(max(finite), 4) if finite else None


def _round(value: Any, digits: int = 4) -> Any:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else value


def leaderboard_rows(
    records: Iterable[TrialRecord], param_names: list[str], metric: str, sweep_dir: Path | str | None = None
) -> list[dict[str, Any]]:
    """Rows best first: completed by the metric at the kept checkpoint, then running, pruned, errored.

    `sweep_dir` (the folder holding `trial_<id>/`, a path or a URI) lets a row name its kept adapter."""
    sign = 1.0 if METRIC_MODES.get(metric, "max") == "max" else -1.0
    rows = []
    for record in records:
        checkpoints = kept_checkpoints(f"{str(sweep_dir).rstrip('/')}/trial_{record.trial_id}") if sweep_dir else {}
        reason = record.reason or record.error
        row: dict[str, Any] = {
            "trial_id": record.trial_id,
            "status": record.status,
            "duplicate_of": record.duplicate_of or None,
            "verdict": record.verdict,
            "stopped_by": record.stopped_by,
            "reason": reason,
        }
        row.update({name: record.params.get(name) for name in param_names})
        row.update(record.summary(metric, checkpoints))
        rows.append(row)
    return sorted(rows, key=lambda row: rank_key(row, sign))


def rank_key(row: dict[str, Any], sign: float = 1.0) -> tuple[int, int, float]:
    group = STATUS_ORDER.get(str(row.get("status")), len(STATUS_ORDER))
    value = row.get("score")
    if not _finite(value):
        return (group, 1, 0.0)
    return (group, 0, -sign * float(value))


def columns(param_names: list[str]) -> list[str]:
    return [*ID_COLUMNS, *param_names, *SUMMARY_COLUMNS]


def write_leaderboard(path: Path, rows: list[dict[str, Any]], param_names: list[str]) -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns(param_names), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())


def read_leaderboard(path: Path) -> list[dict[str, str]]:
    """The rows of a sweep's leaderboard.csv as written (strings; see `typed`)."""
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


def param_columns(header: list[str]) -> list[str]:
    """The searched parameters: the columns between `reason` and the first result column."""
    if "reason" not in header or "metric" not in header:
        return []
    return header[header.index("reason") + 1 : header.index("metric")]


def typed(row: dict[str, str]) -> dict[str, Any]:
    """A CSV row with its numbers, booleans and blanks (None) back."""
    return {key: _parse(key, value) for key, value in row.items()}


def _parse(key: str, text: str | None) -> Any:
    if text is None or text == "":
        return None
    if key in ("trial_id", "duplicate_of", "reason", "adapter_path", "metric"):
        return text
    if text in ("True", "False"):
        return text == "True"
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number


@dataclass(frozen=True)
class PruningSummary:
    """What pruning saved, over the trials that ended (completed or pruned): never the steps an
    interrupted sweep did not get to, nor those of trials still running."""

    steps_run: int
    steps_planned: int
    pruned: int
    late: int  # pruned in the last LATE_PRUNE_SHARE of their steps
    late_steps_saved: int

    @property
    def saved_share(self) -> float:
        return 1.0 - self.steps_run / self.steps_planned if self.steps_planned else 0.0

    def line(self) -> str:
        text = (
            f"{self.steps_run} of {self.steps_planned} steps of the trials that ended were run "
            f"({self.saved_share:.0%} saved by pruning {self.pruned} trials)"
        )
        if self.late:
            text += (
                f"; {self.late} of them in their last {LATE_PRUNE_SHARE:.0%} of steps "
                f"(saving {self.late_steps_saved} steps)"
            )
        return text + "."


def pruning_summary(rows: Iterable[dict[str, Any]]) -> PruningSummary:
    run = planned = pruned = late = late_saved = 0
    for row in rows:
        if row.get("status") not in ("completed", "pruned"):
            continue
        done = int(row.get("steps_done") or 0)
        total = int(row.get("max_steps") or done)
        run += done
        planned += total
        if row["status"] == "pruned":
            pruned += 1
            if total and (total - done) / total < LATE_PRUNE_SHARE:
                late += 1
                late_saved += max(0, total - done)
    return PruningSummary(run, planned, pruned, late, late_saved)


# -- output formats ------------------------------------------------------------------------------


def format_table(rows: list[dict[str, Any]], columns_: list[str], limit: int | None = None, max_width: int | None = 60) -> str:
    """A plain fixed-width table, readable in any terminal and in CI logs."""
    shown = rows[:limit] if limit else rows
    cells = [[_cell(row.get(c), max_width) for c in columns_] for row in shown]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns_)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns_, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(lines)


def format_markdown(rows: list[dict[str, Any]], columns_: list[str]) -> str:
    lines = ["| " + " | ".join(columns_) + " |", "|" + "---|" * len(columns_)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c), None).replace("|", "\\|") for c in columns_) + " |")
    return "\n".join(lines)


def format_csv(rows: list[dict[str, Any]], columns_: list[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns_, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns_})
    return buffer.getvalue().rstrip("\n")


def format_json(rows: list[dict[str, Any]], columns_: list[str]) -> str:
    def clean(value: Any) -> Any:
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return json.dumps([{c: clean(row.get(c)) for c in columns_} for row in rows], indent=2)


def _cell(value: Any, max_width: int | None = 60) -> str:
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
    return text if max_width is None or len(text) <= max_width else text[: max_width - 1] + "…"
