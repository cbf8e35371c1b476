import math

import pyarrow.parquet as pq

from sweeper.results.curves import write_curves
from sweeper.results.leaderboard import TrialRecord, leaderboard_rows, read_leaderboard, write_leaderboard


def record(trial_id, status, f1s, label_losses, **facts):
    points = [{"step": 2 * i + 2, "epoch": 0.1 * i, "loss": 2.0, "label_loss": v} for i, v in enumerate(label_losses)]
    points += [{"step": 10 * (i + 1), "eval_macro_f1": f, "eval_accuracy": f, "eval_label_loss": 1 - f} for i, f in enumerate(f1s)]
    points.sort(key=lambda p: p["step"])
    return TrialRecord(trial_id, {"learning_rate": 1e-3, "include_explanation": True}, status=status, points=points, facts=facts)


def test_rows_rank_by_best_metric_with_errored_and_unscored_last():
    records = [
        record("slow", "completed", [0.4, 0.5], [1.0, 0.9], max_steps=40, samples_truncated=0, samples_dropped=0),
        record("good", "completed", [0.7, 0.95, 0.9], [0.5, 0.2], max_steps=40, samples_truncated=2, samples_dropped=1),
        record("early", "pruned", [], [float("nan")], max_steps=40),
        TrialRecord("broken", {"learning_rate": 1.0}, status="errored", error="RuntimeError: boom"),
    ]
    rows = leaderboard_rows(records, ["learning_rate", "include_explanation"], "eval_macro_f1")
    assert [r["trial_id"] for r in rows][:2] == ["good", "slow"]
    assert {r["trial_id"] for r in rows[2:]} == {"early", "broken"}
    good = rows[0]
    assert good["best_eval_macro_f1"] == 0.95  # the best, not the last
    assert good["final_label_loss"] == 0.2
    assert (good["samples_truncated"], good["samples_dropped"], good["max_steps"]) == (2, 1, 40)
    assert math.isnan(rows[[r["trial_id"] for r in rows].index("early")]["final_label_loss"])
    assert rows[-1]["reason"] == "RuntimeError: boom" or rows[-2]["reason"] == "RuntimeError: boom"


def test_leaderboard_and_curves_round_trip(tmp_path):
    records = [record("a", "completed", [0.5], [1.0, 0.5]), record("b", "pruned", [], [2.0])]
    params = ["learning_rate", "include_explanation"]
    write_leaderboard(tmp_path / "leaderboard.csv", leaderboard_rows(records, params, "eval_macro_f1"), params)
    rows = read_leaderboard(tmp_path)
    assert [r["trial_id"] for r in rows] == ["a", "b"]
    assert rows[1]["status"] == "pruned"
    write_curves(tmp_path / "curves.parquet", records, params)
    table = pq.read_table(tmp_path / "curves.parquet")
    assert table.num_rows == sum(len(r.points) for r in records)
    assert table.schema.field("param_include_explanation").type == "bool"
    assert set(table.column("trial_id").to_pylist()) == {"a", "b"}
