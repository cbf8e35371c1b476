"""A real 2-trial sweep through Ray Tune, Optuna's TPE and the convergence scheduler."""

import csv
import math

import pyarrow.parquet as pq
import pytest

from sweeper.orchestrate.sweep import run_sweep
from sweeper.spec import validate_spec

pytestmark = pytest.mark.slow


def tiny_spec(tmp_path, demo_data, **search):
    return validate_spec(
        {
            "name": "it",
            "storage": str(tmp_path / "results"),
            "model": "builtin:tiny-llama",
            "dataset": {
                "train": str(demo_data / "train.jsonl"),
                "eval": str(demo_data / "eval.jsonl"),
                "labels": ["positive", "negative", "neutral"],
            },
            "train": {
                "num_train_epochs": 2,
                "per_device_train_batch_size": 16,
                "gradient_accumulation_steps": 1,
                "learning_rate": 3e-3,
                "logging_steps": 2,
                "save_steps": 1000,
                "max_eval_samples": 60,
                "cutoff_len": 96,
            },
            "search": {
                "num_samples": 2,
                "seed": 1,
                "space": {"include_explanation": {"choice": [True, False]}, "lora_rank": {"choice": [4, 8]}},
                **search,
            },
            "resources": {"cpu": 1},
        }
    )


def test_two_trial_sweep_writes_curves_and_leaderboard(tmp_path, demo_data):
    spec = tiny_spec(tmp_path, demo_data)
    outcome = run_sweep(spec, num_cpus=2, quiet=True)

    sweep_dir = tmp_path / "results" / "it"
    assert outcome.sweep_dir == sweep_dir
    assert (sweep_dir / "spec.yaml").exists()
    with open(sweep_dir / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    for row in rows:
        assert row["status"] in ("completed", "pruned"), row
        assert row["verdict"] in ("healthy", "plateau", "staircase", "divergence"), row
        assert int(row["steps_done"]) > 0
        assert row["include_explanation"] in ("True", "False")
        assert row["best_eval_macro_f1"] != ""
        assert row["samples_truncated"] != "" and row["samples_dropped"] != ""

    curves = pq.read_table(sweep_dir / "curves.parquet").to_pylist()
    trial_ids = {row["trial_id"] for row in rows}
    assert {c["trial_id"] for c in curves} == trial_ids
    for trial_id in trial_ids:
        points = [c for c in curves if c["trial_id"] == trial_id]
        train = [p for p in points if p["loss"] is not None]
        evals = [p for p in points if p["eval_macro_f1"] is not None]
        assert len(train) >= 3 and evals, "every logging step and every evaluation is a point"
        steps = [p["step"] for p in train]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)
        assert all(math.isfinite(p["label_loss"]) for p in train)
        has_explanation = points[0]["param_include_explanation"]
        assert all((p["explanation_loss"] is not None) == has_explanation for p in train)
    # Ray Tune's own experiment folder sits beside ours, trials checkpointed at epoch ends
    assert any(p.name.startswith("experiment_state") for p in sweep_dir.iterdir())
    for trial_id in trial_ids:
        checkpoints = list((sweep_dir / f"trial_{trial_id}").glob("checkpoint_*/trainer_state.json"))
        assert checkpoints, f"trial {trial_id} left no checkpoint"
    assert (sweep_dir / "curves.png").stat().st_size > 10_000
