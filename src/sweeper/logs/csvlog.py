"""CSV logs: a header with `step` and `loss` (and optionally epoch, eval_loss, learning_rate, grad_norm,
label_loss, ...). A blank cell is absent; `nan`/`inf` are values."""

from __future__ import annotations

import csv
import io

from sweeper.errors import SweeperError
from sweeper.logs._values import FIELD_KEYS, StepMerger, number, step_number, steps_per_epoch_of
from sweeper.logs.curve import Curve

_ALIASES = {key: field for field, keys in FIELD_KEYS.items() for key in keys}


def looks_like_csv(text: str) -> bool:
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    names = [c.strip().lower() for c in first.split(",")]
    return "," in first and "step" in names


def read_csv(text: str, source: str) -> Curve:
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise SweeperError(f"{source}: not valid CSV ({error})") from None
    header_index = next((i for i, row in enumerate(rows) if any(c.strip() for c in row)), None)
    if header_index is None:
        raise SweeperError(f"{source}: empty CSV")
    header = [c.strip().lower() for c in rows[header_index]]
    if "step" not in header or "loss" not in header:
        raise SweeperError(f"{source}: a CSV log needs columns step and loss; found {', '.join(header)}"[:300])
    columns = [(i, name, _ALIASES.get(name)) for i, name in enumerate(header)]
    step_col = header.index("step")
    merger = StepMerger()
    seen_rows = 0
    for row_index in range(header_index + 1, len(rows)):
        row = rows[row_index]
        line_no = row_index + 1  # csv rows map to lines for the logs we read (no quoted newlines)
        if not any(c.strip() for c in row):
            continue
        where = f"{source}: line {line_no}"
        if len(row) != len(header):
            raise SweeperError(f"{where}: {len(row)} fields, the header has {len(header)}")
        seen_rows += 1
        step = step_number(row[step_col].strip(), "step", where)
        values: dict[str, float] = {}
        for i, name, field in columns:
            if field is None:
                continue
            cell = row[i].strip()
            if cell == "":
                continue  # blank = absent
            value = number(cell, f"column {name}", where)
            if value is not None:
                values[field] = value
        merger.add(step, values, where)
    if seen_rows == 0:
        raise SweeperError(f"{source}: CSV has a header but no rows")
    points = merger.points()
    return Curve(points, "csv", source, steps_per_epoch=steps_per_epoch_of(points), notes=merger.notes())
