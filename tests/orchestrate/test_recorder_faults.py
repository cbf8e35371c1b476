"""The recorder when writing fails mid-sweep (disk full), and the error line of a failed trial."""

import csv
import errno
import os
from types import SimpleNamespace

import pytest

from sweeper.adapters.ray_scheduler import ConvergenceScheduler
from sweeper.errors import SweeperError
from sweeper.orchestrate.recorder import SweepRecorder, error_line
from sweeper.results import store
from sweeper.rules import PrunerSettings


def trial(trial_id, **config):
    return SimpleNamespace(trial_id=trial_id, config=config, error_file=None)


def result(step):
    return {"step": step, "epoch": step / 50, "loss": 1.0 / step, "label_loss": 1.0 / step, "max_steps": 100}


def feed(scheduler, recorder, t, step):
    """As Ray's controller does: the scheduler sees each report before the callbacks."""
    scheduler.on_trial_result(None, t, result(step))
    recorder.on_trial_result(0, [], t, result(step))


def test_disk_full_mid_sweep_warns_once_keeps_points_and_fails_the_final_write(tmp_path, monkeypatch, capsys):
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    recorder = SweepRecorder(tmp_path, ["learning_rate"], "eval_macro_f1", "max", scheduler, flush_seconds=0)
    t = trial("a", learning_rate=1e-3)
    recorder.on_trial_start(0, [], t)
    feed(scheduler, recorder, t, 2)
    before = (tmp_path / "leaderboard.csv").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(store.os, "fsync", full)
    for step in (4, 6, 8):  # every result tries to write; none may raise into Ray
        feed(scheduler, recorder, t, step)
    recorder.on_experiment_end([])
    warnings = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(warnings) == 1 and "disk full" in warnings[0] and "leaderboard.csv" in warnings[0]
    assert (tmp_path / "leaderboard.csv").read_bytes() == before  # the last complete version
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.parquet", "leaderboard.csv"]
    with pytest.raises(SweeperError, match="disk full while writing; the previous version is intact"):
        recorder.flush()  # what the driver does after the sweep: this one fails loudly

    monkeypatch.undo()  # space again: the next write has every point
    recorder.flush()
    (row,) = csv.DictReader(open(tmp_path / "leaderboard.csv"))
    assert row["steps_done"] == "8"


def test_error_line_drops_the_class_name_of_our_own_errors(tmp_path):
    crash = tmp_path / "error.txt"
    crash.write_text(
        "Traceback (most recent call last):\n  File x\n"
        "sweeper.errors.SweeperError: train.lora_target ['q']: Target modules {'q'} not found in the base model.\n"
    )
    assert error_line(SimpleNamespace(error_file=str(crash))) == (
        "train.lora_target ['q']: Target modules {'q'} not found in the base model."
    )


def test_finished_trials_reach_the_ledger_and_a_line_cut_by_a_kill_is_ignored(tmp_path):
    from sweeper.orchestrate.ledger import Ledger

    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    recorder = SweepRecorder(tmp_path, ["learning_rate"], "eval_macro_f1", "max", scheduler, flush_seconds=0)
    t = trial("a", learning_rate=1e-3)
    recorder.on_trial_start(0, [], t)
    feed(scheduler, recorder, t, 2)
    scheduler.on_trial_complete(None, t, {})
    recorder.on_trial_complete(0, [], t)
    with open(tmp_path / "ledger.jsonl", "a") as handle:
        handle.write('{"trial_id": "b", "par')  # a kill mid-write
    (record,) = Ledger(tmp_path).load().values()
    assert record.trial_id == "a" and record.status == "completed" and record.points[0]["step"] == 2
    recorder.on_trial_complete(0, [], t)  # Ray re-running a finished trial changes nothing
    assert (tmp_path / "ledger.jsonl").read_text().count('"trial_id": "a"') == 1


def test_a_trial_restarted_from_its_checkpoint_replaces_the_points_after_it(tmp_path):
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    recorder = SweepRecorder(tmp_path, ["learning_rate"], "eval_macro_f1", "max", scheduler, flush_seconds=0)
    t = trial("a", learning_rate=1e-3)
    for step in (2, 4, 6, 8):
        feed(scheduler, recorder, t, step)
    for report in ({"step": 8, "max_steps": 100}, {"step": 8, "eval_macro_f1": 0.5}):  # checkpoint, then eval
        scheduler.on_trial_result(None, t, report)
        recorder.on_trial_result(0, [], t, report)
    assert [p["step"] for p in recorder.records["a"].points] == [2, 4, 6, 8, 8, 8]
    for step in (6, 8, 10):  # the process died; Ray restarted it from the checkpoint at step 4
        feed(scheduler, recorder, t, step)
    assert [p["step"] for p in recorder.records["a"].points] == [2, 4, 6, 8, 10]
