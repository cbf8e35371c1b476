"""Fault injection in a real sweep: one trial raises, one trial's loss goes NaN; the others go on.

No mocks: the raising trial asks peft for a module the model does not have (it fails when the
trial builds its model), the NaN trial trains at a learning rate of 1e30 without gradient
clipping. A grid makes the trials and their order deterministic.
"""

import csv
import json
import math
import re

import pyarrow.parquet as pq
import pytest

from sweeper.data.demo import DEMO_LABELS, demo_records
from sweeper.orchestrate.sweep import run_sweep
from sweeper.spec import validate_spec

pytestmark = pytest.mark.slow

GOOD_LR, NAN_LR = 3e-3, 1e30
MISSING_MODULE = "no_such_module"


def small_data(folder):
    train, evals = demo_records(0)
    folder.mkdir()
    for name, records in (("train.jsonl", train[:64]), ("eval.jsonl", evals[:24])):
        (folder / name).write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def faulty_spec(tmp_path):
    data = small_data(tmp_path / "data")
    return validate_spec(
        {
            "name": "faults",
            "storage": str(tmp_path / "results"),
            "model": "builtin:tiny-llama",
            "dataset": {
                "train": str(data / "train.jsonl"),
                "eval": str(data / "eval.jsonl"),
                "labels": list(DEMO_LABELS),
            },
            "train": {
                "num_train_epochs": 2,
                "per_device_train_batch_size": 16,
                "per_device_eval_batch_size": 24,
                "gradient_accumulation_steps": 1,
                "max_grad_norm": 0,  # no clipping: 1e30 reaches the weights
                "logging_steps": 1,
                "save_steps": None,
                "cutoff_len": 64,
                "include_explanation": False,
            },
            "search": {
                "algorithm": "grid",
                "num_samples": 1,
                "space": {
                    "lora_target": {"grid": ["all", [MISSING_MODULE]]},
                    "learning_rate": {"grid": [GOOD_LR, NAN_LR]},
                },
            },
            "resources": {"cpu": 1},
        }
    )


def test_a_raising_trial_and_a_nan_trial_do_not_stop_the_sweep(tmp_path):
    outcome = run_sweep(faulty_spec(tmp_path), num_cpus=2, quiet=True)

    sweep_dir = tmp_path / "results" / "faults"
    with open(sweep_dir / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(outcome.rows) == 4

    def row(target, lr):
        (found,) = [r for r in rows if (r["lora_target"] == target) and math.isclose(float(r["learning_rate"]), lr)]
        return found

    healthy = row("all", GOOD_LR)
    assert healthy["status"] == "completed", healthy
    assert int(healthy["steps_done"]) == int(healthy["max_steps"]) == 8

    nan = row("all", NAN_LR)
    assert nan["status"] == "pruned", nan
    assert nan["verdict"] == "divergence", nan
    assert "nan" in nan["reason"].lower() or "inf" in nan["reason"].lower(), nan
    assert 0 < int(nan["steps_done"]) < 8
    # The stop lands where it was decided: the trial sends the point it is stopped at at once
    # (sweeper.orchestrate.decisive) instead of training on to the end of a batch of reports.
    decided = int(re.search(r"at step (\d+)", nan["reason"]).group(1))
    assert decided <= int(nan["steps_done"]) <= decided + 1, nan  # at most one logging step past it

    for lr in (GOOD_LR, NAN_LR):
        errored = row(str([MISSING_MODULE]), lr)
        assert errored["status"] == "errored", errored
        assert "\n" not in errored["reason"]
        # the last line of the error, without the class name of our own error type
        assert errored["reason"].startswith("train.lora_target"), errored
        assert f"Target modules {{'{MISSING_MODULE}'}} not found" in errored["reason"], errored
        assert errored["steps_done"] == "0"

    # The curves file is complete and readable: every point of the trials that trained.
    curves = pq.read_table(sweep_dir / "curves.parquet").to_pylist()
    by_trial = {}
    for point in curves:
        by_trial.setdefault(point["trial_id"], []).append(point)
    assert set(by_trial) == {healthy["trial_id"], nan["trial_id"]}
    assert max(p["step"] for p in by_trial[healthy["trial_id"]]) == 8
    assert all(math.isfinite(p["loss"]) for p in by_trial[healthy["trial_id"]] if p["loss"] is not None)
    assert any(p["loss"] is not None and not math.isfinite(p["loss"]) for p in by_trial[nan["trial_id"]])
    assert {p["status"] for p in by_trial[nan["trial_id"]]} == {"pruned"}
