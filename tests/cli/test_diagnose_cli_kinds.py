"""`sweeper diagnose` for scripts and pipes: JSON errors on stdout, a closed pipe, the sweep's own decision."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sweeper.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "diagnose_corpus" / "runs"


def test_json_errors_go_to_stdout_as_json(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "absent.json"), "--format", "json"]) == 2
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["error"].endswith("absent.json: no such file or directory")
    assert doc["path"] == str(tmp_path / "absent.json")
    assert captured.err.startswith("error: ") and len(captured.err.strip().splitlines()) == 1


def test_text_errors_print_nothing_on_stdout(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "absent.json")]) == 2
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("reader", ["head -1", "true"])  # `true` exits at once: the write always hits a closed pipe
def test_closed_pipe_is_no_traceback(reader):
    log = CORPUS / "rameyjm7_lf_two_writers" / "trainer_log.jsonl"
    shell = f"set -o pipefail; {sys.executable} -m sweeper diagnose {log} | {reader}"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert done.stdout.strip() == (str(log) if reader == "head -1" else "")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


def test_resume_notes_are_shown(capsys):
    assert main(["diagnose", str(CORPUS / "rameyjm7_lf_two_writers" / "trainer_log.jsonl")]) == 0
    assert "note: steps go back 416 times" in capsys.readouterr().out


def test_a_sweep_trial_shows_the_decision_the_sweep_recorded(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"trial_id": "t1", "step": s, "loss": 2.0 - s / 100} for s in range(1, 41)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "curves.parquet")
    with open(tmp_path / "leaderboard.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["trial_id", "status", "verdict", "reason"])
        writer.writeheader()
        writer.writerow({"trial_id": "t1", "status": "pruned", "verdict": "plateau", "reason": "stopped: plateau at step 30"})
    (tmp_path / "trial_t1").mkdir()
    assert main(["diagnose", str(tmp_path / "trial_t1")]) == 0
    out = capsys.readouterr().out
    assert "sweep decision (online, as the pruner saw it): pruned, plateau: stopped: plateau at step 30" in out
    assert main(["diagnose", str(tmp_path), "--trial", "t1", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["sweep_decision"] == {"status": "pruned", "verdict": "plateau", "reason": "stopped: plateau at step 30"}
