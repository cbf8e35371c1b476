"""A sweep's `curves.parquet` (long format: one row per reported point, a `trial_id` column,
`param_*` columns). pyarrow is imported here only, lazily: reading other logs never needs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sweeper.errors import SweeperError
from sweeper.logs._values import FIELD_KEYS, StepMerger, steps_per_epoch_of
from sweeper.logs.curve import Curve

_FIELDS = tuple(FIELD_KEYS)


def read_sweep_curves(path: Path, trial: str | None) -> Curve:
    """The curve of one trial. Null cells are absent; NaN cells are kept (a NaN loss is divergence)."""
    source = str(path)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise SweeperError(f"{source}: reading a sweep's curves.parquet needs pyarrow (pip install pyarrow)") from None
    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises ArrowInvalid, ArrowIOError, OSError...: all mean unreadable
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise SweeperError(f"{source}: unreadable parquet file ({first})"[:300]) from None
    names = table.column_names
    if "trial_id" not in names or "step" not in names:
        raise SweeperError(f"{source}: not a sweep's curves.parquet (needs columns trial_id and step)")
    trial_ids = [str(t) for t in table.column("trial_id").to_pylist()]
    distinct = list(dict.fromkeys(trial_ids))
    if not distinct:
        raise SweeperError(f"{source}: no trials recorded yet")
    if trial is None:
        if len(distinct) > 1:
            shown = ", ".join(distinct[:8]) + (", ..." if len(distinct) > 8 else "")
            raise SweeperError(f"{source}: holds {len(distinct)} trials; pass --trial ID (one of {shown})")
        trial = distinct[0]
    if trial not in distinct:
        shown = ", ".join(distinct[:8]) + (", ..." if len(distinct) > 8 else "")
        raise SweeperError(f"{source}: no trial {trial!r} (trials: {shown})")
    columns = {name: table.column(name).to_pylist() for name in names if name in _FIELDS or name == "step" or name.startswith("param_")}
    merger = StepMerger()
    params: dict[str, Any] = {}
    for row, row_trial in enumerate(trial_ids):
        if row_trial != trial:
            continue
        step = columns["step"][row]
        if step is None:
            continue
        values = {}
        for name in _FIELDS:
            cells = columns.get(name)
            if cells is not None and cells[row] is not None:
                value = cells[row]
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    values[name] = float(value)
        merger.add(int(step), values)
        for name, cells in columns.items():
            if name.startswith("param_") and cells[row] is not None:
                params.setdefault(name[len("param_") :], cells[row])
    points = merger.points()
    return Curve(
        points, "sweep_parquet", f"{source} (trial {trial})", steps_per_epoch=steps_per_epoch_of(points),
        trial_id=trial, params=params, notes=merger.notes(), sweep_dir=str(path.parent),
    )


