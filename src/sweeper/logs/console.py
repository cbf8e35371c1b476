"""Console logs: what HF Trainer and ms-swift print while training, saved with `> train.log`.

Each logging step is one Python dict on a line, possibly after a prefix or progress-bar noise:
`{'loss': 1.23, 'grad_norm': nan, 'learning_rate': 1e-4, 'epoch': 0.1}` (HF Trainer) or
`{'loss': 1.23, ..., 'global_step/max_steps': '5/100', ...}` (ms-swift). The step is
`global_step/max_steps`, `global_step` or `step` when printed; HF's console has none, and then the
points are numbered in order (a note says so).
"""

from __future__ import annotations

import ast
import re

from sweeper.errors import SweeperError
from sweeper.logs._values import StepMerger, fields_of, step_number, steps_per_epoch_of
from sweeper.logs.curve import Curve

_DICT = re.compile(r"\{'[^{}]*\}")
_KNOWN = re.compile(r"\{'(loss|eval_loss|lm loss|train_runtime)'")
# Python prints float('nan') / float('inf') bare; literal_eval needs strings (number() reads them).
_BARE = re.compile(r"(?<=[:\s])(-?)(nan|inf)(?=\s*[,}])")


def looks_like_console(text: str) -> bool:
    return any(_KNOWN.search(line) for line in text.splitlines()[:5000])


def read_console(text: str, source: str) -> Curve:
    merger = StepMerger()
    max_steps = None
    numbered = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not _KNOWN.search(line):
            continue
        match = _DICT.search(line)
        if match is None:
            continue
        where = f"{source}: line {line_no}"
        try:
            record = ast.literal_eval(_BARE.sub(lambda m: f"'{m.group(1)}{m.group(2)}'", match.group(0)))
        except (ValueError, SyntaxError, RecursionError, MemoryError):
            raise SweeperError(f"{where}: a printed dict that is not a Python literal") from None
        if not isinstance(record, dict):
            continue
        values = fields_of(record, where)
        if "train_runtime" in record and "loss" not in record:
            continue  # the closing summary (train_loss is the run's mean, not a point)
        raw = record.get("global_step/max_steps")
        if isinstance(raw, str) and "/" in raw:
            head, tail = raw.split("/", 1)
            step = step_number(head, "global_step/max_steps", where)
            max_steps = step_number(tail, "global_step/max_steps", where) or max_steps
        elif "global_step" in record or "step" in record:
            key = "global_step" if "global_step" in record else "step"
            step = step_number(record[key], key, where)
        else:
            numbered += 1
            step = numbered
        merger.add(step, values, where)
    points = merger.points()
    notes = merger.notes()
    if numbered:
        notes.append(f"no steps printed: the {numbered} logged points are numbered 1..{numbered} in order")
    return Curve(points, "console", source, max_steps, None, steps_per_epoch_of(points), notes=notes)
