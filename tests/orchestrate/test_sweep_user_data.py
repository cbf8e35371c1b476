"""Real 2-trial sweeps on users' own layouts: an LF dataset whose output holds label and
explanation together (include_explanation searched), and an OpenAI `messages` dataset with a local
model folder whose tokenizer carries a chat template."""

import csv
import json

import pyarrow.parquet as pq
import pytest

from sweeper.data.demo import DEMO_LABELS, demo_records
from sweeper.orchestrate.sweep import run_sweep
from sweeper.spec import validate_spec

pytestmark = pytest.mark.slow

TRAIN = {
    "num_train_epochs": 1,
    "per_device_train_batch_size": 16,
    "gradient_accumulation_steps": 1,
    "learning_rate": 3e-3,
    "logging_steps": 1,
    "save_steps": 1000,
    "cutoff_len": 128,
}


def rows_of(sweep_dir):
    with open(sweep_dir / "leaderboard.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_combined_output_lf_dataset_with_include_explanation_searched(tmp_path):
    train, evals = demo_records(0)
    records = [
        {"instruction": r["text"], "input": "", "output": f"{r['label']}\nExplanation: {r['explanation']}"}
        for r in train[:96] + evals[:24]
    ]
    (tmp_path / "reviews.json").write_text(json.dumps(records, indent=1))
    (tmp_path / "dataset_info.json").write_text(json.dumps({"reviews": {"file_name": "reviews.json"}}))
    spec = validate_spec({
        "name": "lf-combined",
        "storage": str(tmp_path / "results"),
        "dataset": {"dataset_info": str(tmp_path / "dataset_info.json"), "dataset_name": "reviews",
                    "eval_fraction": 0.2, "test_fraction": 0.2, "labels": list(DEMO_LABELS)},
        "train": TRAIN,
        "search": {"algorithm": "grid", "num_samples": 1, "space": {"include_explanation": {"grid": [True, False]}}},
        "resources": {"cpu": 1},
    })
    run_sweep(spec, num_cpus=2, quiet=True)
    rows = rows_of(tmp_path / "results" / "lf-combined")
    assert sorted(row["include_explanation"] for row in rows) == ["False", "True"]
    assert all(row["status"] in ("completed", "pruned") and row["best_eval_macro_f1"] for row in rows), rows
    curves = pq.read_table(tmp_path / "results" / "lf-combined" / "curves.parquet").to_pylist()
    with_explanation = {c["trial_id"] for c in curves if c.get("explanation_loss") is not None}
    explained = {row["trial_id"] for row in rows if row["include_explanation"] == "True"}
    assert with_explanation == explained  # the explanation read out of `output` was trained on
    # The held-out test set scored the best trial by eval (the leaderboard's first row), only it.
    scored = [row for row in rows if row["test_accuracy"]]
    assert [row["trial_id"] for row in scored] == [rows[0]["trial_id"]]
    assert 0 <= float(scored[0]["test_accuracy"]) <= 1 and 0 <= float(scored[0]["test_macro_f1"]) <= 1


def test_messages_dataset_with_a_local_chat_model(tmp_path, model_folders):
    train, evals = demo_records(0)

    def convo(r):
        return {"messages": [{"role": "system", "content": "Classify the review."},
                             {"role": "user", "content": r["text"]}, {"role": "assistant", "content": r["label"]}]}

    for name, part in (("train", train[:96]), ("eval", evals[:24])):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(convo(r)) + "\n" for r in part))
    spec = validate_spec({
        "name": "chat",
        "storage": str(tmp_path / "results"),
        "model": str(model_folders["llama3"]),
        "dataset": {"train": str(tmp_path / "train.jsonl"), "eval": str(tmp_path / "eval.jsonl"),
                    "labels": list(DEMO_LABELS)},
        "train": {**TRAIN, "include_explanation": False},
        "search": {"algorithm": "grid", "num_samples": 1, "space": {"lora_rank": {"grid": [4, 8]}}},
        "resources": {"cpu": 1},
    })
    run_sweep(spec, num_cpus=2, quiet=True)
    rows = rows_of(tmp_path / "results" / "chat")
    assert sorted(row["lora_rank"] for row in rows) == ["4", "8"]
    assert all(row["status"] in ("completed", "pruned") for row in rows), rows
    assert all(0 <= float(row["best_eval_macro_f1"]) <= 1 for row in rows)
