"""Stopping a sweep: the first SIGINT / SIGTERM stops it cleanly (exit 130 / 143, trials in flight
marked interrupted, finished ones in the ledger); folders sweeper did not make are never emptied;
an unreachable Ray head fails in seconds and leaves no folder."""

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

from sweeper.cli import main
from sweeper.orchestrate import sweep


def spec_dict(tmp_path, demo_data, **search):
    return {
        "name": "it",
        "storage": str(tmp_path / "results"),
        "dataset": {
            "train": str(demo_data / "train.jsonl"),
            "eval": str(demo_data / "eval.jsonl"),
            "labels": ["positive", "negative", "neutral"],
        },
        "train": {
            "num_train_epochs": 3,
            "per_device_train_batch_size": 16,
            "logging_steps": 2,
            "save_steps": 4,
            "max_eval_samples": 30,
            "cutoff_len": 64,
        },
        "search": {"num_samples": 4, "seed": 1, "space": {"lora_rank": {"choice": [4, 8]}}, **search},
        "pruner": {"enabled": False},
        "resources": {"cpu": 1},
    }


def write_spec(tmp_path, demo_data):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict(tmp_path, demo_data)))
    return path


def test_overwrite_refuses_a_folder_sweeper_did_not_make(tmp_path, demo_data, capsys):
    spec = write_spec(tmp_path, demo_data)
    notes = tmp_path / "results" / "it" / "notes"
    notes.mkdir(parents=True)
    (notes / "important.txt").write_text("keep me")
    assert main(["run", str(spec), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert "holds files that are not a sweep's; nothing was touched" in err and err.count("\n") == 1
    assert (notes / "important.txt").read_text() == "keep me"
    assert sorted(p.name for p in (tmp_path / "results" / "it").iterdir()) == ["notes"]


def test_run_on_a_sweep_folder_names_overwrite(tmp_path, demo_data, capsys):
    spec = write_spec(tmp_path, demo_data)
    folder = tmp_path / "results" / "it"
    folder.mkdir(parents=True)
    (folder / ".sweeper-sweep").write_text("")
    (folder / "leaderboard.csv").write_text("trial_id,status\n")
    assert main(["run", str(spec)]) == 2
    err = capsys.readouterr().err
    assert "a sweep already ran here" in err and "--overwrite" in err and f"sweeper resume {folder}" in err
    assert (folder / "leaderboard.csv").read_text() == "trial_id,status\n"


def test_an_unreachable_address_fails_fast_with_one_line_and_no_folder(tmp_path, demo_data, capsys, monkeypatch):
    spec = write_spec(tmp_path, demo_data)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setattr(sweep, "REACH_TIMEOUT_S", 2.0)
    started = time.monotonic()
    assert main(["run", str(spec), "--address", f"127.0.0.1:{port}"]) == 2
    assert time.monotonic() - started < 20
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"--address 127.0.0.1:{port}: no Ray head answers there" in err
    assert "ray start --head" in err
    assert not (tmp_path / "results").exists()


def _points_on_disk(folder):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(folder / "curves.parquet").num_rows
    except Exception:  # not written yet, or being replaced
        return 0


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_first_signal_stops_cleanly_and_marks_trials_interrupted(tmp_path, demo_data, signum, code):
    spec = write_spec(tmp_path, demo_data)
    folder = tmp_path / "results" / "it"
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    driver = subprocess.Popen(
        [sys.executable, "-m", "sweeper", "run", str(spec), "--num-cpus", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while _points_on_disk(folder) < 4:  # trials are training: their points reach the files
            assert driver.poll() is None, driver.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "no trial reported within 300 s"
            time.sleep(0.5)
        driver.send_signal(signum)
        out, _ = driver.communicate(timeout=240)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
            driver.wait()
    assert driver.returncode == code, out[-3000:]
    rows = list(csv.DictReader(open(folder / "leaderboard.csv", newline="")))
    statuses = [row["status"] for row in rows]
    assert "interrupted" in statuses and "running" not in statuses, statuses
    assert "Interrupted:" in out and "Traceback" not in out
    finished = [json.loads(line)["trial_id"] for line in (folder / "ledger.jsonl").read_text().splitlines()] if (
        folder / "ledger.jsonl"
    ).exists() else []
    # (lora_rank {4, 8} over 4 TPE trials: a repeated rank is a duplicate, sweeper.orchestrate.duplicates)
    ended = ("completed", "pruned", "errored", "duplicate")
    assert sorted(finished) == sorted(row["trial_id"] for row in rows if row["status"] in ended)
    # Ray wrote its final snapshot (SIGTERM went through Ray's SIGINT path): no trial left RUNNING there
    state = max(folder.glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    assert state.stat().st_size > 0
    assert f"Continue with: sweeper resume {folder}" in out
    # each trial in flight saved a checkpoint at the step it reached (no point recorded after it,
    # whatever save_steps says): a resume loses no training
    from sweeper.results.leaderboard import kept_checkpoints

    for row in rows:
        if row["status"] == "interrupted" and row["steps_done"]:
            assert max(kept_checkpoints(folder / f"trial_{row['trial_id']}"), default=0) >= int(row["steps_done"]), row

    # and `resume` finishes it: every trial of the sweep once, none still interrupted
    resumed = subprocess.run(
        [sys.executable, "-m", "sweeper", "resume", str(folder), "--num-cpus", "2"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    rows = list(csv.DictReader(open(folder / "leaderboard.csv", newline="")))
    assert len(rows) == 4 and {row["status"] for row in rows} <= set(ended), rows
    ledger = [json.loads(line)["trial_id"] for line in (folder / "ledger.jsonl").read_text().splitlines()]
    assert sorted(ledger) == sorted(row["trial_id"] for row in rows)
    assert all(trial in ledger for trial in finished)
