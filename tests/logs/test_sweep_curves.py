"""read_log on a sweep's curves.parquet: one trial's curve, by --trial ID, from the file or its folder."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sweeper.errors import SweeperError
from sweeper.logs import read_log

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _write_sweep(folder: Path) -> Path:
    """Two trials, long format, as the sweep writes it: null = not logged, NaN = a NaN loss."""
    rows = [
        {"trial_id": "a1", "status": "completed", "param_lr": 1e-4, "step": 10, "epoch": 0.5, "loss": 1.0, "eval_loss": None},
        {"trial_id": "a1", "status": "completed", "param_lr": 1e-4, "step": 20, "epoch": 1.0, "loss": 0.8, "eval_loss": None},
        {"trial_id": "a1", "status": "completed", "param_lr": 1e-4, "step": 20, "epoch": 1.0, "loss": None, "eval_loss": 0.9},
        {"trial_id": "b2", "status": "pruned", "param_lr": 1e-3, "step": 10, "epoch": 0.5, "loss": 2.0, "eval_loss": None},
        {"trial_id": "b2", "status": "pruned", "param_lr": 1e-3, "step": 20, "epoch": 1.0, "loss": math.nan, "eval_loss": None},
    ]
    schema = pa.schema(
        [
            pa.field("trial_id", pa.string()),
            pa.field("status", pa.string()),
            pa.field("param_lr", pa.float64()),
            pa.field("step", pa.int64()),
            pa.field("epoch", pa.float64()),
            pa.field("loss", pa.float64()),
            pa.field("eval_loss", pa.float64()),
        ]
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "curves.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


def test_one_trial_from_the_file(tmp_path):
    path = _write_sweep(tmp_path / "results" / "demo")
    curve = read_log(path, trial="a1")
    assert curve.format == "sweep_parquet"
    assert (curve.trial_id, curve.params) == ("a1", {"lr": 1e-4})
    assert [(p.step, p.loss, p.eval_loss) for p in curve.points] == [(10, 1.0, None), (20, 0.8, 0.9)]
    assert "trial a1" in curve.source


def test_one_trial_from_the_folder_keeps_a_nan_loss(tmp_path):
    _write_sweep(tmp_path / "demo")
    curve = read_log(tmp_path / "demo", trial="b2")
    assert curve.points[0].loss == 2.0 and math.isnan(curve.points[1].loss)  # NaN is a value, null is absent


@pytest.mark.parametrize(
    "trial, fragment",
    [
        (None, "holds 2 trials; pass --trial ID (one of a1, b2)"),
        ("zz", "no trial 'zz' (trials: a1, b2)"),
    ],
)
def test_trial_must_name_one_of_them(tmp_path, trial, fragment):
    path = _write_sweep(tmp_path / "demo")
    with pytest.raises(SweeperError) as error:
        read_log(path, trial=trial)
    assert fragment in str(error.value) and str(error.value).startswith(str(path))


def test_not_a_sweep_table(tmp_path):
    path = tmp_path / "curves.parquet"
    pq.write_table(pa.table({"x": [1, 2]}), path)
    with pytest.raises(SweeperError, match="not a sweep's curves.parquet"):
        read_log(path, trial="a")


def test_corrupt_parquet(tmp_path):
    path = tmp_path / "curves.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 20)
    with pytest.raises(SweeperError, match="unreadable parquet file"):
        read_log(path, trial="a")


def test_written_by_the_sweep_recorder(tmp_path):
    """Round trip through the sweep's own writer (sweeper.results.curves), when present."""
    curves = pytest.importorskip("sweeper.results.curves")
    leaderboard = pytest.importorskip("sweeper.results.leaderboard")
    record = leaderboard.TrialRecord(
        trial_id="t0",
        params={"lr": 5e-5},
        status="completed",
        points=[{"step": 5, "epoch": 0.1, "loss": 1.2, "label_loss": 0.9}, {"step": 10, "epoch": 0.2, "eval_accuracy": 0.7}],
    )
    path = tmp_path / "curves.parquet"
    curves.write_curves(path, [record], ["lr"])
    curve = read_log(path)  # one trial: no --trial needed
    assert [(p.step, p.loss, p.label_loss, p.eval_accuracy) for p in curve.points] == [(5, 1.2, 0.9, None), (10, None, None, 0.7)]
