"""`sweeper make-data` writes the demo dataset; the default seed reproduces the committed copy."""

from sweeper.cli import main


def test_make_data_writes_the_committed_bytes(tmp_path, demo_data, capsys):
    assert main(["make-data", "--out", str(tmp_path / "demo")]) == 0
    for name in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / "demo" / name).read_bytes() == (demo_data / name).read_bytes()
    assert "600 examples" in capsys.readouterr().out


def test_make_data_other_seed_and_bad_out(tmp_path, demo_data, capsys):
    assert main(["make-data", "--out", str(tmp_path / "s1"), "--seed", "1"]) == 0
    assert (tmp_path / "s1" / "train.jsonl").read_bytes() != (demo_data / "train.jsonl").read_bytes()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["make-data", "--out", str(blocker)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
