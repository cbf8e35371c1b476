"""A data-parallel trial (resources.workers_per_trial: 2, gloo) inside a real sweep."""

import csv
import json
import time

import psutil
import pyarrow.parquet as pq
import pytest
import yaml

from sweep_processes import kill_everything, sweeper

from sweeper.data.demo import DEMO_LABELS, demo_records
from sweeper.orchestrate.sweep import run_sweep
from sweeper.spec import validate_spec
from sweeper.trial.reporting import ListReporter
from sweeper.trial.train import TrialConfig, run_trial


def ledger_ids(folder):
    path = folder / "ledger.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["trial_id"] for line in lines if line.endswith("}")]

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


def train_workers(driver):
    """The Ray Train worker processes the sweep's driver started (their process title names them)."""
    workers = []
    for process in psutil.Process(driver.pid).children(recursive=True):
        try:
            if "RayTrainWorker" in " ".join(process.cmdline()):
                workers.append(process)
        except psutil.NoSuchProcess:
            continue
    return workers


def test_a_stopped_trial_frees_its_workers_and_a_killed_worker_resumes_from_the_checkpoint(tmp_path):
    """Two 2-worker trials on 2 CPUs, one at a time. The first diverges (learning rate 1e30: its loss is
    NaN from step 2) and the pruner stops it: the second can only start once both of its workers have ended and their
    placement group is free. One of the second trial's workers is SIGKILLed after its first
    checkpoint: Train restarts the worker group from it and the trial completes, each step once."""
    spec = spec_for(tmp_path, workers=2).model_dump(mode="json")
    # 24 steps, a checkpoint every 4: long enough for a STOP to reach a diverged trial mid-run.
    spec["train"].update(num_train_epochs=6, save_steps=4)
    spec["search"]["space"] = {"learning_rate": {"grid": [1e30, 3e-3]}}
    spec["pruner"] = {  # divergence only: the healthy trial must run to its end
        "enabled": True, "stop_on_stuck_plateau": False, "stop_when_too_slow": False, "staircase": "flag",
        "compare_to_best": False, "compare_to_precedent": False,
    }
    path = tmp_path / "dp.yaml"
    path.write_text(yaml.safe_dump(spec))
    folder = tmp_path / "results" / "dp"
    driver = sweeper("run", str(path))
    killed = None
    try:
        deadline = time.monotonic() + 400
        while killed is None:
            assert driver.poll() is None, driver.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the second trial made no checkpoint within 400 s"
            finished = set(ledger_ids(folder))
            second = [run for run in (folder / "train-runs").glob("train-*") if run.name[6:] not in finished]
            if finished and any(any(run.glob("checkpoint_*/sweeper_state.json")) for run in second):
                workers = train_workers(driver)
                if len(workers) == 2:
                    killed = workers[0].pid
                    workers[0].kill()
            time.sleep(0.2)
        out, _ = driver.communicate(timeout=400)
    finally:
        kill_everything(driver)
    assert driver.returncode == 0, out[-3000:]
    rows = {float(row["learning_rate"]) > 1: row for row in csv.DictReader(open(folder / "leaderboard.csv", newline=""))}
    diverged, healthy = rows[True], rows[False]
    assert diverged["status"] == "pruned" and diverged["verdict"] == "divergence", diverged
    assert int(diverged["steps_done"]) < int(diverged["max_steps"])
    assert healthy["status"] == "completed" and int(healthy["resumed_from"]) >= 4, healthy
    curves = pq.read_table(folder / "curves.parquet").to_pylist()
    steps = [p["step"] for p in curves if p["trial_id"] == healthy["trial_id"] and p["loss"] is not None]
    assert steps == list(range(1, 25)), steps  # each step once across the worker restart
