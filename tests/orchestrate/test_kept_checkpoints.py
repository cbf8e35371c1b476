"""Each trial keeps its latest checkpoint (to resume from) and its best by the sweep's metric (the
adapter the leaderboard names), and no other."""

import csv

import pyarrow.parquet as pq
import pytest
import yaml

from sweeper.cli import main
from sweeper.results.leaderboard import kept_checkpoints


@pytest.mark.slow
def test_each_trial_keeps_its_best_and_its_latest_checkpoint(tmp_path, demo_data):
    spec = {
        "name": "kept",
        "storage": str(tmp_path / "results"),
        "dataset": {
            "train": str(demo_data / "train.jsonl"),
            "eval": str(demo_data / "eval.jsonl"),
            "labels": ["positive", "negative", "neutral"],
            "max_samples": 32,
        },
        "train": {
            "num_train_epochs": 5,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "logging_steps": 1,
            "max_eval_samples": 24,
            "cutoff_len": 48,
        },
        # At 0.15 the tiny model's eval F1 peaks at its second of five evals (0.26, then 0.15-0.17):
        # keeping only the latest two checkpoints would lose its best.
        "search": {"algorithm": "grid", "num_samples": 1, "space": {"learning_rate": {"grid": [1e-2, 0.15]}}},
        "pruner": {"enabled": False},
        "resources": {"cpu": 1},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert main(["run", str(path), "--num-cpus", "2"]) == 0
    folder = tmp_path / "results" / "kept"
    curves = pq.read_table(folder / "curves.parquet").to_pylist()
    rows = list(csv.DictReader(open(folder / "leaderboard.csv", newline="")))
    assert len(rows) == 2
    best_earlier = 0
    for row in rows:
        trial = row["trial_id"]
        evals = {p["step"]: p["eval_macro_f1"] for p in curves if p["trial_id"] == trial and p["eval_macro_f1"] is not None}
        assert len(evals) == 5  # one eval (and one checkpoint) per epoch
        kept = kept_checkpoints(folder / f"trial_{trial}")
        last = max(p["step"] for p in curves if p["trial_id"] == trial)
        assert last in kept and len(kept) <= 2, (sorted(kept), evals)
        best_steps = {step for step, value in evals.items() if value == max(evals.values())}
        assert best_steps & set(kept), (sorted(kept), evals)
        if not best_steps & set(sorted(evals)[-2:]):
            best_earlier += 1  # keeping only the latest two would have lost this one's best
        best_kept = max((step for step in kept if step in evals), key=lambda step: evals[step])
        assert row["adapter_path"] == kept[best_kept] and float(row["score"]) == pytest.approx(max(evals.values()), abs=1e-4)
    assert best_earlier, "no trial peaked before its last two evals: the test shows nothing"
