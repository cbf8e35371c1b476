"""A sweep on a running two-node Ray cluster (`--address`): trials land on both nodes, and a trial
whose node is lost mid-trial (its raylet SIGKILLed) finishes on the head from its checkpoint."""

import csv
import json
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import yaml

from sweeper.data.demo import DEMO_LABELS, demo_records

pytestmark = pytest.mark.slow

LOGGING_STEPS, SAVE_STEPS = 2, 10


def write_spec(tmp_path, name, train_rows, **train):
    records, evals = demo_records(0)
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    for part, rows in (("train", records[:train_rows]), ("eval", evals[:12])):
        (data / f"{part}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "name": name,
        "storage": str(tmp_path / "results"),  # one machine: the local folder is every node's shared storage
        "dataset": {"train": str(data / "train.jsonl"), "eval": str(data / "eval.jsonl"), "labels": list(DEMO_LABELS)},
        "train": {
            "num_train_epochs": 2,
            "per_device_train_batch_size": 4,
            "gradient_accumulation_steps": 1,
            "learning_rate": 3e-3,
            "logging_steps": LOGGING_STEPS,
            "save_steps": SAVE_STEPS,
            "cutoff_len": 48,
            "include_explanation": False,
            **train,
        },
        "search": {"algorithm": "grid", "num_samples": 1, "space": {"lora_rank": {"grid": [4, 8]}}},
        "pruner": {"enabled": False},
        "resources": {"cpu": 1},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def rows_of(folder):
    try:
        with open(folder / "leaderboard.csv", newline="") as handle:
            return list(csv.DictReader(handle))
    except OSError:
        return []


def start_sweep(cluster, spec, *extra):
    return subprocess.Popen(
        [sys.executable, "-m", "sweeper", "run", str(spec), "--address", cluster.address, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=cluster.env,
    )


def wait_for(driver, condition, what, timeout=300):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if driver.poll() is not None:
            raise AssertionError(f"the sweep ended before {what}:\n{driver.communicate()[0][-4000:]}")
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.3)


def train_steps(curves, trial_id):
    return [p["step"] for p in curves if p["trial_id"] == trial_id and p["loss"] is not None]


def test_trials_use_both_nodes_and_a_lost_node_costs_only_the_steps_since_its_checkpoint(tmp_path, ray_cluster):
    spec = write_spec(tmp_path, "onnodes", train_rows=200)  # 50 steps an epoch, 100 a trial
    folder = tmp_path / "results" / "onnodes"
    driver = start_sweep(ray_cluster, spec)
    try:
        # The trial on the worker node has made its first checkpoint (the leaderboard is written
        # at each one) and is still training: lose that node now.
        def on_worker_past_a_checkpoint():
            return [r for r in rows_of(folder) if r["node"] == "worker" and r["status"] == "running"
                    and SAVE_STEPS <= int(r["steps_done"] or 0) < 80]

        (doomed,) = wait_for(driver, on_worker_past_a_checkpoint, "a trial on the worker passed a checkpoint")
        ray_cluster.raylet("worker").kill()
        out, _ = driver.communicate(timeout=400)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    assert driver.returncode == 0, out[-4000:]

    rows = {row["trial_id"]: row for row in rows_of(folder)}
    assert [row["status"] for row in rows.values()] == ["completed", "completed"], rows
    # Placement, from the trials' own node facts: one trial started on each node.
    assert {row["node"].split(" > ")[0] for row in rows.values()} == {"head", "worker"}, rows
    moved = rows[doomed["trial_id"]]
    assert moved["node"] == "worker > head", moved
    resumed_from = int(moved["resumed_from"])
    assert resumed_from >= SAVE_STEPS and resumed_from % SAVE_STEPS == 0, moved  # a checkpoint, not step 0

    curves = pq.read_table(folder / "curves.parquet").to_pylist()
    steps = train_steps(curves, moved["trial_id"])
    assert steps[0] == LOGGING_STEPS and steps[-1] == int(moved["max_steps"]) == 100, steps
    gaps = [b - a for a, b in zip(steps, steps[1:])]
    assert all(0 < gap <= LOGGING_STEPS for gap in gaps), (steps, moved)  # no step twice, none missing
