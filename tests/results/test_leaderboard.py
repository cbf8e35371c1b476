import math

import pyarrow.parquet as pq

from sweeper.results.curves import write_curves
from sweeper.results.leaderboard import TrialRecord, leaderboard_rows, pruning_summary, read_leaderboard, write_leaderboard


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


def test_the_score_is_the_best_eval_whose_checkpoint_is_kept(tmp_path):
    # evals at steps 10, 20, 30; the best (step 10) has had its checkpoint deleted by Ray
    for step in (20, 30):
        folder = tmp_path / "trial_t" / f"checkpoint_{step:06d}"
        folder.mkdir(parents=True)
        (folder / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    trial = record("t", "completed", [0.9, 0.6, 0.7], [1.0], max_steps=30, num_eval=50)
    row = leaderboard_rows([trial], ["learning_rate"], "eval_macro_f1", tmp_path)[0]
    assert (row["score"], row["score_step"], row["final_score"]) == (0.7, 30, 0.7)
    assert row["best_eval_macro_f1"] == 0.9  # still shown, but not what the adapter on disk scores
    assert row["adapter_path"] == str(tmp_path / "trial_t" / "checkpoint_000030")
    assert row["score_se"] == round(math.sqrt(0.7 * 0.3 / 50), 4)


def test_a_collapsed_pruned_trial_ranks_below_every_completed_one():
    collapsed = record("collapsed", "pruned", [0.56, 0.26, 0.32], [1.1], max_steps=96)
    modest = record("modest", "completed", [0.3, 0.4], [0.5], max_steps=40)
    rows = leaderboard_rows([collapsed, modest], ["learning_rate"], "eval_macro_f1")
    assert [r["trial_id"] for r in rows] == ["modest", "collapsed"]


def test_pruning_summary_counts_late_prunes_apart_and_never_unrun_trials():
    rows = [
        {"status": "completed", "steps_done": 96, "max_steps": 96},
        {"status": "pruned", "steps_done": 94, "max_steps": 96},  # in its last 5%: saved 2 steps
        {"status": "pruned", "steps_done": 30, "max_steps": 96},
        {"status": "running", "steps_done": 10, "max_steps": 96},  # an interrupted sweep never planned these
        {"status": "pending", "steps_done": 0, "max_steps": None},
    ]
    summary = pruning_summary(rows)
    assert (summary.steps_run, summary.steps_planned, summary.pruned, summary.late, summary.late_steps_saved) == (220, 288, 2, 1, 2)
    assert "1 of them in their last 5% of steps (saving 2 steps)" in summary.line()


def test_the_report_names_the_original_of_a_duplicate_only_when_the_sweep_has_one(tmp_path):
    from sweeper.results.report import board_columns
    from sweeper.results.sweep_view import SweepView

    params = ["learning_rate", "include_explanation"]
    original = record("a", "completed", [0.5], [1.0, 0.5])
    for name, records in (("plain", [original]), ("repeats", [original, TrialRecord("b", {"learning_rate": 1e-3}, status="duplicate", duplicate_of="a")])):
        (tmp_path / name).mkdir()
        write_leaderboard(tmp_path / name / "leaderboard.csv", leaderboard_rows(records, params, "eval_macro_f1"), params)
    assert "duplicate_of" not in board_columns(SweepView.load(tmp_path / "plain"))
    columns = board_columns(SweepView.load(tmp_path / "repeats"))
    assert columns[:3] == ["trial_id", "status", "duplicate_of"] and columns.index("learning_rate") > columns.index("stopped_by")
