"""`sweeper run` prints what the pre-flight check found before the sweep, and the overlength
counts of the trials after it. The sweep itself is replaced here (tests/orchestrate runs real ones)."""

from pathlib import Path

from sweeper.cli import main

CORPUS = Path(__file__).resolve().parents[1] / "badinput"


def test_run_warns_of_a_leak_and_overlength_before_and_sums_up_after(monkeypatch, capsys):
    from sweeper.orchestrate import sweep

    seen = {}

    def fake_run_sweep(spec, **kwargs):
        seen["spec"] = spec
        rows = [
            {"trial_id": "a", "status": "completed", "samples_truncated": 2, "samples_dropped": 0},
            {"trial_id": "b", "status": "pruned", "samples_truncated": 0, "samples_dropped": 0},
        ]
        return sweep.SweepOutcome(sweep_dir=Path("results/badinput"), rows=rows, steps_run=10, steps_planned=20, param_names=[])

    monkeypatch.chdir(CORPUS)
    monkeypatch.setattr(sweep, "run_sweep", fake_run_sweep)
    code = main(
        [
            "run",
            "spec/good.yaml",
            "--set", "dataset.eval=data/leaky-eval.jsonl",
            "--set", "dataset.train=data/some-long-train.jsonl",
            "--set", "train.cutoff_len=24",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0 and "spec" in seen
    assert "warning: 2 of 6 eval examples also occur in train" in err
    assert "note: up to 2 of 18 samples are longer than cutoff_len (dataset.overlength: truncate)" in err
    assert "Overlength: 1 of 2 trials had samples longer than cutoff_len, up to 2 truncated and 0 dropped" in out
