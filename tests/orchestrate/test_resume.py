"""`sweeper resume`: a sweep whose driver and every process it started were SIGKILLed continues
where it stopped: no finished trial trains again, interrupted trials continue from their
checkpoints with each step once, and the leaderboard agrees with the curves."""

import csv
import json
import time

import pyarrow.parquet as pq
import pytest
import yaml
from pyarrow.fs import LocalFileSystem

from sweep_processes import kill_everything, sweeper
from sweeper.cli import main
from sweeper.results.stored_checkpoints import persisted_checkpoints

LOGGING_STEPS = 1
TRIALS = 6


def spec_dict(tmp_path, demo_data, num_samples=TRIALS):
    return {
        "name": "kill",
        "storage": str(tmp_path / "results"),
        "dataset": {
            "train": str(demo_data / "train.jsonl"),
            "eval": str(demo_data / "eval.jsonl"),
            "labels": ["positive", "negative", "neutral"],
            "max_samples": 48,
        },
        "train": {
            "num_train_epochs": 2,
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "logging_steps": LOGGING_STEPS,
            "save_steps": 3,
            "max_eval_samples": 16,
            "cutoff_len": 48,
        },
        "search": {
            "num_samples": num_samples,
            "seed": 3,
            "space": {"lora_rank": {"choice": [4, 8]}, "learning_rate": {"loguniform": [1e-4, 1e-2]}},
        },
        "resources": {"cpu": 1},
    }


def ledger_ids(folder):
    path = folder / "ledger.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["trial_id"] for line in path.read_text().splitlines() if line.endswith("}")]


def training_results(folder, trial_id):
    """Ray's own log of a trial's results (appended on every start): those that carried points."""
    path = folder / f"trial_{trial_id}" / "result.json"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line) for line in lines if json.loads(line).get("points")]


def points_on_disk(folder):
    try:
        return pq.read_table(folder / "curves.parquet").num_rows
    except Exception:  # not written yet, or being replaced
        return 0


def mid_trial(folder, finished_at_start):
    """A trial in flight has a whole checkpoint in the first half of its 12 steps."""
    finished = ledger_ids(folder)
    for trial in folder.glob("trial_*"):
        steps = [step for step, _ in persisted_checkpoints(LocalFileSystem(), str(trial))]
        if trial.name[6:] not in finished and steps and max(steps) <= 6:
            return True
    return False


def just_after_a_trial_finished(folder, finished_at_start):
    return len(ledger_ids(folder)) > finished_at_start


def between_trials(folder, finished_at_start):
    """A trial finished and a new one was made, which has not trained yet."""
    return ledger_ids(folder) and any(
        not (trial / "result.json").exists() or not (trial / "result.json").read_text().strip()
        for trial in folder.glob("trial_*")
    )


def check_completed(folder, before):
    rows = list(csv.DictReader(open(folder / "leaderboard.csv", newline="")))
    assert len(rows) == TRIALS, [row["trial_id"] for row in rows]
    assert {row["status"] for row in rows} <= {"completed", "pruned", "errored"}, rows
    finished = ledger_ids(folder)
    assert sorted(finished) == sorted(row["trial_id"] for row in rows)  # each trial once in the ledger
    for trial_id, results in before.items():  # no finished trial trained again
        assert len(training_results(folder, trial_id)) == results, trial_id
    curves = pq.read_table(folder / "curves.parquet").to_pylist()
    for row in rows:
        steps = [p["step"] for p in curves if p["trial_id"] == row["trial_id"] and p["loss"] is not None]
        assert steps and steps[0] == LOGGING_STEPS, (row["trial_id"], steps)
        gaps = [b - a for a, b in zip(steps, steps[1:])]
        assert all(0 < gap <= LOGGING_STEPS for gap in gaps), (row["trial_id"], steps)
        assert int(row["steps_done"]) == max(p["step"] for p in curves if p["trial_id"] == row["trial_id"])
        if row["status"] == "completed":
            assert int(row["steps_done"]) == int(row["max_steps"])


def resumed_from_a_checkpoint(folder):
    """Trials whose latest attempt started from a checkpoint (the step the trial states as `resumed_from`)."""
    rows = list(csv.DictReader(open(folder / "leaderboard.csv", newline="")))
    return [row["trial_id"] for row in rows if row["resumed_from"] and int(float(row["resumed_from"])) > 0]


@pytest.mark.slow
@pytest.mark.parametrize("moment", [mid_trial, just_after_a_trial_finished, between_trials], ids=lambda f: f.__name__)
def test_a_sigkilled_sweep_resumes_without_running_a_finished_trial_again(tmp_path, demo_data, moment):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(tmp_path, demo_data)))
    folder = tmp_path / "results" / "kill"
    driver = sweeper("run", str(spec))
    try:
        deadline = time.monotonic() + 300
        finished_at_start = 0
        while not moment(folder, finished_at_start):
            assert driver.poll() is None, driver.communicate()[0][-3000:]
            assert time.monotonic() < deadline, f"{moment.__name__} not seen within 300 s"
            if moment is just_after_a_trial_finished and not finished_at_start:
                finished_at_start = len(ledger_ids(folder)) or 0
            time.sleep(0.05)
    finally:
        kill_everything(driver)
    before = {trial_id: len(training_results(folder, trial_id)) for trial_id in ledger_ids(folder)}
    assert len(before) < TRIALS

    resumed = sweeper("resume", str(folder))
    out, _ = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, out[-3000:]
    assert "Traceback" not in out
    check_completed(folder, before)
    if moment is mid_trial:
        assert resumed_from_a_checkpoint(folder), "no trial continued from its checkpoint"


@pytest.mark.slow
def test_resume_extends_a_finished_sweep_by_exactly_the_added_trials(tmp_path, demo_data, capsys):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict(tmp_path, demo_data, num_samples=2)))
    folder = tmp_path / "results" / "kill"
    assert main(["run", str(spec), "--num-cpus", "2"]) == 0
    first = ledger_ids(folder)
    before = {trial_id: len(training_results(folder, trial_id)) for trial_id in first}
    assert main(["resume", str(folder), "--set", "search.num_samples=6", "--num-cpus", "2"]) == 0
    check_completed(folder, before)
    assert ledger_ids(folder)[:2] == first and len(set(ledger_ids(folder))) == 6


def test_resume_refuses_changes_that_would_change_finished_trials(tmp_path, demo_data, capsys):
    folder = tmp_path / "results" / "kill"
    folder.mkdir(parents=True)
    (folder / ".sweeper-sweep").write_text("")
    (folder / "spec.yaml").write_text(yaml.safe_dump(spec_dict(tmp_path, demo_data)))
    before = sorted((p.name, p.read_bytes()) for p in folder.iterdir())
    assert main(["resume", str(folder), "--set", "train.learning_rate=1e-3"]) == 2
    err = capsys.readouterr().err
    assert "--set train.learning_rate=1e-3: a resumed sweep keeps what its finished trials mean" in err
    assert err.count("\n") == 1
    assert main(["resume", str(tmp_path / "nowhere")]) == 2
    assert "not a sweep folder" in capsys.readouterr().err
    assert sorted((p.name, p.read_bytes()) for p in folder.iterdir()) == before
