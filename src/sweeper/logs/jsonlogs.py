"""JSON and JSON-lines logs: HF `trainer_state.json`, LLaMA-Factory `trainer_log.jsonl`, ms-swift `logging.jsonl`
(Trainer and Megatron-SWIFT)."""

from __future__ import annotations

import json
import math
from typing import Any

from sweeper.errors import SweeperError
from sweeper.logs._values import StepMerger, fields_of, number, step_number, steps_per_epoch_of
from sweeper.logs.curve import Curve

_SWIFT_STEP = "global_step/max_steps"
_MEGATRON_STEP = "iteration"  # Megatron-SWIFT: "iteration": "n/N", "lm loss", "learning rate", "grad norm"


def _positive(value: Any, name: str, where: str) -> float | None:
    """A finite number > 0, else None."""
    try:
        result = number(value, name, where)
    except SweeperError:
        return None  # metadata is a convenience: a strange value there does not make the log unreadable
    return result if result is not None and math.isfinite(result) and result > 0 else None


def _steps(value: float | None) -> int | None:
    """A step count for the rules: a whole number >= 1, else None (0.5 steps is no count)."""
    return int(value) if value is not None and value >= 1 else None


def _history(entries: Any, source: str, merger: StepMerger, where: str) -> None:
    """Merge an HF `log_history` list into `merger`."""
    if not isinstance(entries, list):
        raise SweeperError(f"{source}: log_history is not a list")
    for number_, entry in enumerate(entries, start=1):
        at = f"{where} log_history entry {number_}"
        if not isinstance(entry, dict):
            raise SweeperError(f"{at}: not a JSON object")
        if "step" not in entry:
            continue  # HF always writes one; an entry without it has nothing to place on the curve
        merger.add(step_number(entry["step"], "step", at), fields_of(entry, at), at)


def read_trainer_state(doc: dict[str, Any], source: str) -> Curve:
    """HF Trainer `trainer_state.json` (also what LLaMA-Factory and ms-swift checkpoints hold)."""
    merger = StepMerger()
    _history(doc.get("log_history"), source, merger, source)
    points = merger.points()
    max_steps = _positive(doc.get("max_steps"), "max_steps", source)
    epochs = _positive(doc.get("num_train_epochs"), "num_train_epochs", source)
    per_epoch = steps_per_epoch_of(points)
    if per_epoch is None and max_steps and epochs and math.isfinite(max_steps / epochs):
        per_epoch = max_steps / epochs
    return Curve(points, "hf_trainer_state", source, _steps(max_steps), epochs, per_epoch, notes=merger.notes())


def read_log_history(entries: list[Any], source: str) -> Curve:
    """A bare `log_history` list (what some tools dump)."""
    merger = StepMerger()
    _history(entries, source, merger, source)
    points = merger.points()
    return Curve(points, "hf_log_history", source, steps_per_epoch=steps_per_epoch_of(points), notes=merger.notes())


def _flavor(record: dict[str, Any]) -> str | None:
    if "current_steps" in record:
        return "llamafactory_jsonl"
    if _SWIFT_STEP in record or "global_step" in record:
        return "swift_jsonl"
    if _MEGATRON_STEP in record:
        return "megatron_swift_jsonl"
    if "step" in record:
        return "jsonl"
    return None


def parse_jsonl(text: str, source: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; a bad line is an error naming it."""
    records = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as error:
            reason = getattr(error, "msg", None) or type(error).__name__
            raise SweeperError(f"{source}: line {line_no}: invalid or truncated JSON ({reason})") from None
        if not isinstance(record, dict):
            raise SweeperError(f"{source}: line {line_no}: expected a JSON object, got {type(record).__name__}")
        records.append((line_no, record))
    return records


def read_jsonl(records: list[tuple[int, dict[str, Any]]], source: str) -> Curve:
    """LLaMA-Factory, ms-swift (old `global_step` and new `global_step/max_steps` lines), or plain `step` lines."""
    flavor = next((f for f in (_flavor(r) for _, r in records) if f is not None), None)
    if flavor is None:
        raise SweeperError(
            f"{source}: JSON lines without a step key (expected current_steps, global_step, "
            "global_step/max_steps, iteration or step)"
        )
    merger = StepMerger()
    max_steps: float | None = None
    histories: list[tuple[int, Any]] = []
    for line_no, record in records:
        where = f"{source}: line {line_no}"
        if "log_history" in record:
            # ms-swift's final summary embeds the whole trainer log_history: use it only to fill
            # steps the lines lack (an interrupted copy), never count a step twice.
            histories.append((line_no, record["log_history"]))
            continue
        step: int | None = None
        if "current_steps" in record:  # LLaMA-Factory
            step = step_number(record["current_steps"], "current_steps", where)
            max_steps = _positive(record.get("total_steps"), "total_steps", where) or max_steps
        elif _SWIFT_STEP in record or _MEGATRON_STEP in record:  # ms-swift, new format; Megatron-SWIFT: "n/N"
            key = _SWIFT_STEP if _SWIFT_STEP in record else _MEGATRON_STEP
            raw = record[key]
            parts = raw.split("/") if isinstance(raw, str) else []
            if len(parts) != 2:
                raise SweeperError(f"{where}: {key} must look like 'n/N', got {raw!r}"[:200])
            step = step_number(parts[0], key, where)
            max_steps = _positive(parts[1], key, where) or max_steps
        elif "global_step" in record:  # ms-swift, old format
            step = step_number(record["global_step"], "global_step", where)
        elif "step" in record:
            step = step_number(record["step"], "step", where)
        values = fields_of(record, where)
        if step is None:
            if values.keys() - {"epoch", "learning_rate", "grad_norm"}:
                raise SweeperError(f"{where}: a logged value without a step")
            continue  # a summary line (dataset stats, model info)
        merger.add(step, values, where)
    for line_no, history in histories:
        filler = StepMerger()
        _history(history, source, filler, f"{source}: line {line_no}")
        for point in filler.points():
            if not merger.has(point.step):
                merger.fill(point.step, {k: v for k, v in point.as_dict().items() if k != "step"})
    points = merger.points()
    return Curve(points, flavor, source, _steps(max_steps), None, steps_per_epoch_of(points), notes=merger.notes())
