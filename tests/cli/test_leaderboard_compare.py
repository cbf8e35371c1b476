from sweeper.cli import main
from sweeper.results.leaderboard import TrialRecord, leaderboard_rows, write_leaderboard


def make_sweep(folder, f1s, pruned=()):
    folder.mkdir()
    records = [
        TrialRecord(f"t{i}", {"lora_rank": 8}, status="pruned" if i in pruned else "completed",
                    points=[{"step": 10, "eval_macro_f1": f}], facts={"max_steps": 10, "num_eval": 48})
        for i, f in enumerate(f1s)
    ]
    write_leaderboard(folder / "leaderboard.csv", leaderboard_rows(records, ["lora_rank"], "eval_macro_f1"), ["lora_rank"])
    return folder


def test_leaderboard_prints_best_first(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "s", [0.3, 0.9, 0.5])
    assert main(["leaderboard", str(sweep), "--top", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("t1") and out[3].startswith("t2") and out[4] == ""
    assert out[5].startswith("score: eval_macro_f1 at the kept checkpoint")


def test_a_pruned_trial_with_a_higher_peak_ranks_below_every_completed_one(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "s", [0.3, 0.95, 0.5], pruned={1})
    assert main(["leaderboard", str(sweep), "--format", "csv"]) == 0
    ids = [line.split(",")[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert ids == ["t2", "t0", "t1"]


def test_leaderboard_of_a_folder_without_one_is_exit_2(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path)]) == 2
    assert "no leaderboard here" in capsys.readouterr().err


def test_compare_names_each_sweeps_best(tmp_path, capsys):
    a = make_sweep(tmp_path / "a", [0.3, 0.6])
    b = make_sweep(tmp_path / "b", [0.8])
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out.splitlines()
    summary = [line for line in out if line.startswith(("a ", "b "))]
    assert "a/t1" in summary[0] and "0.6" in summary[0]
    assert "b/t0" in summary[1] and "0.8" in summary[1]
