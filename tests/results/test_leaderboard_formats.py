"""`sweeper leaderboard` on real sweep outputs, in every format."""

import csv
import io
import json

import pytest

from sweeper.cli import main

pytestmark = pytest.mark.slow


def leaderboard(capsys, folder, *args):
    assert main(["leaderboard", str(folder), *args]) == 0
    return capsys.readouterr().out


def test_completed_trials_rank_above_every_pruned_one(sweeps, capsys):
    rows = json.loads(leaderboard(capsys, sweeps["with"], "--format", "json"))
    statuses = [row["status"] for row in rows]
    assert "completed" in statuses and "pruned" in statuses, statuses
    last_completed = max(i for i, s in enumerate(statuses) if s == "completed")
    first_pruned = min(i for i, s in enumerate(statuses) if s == "pruned")
    assert last_completed < first_pruned
    completed = [row for row in rows if row["status"] == "completed"]
    assert [row["score"] for row in completed] == sorted((row["score"] for row in completed), reverse=True)
    for row in completed:
        assert row["metric"] == "eval_macro_f1" and row["num_eval"] == 60
        # the binomial SE of the eval rows: sqrt(p (1 - p) / n)
        assert row["score_se"] == pytest.approx((row["score"] * (1 - row["score"]) / 60) ** 0.5, abs=1e-4)
        assert row["final_score"] is not None and row["steps_done"] == row["max_steps"]
        assert row["adapter_path"] and row["adapter_path"].endswith(tuple(f"checkpoint_{i:06d}" for i in range(10)))
    for row in rows:
        if row["status"] == "pruned":
            assert row["stopped_by"] in ("too_slow", "outpaced", "precedent", "stuck", "memorising", "diverged", "staircase", "converged")
            assert row["reason"].startswith("stopped: ") and len(row["reason"]) > 60  # in full
            assert 0 <= row["saved_share"] == pytest.approx(1 - row["steps_done"] / row["max_steps"], abs=1e-4)
        assert row["final_explanation_loss"] is not None  # the explanation is in this sweep's targets


def test_every_format_holds_the_same_rows(sweeps, capsys):
    as_json = json.loads(leaderboard(capsys, sweeps["with"], "--format", "json"))
    as_csv = list(csv.DictReader(io.StringIO(leaderboard(capsys, sweeps["with"], "--format", "csv"))))
    markdown = leaderboard(capsys, sweeps["with"], "--format", "markdown").splitlines()
    table = leaderboard(capsys, sweeps["with"]).splitlines()
    ids = [row["trial_id"] for row in as_json]
    assert [row["trial_id"] for row in as_csv] == ids
    assert [line.split("|")[1].strip() for line in markdown[2:]] == ids
    assert markdown[0].startswith("| trial_id | status | duplicate_of | verdict | stopped_by | reason | learning_rate | metric")
    assert [line.split()[0] for line in table[2 : 2 + len(ids)]] == ids
    assert table[0].split()[:5] == ["trial_id", "status", "verdict", "stopped_by", "learning_rate"]
    assert "saved by pruning" in table[-1]
    # the full reason in csv and markdown; cut in the narrow table
    longest = max((row["reason"] for row in as_json), key=len)
    assert longest in "\n".join(markdown) and any(row["reason"] == longest for row in as_csv)
    if len(longest) > 60:
        assert longest not in "\n".join(table)


def test_status_sort_and_top(sweeps, capsys):
    pruned = json.loads(leaderboard(capsys, sweeps["with"], "--format", "json", "--status", "pruned"))
    assert pruned and {row["status"] for row in pruned} == {"pruned"}
    by_lr = json.loads(leaderboard(capsys, sweeps["with"], "--format", "json", "--sort", "learning_rate", "--top", "2"))
    assert [row["learning_rate"] for row in by_lr] == [3e-2, 3e-3]
    assert main(["leaderboard", str(sweeps["with"]), "--sort", "nope"]) == 2
    assert "--sort nope: no such column" in capsys.readouterr().err
