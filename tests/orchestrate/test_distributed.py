"""A data-parallel trial (resources.workers_per_trial: 2, gloo) inside a real sweep."""

import csv
import json

import pyarrow.parquet as pq
import pytest

from sweeper.data.demo import DEMO_LABELS, demo_records
from sweeper.orchestrate.sweep import run_sweep
from sweeper.spec import validate_spec
from sweeper.trial.reporting import ListReporter
from sweeper.trial.train import TrialConfig, run_trial

pytestmark = pytest.mark.slow

# The same global batch on one worker and on two gives the same curve up to float rounding
# (DDP averages the two halves' gradients; the windows sum both ranks' tokens).
TOLERANCE = 1e-5


def spec_for(tmp_path, workers):
    train, evals = demo_records(0)
    for name, records in (("train", train[:32]), ("eval", evals[:8])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return validate_spec(
        {
            "name": "dp",
            "storage": str(tmp_path / "results"),
            "dataset": {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "eval.jsonl"), "labels": list(DEMO_LABELS)},
            "train": {
                "num_train_epochs": 1,
                "per_device_train_batch_size": 8 // workers,
                "gradient_accumulation_steps": 1,
                "learning_rate": 3e-3,
                "logging_steps": 1,
                "save_steps": 2,
                "cutoff_len": 48,
                "lora_dropout": 0.0,
            },
            "search": {"algorithm": "grid", "num_samples": 1, "space": {"lora_rank": {"grid": [4]}}},
            "resources": {"cpu": 1, "workers_per_trial": workers},
            "pruner": {"enabled": False},
        },
        "dp.yaml",
    )


def test_two_worker_trial_matches_one_worker_with_the_same_global_batch(tmp_path):
    spec = spec_for(tmp_path, workers=2)
    outcome = run_sweep(spec, num_cpus=2, quiet=True)
    assert outcome.counts == {"completed": 1}
    with open(tmp_path / "results" / "dp" / "leaderboard.csv", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["global_batch"] == "8" and row["steps_done"] == row["max_steps"] == "4"  # 32 examples / 8
    curves = pq.read_table(tmp_path / "results" / "dp" / "curves.parquet").to_pylist()
    in_sweep = [(p["step"], p["loss"], p["label_loss"]) for p in curves if p["loss"] is not None]

    one = ListReporter()
    settings = spec.trial_settings({"lora_rank": 4}).model_copy(update={"per_device_train_batch_size": 8})
    run_trial(TrialConfig(spec.model, spec.dataset, settings, tmp_path / "one", num_threads=1), one)
    alone = [(p["step"], p["loss"], p["label_loss"]) for p in one.train_points]

    assert [s for s, _, _ in in_sweep] == [s for s, _, _ in alone] == [1, 2, 3, 4]
    for (_, loss, label), (_, loss_1, label_1) in zip(in_sweep, alone):
        assert loss == pytest.approx(loss_1, rel=TOLERANCE) and label == pytest.approx(label_1, rel=TOLERANCE)
    evals = [p["eval_loss"] for p in curves if p["eval_loss"] is not None]
    assert evals == pytest.approx([p["eval_loss"] for p in one.eval_points], rel=TOLERANCE)
