from sweeper.cli import main
from sweeper.results.leaderboard import TrialRecord, leaderboard_rows, write_leaderboard


def make_sweep(folder, f1s):
    folder.mkdir()
    records = [
        TrialRecord(f"t{i}", {"lora_rank": 8}, status="completed", points=[{"step": 10, "eval_macro_f1": f}], facts={"max_steps": 10})
        for i, f in enumerate(f1s)
    ]
    write_leaderboard(folder / "leaderboard.csv", leaderboard_rows(records, ["lora_rank"], "eval_macro_f1"), ["lora_rank"])
    return folder


def test_leaderboard_prints_best_first(tmp_path, capsys):
    sweep = make_sweep(tmp_path / "s", [0.3, 0.9, 0.5])
    assert main(["leaderboard", str(sweep), "--top", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[2].startswith("t1") and out[3].startswith("t2") and len(out) == 4


def test_leaderboard_of_a_folder_without_one_is_exit_2(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path)]) == 2
    assert "no leaderboard here" in capsys.readouterr().err


def test_compare_merges_sweeps_and_names_each_best(tmp_path, capsys):
    a = make_sweep(tmp_path / "a", [0.3, 0.6])
    b = make_sweep(tmp_path / "b", [0.8])
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    summary, merged = out.split("\n\n")
    assert "a      2" in summary and "t1" in summary.splitlines()[2]
    first_row = merged.splitlines()[2].split()
    assert first_row[:2] == ["b", "t0"]
