"""`curves.parquet`: every point every trial reported, long format, one row per point."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Iterable

from sweeper.results.leaderboard import TrialRecord
from sweeper.rules.point import POINT_FIELDS
from sweeper.results.store import atomic_write



def curve_rows(records: Iterable[TrialRecord], param_names: list[str]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        fixed = {"trial_id": record.trial_id, "status": record.status}
        fixed.update({f"param_{name}": record.params.get(name) for name in param_names})
        for point in record.points:
            row = dict(fixed)
            row.update({name: point.get(name) for name in POINT_FIELDS})
            rows.append(row)
    return rows


def write_curves(path: Path, records: Iterable[TrialRecord], param_names: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = curve_rows(records, param_names)
    schema_fields = [pa.field("trial_id", pa.string()), pa.field("status", pa.string())]
    for name in param_names:
        column = f"param_{name}"
        kind = _param_type([r.get(column) for r in rows])
        if kind == pa.string():
            for row in rows:
                row[column] = None if row.get(column) is None else str(row[column])
        schema_fields.append(pa.field(column, kind))
    schema_fields.append(pa.field("step", pa.int64()))
    schema_fields += [pa.field(name, pa.float64()) for name in POINT_FIELDS if name != "step"]
    table = pa.Table.from_pylist(rows, schema=pa.schema(schema_fields))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getvalue()))


def _param_type(values: list[Any]) -> Any:
    import pyarrow as pa

    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.float64()
    return pa.string()
