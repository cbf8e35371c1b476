"""`sweeper diagnose`: text and JSON verdicts on the real logs, --plot, and one-line errors (exit 2)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sweeper.errors import SweeperError

REAL_LOGS = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real-logs"
MISTRAL = "mistral7b_lora_translator_4ep_staircase_trainer_state.json"
GEMMA = "gemma7b_lora_kgllm_5ep_healthy_nangrad_trainer_state.json"
QWEN = "qwen25_7b_lora_medical_3ep_mixed_trainer_log.jsonl"
SWIFT = "dsr1_qwen3_8b_lora_swift_1ep_healthy_logging.jsonl"


def _real(name: str) -> str:
    path = REAL_LOGS / name
    if not path.is_file():
        pytest.skip(f"../shared/fixtures/real-logs not found: {path.resolve()}")
    return str(path)


def _main(argv: list[str]) -> int:
    """sweeper.cli.main when every command module is importable; otherwise the same handling
    around a parser holding `diagnose` alone (other commands may not exist yet)."""
    import sweeper.cli

    try:
        sweeper.cli.build_parser()
    except ImportError:
        from sweeper.cli import diagnose

        parser = argparse.ArgumentParser(prog="sweeper")
        diagnose.add_parser(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(argv)
        try:
            return int(args.func(args) or 0)
        except SweeperError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return sweeper.cli.main(argv)


@pytest.mark.parametrize(
    "name, verdict_line",
    [
        (MISTRAL, "verdict: staircase (unjudged)"),
        (GEMMA, "verdict: healthy"),
        (QWEN, "verdict: staircase (memorising)"),
        (SWIFT, "verdict: healthy"),
    ],
)
def test_text_verdict_on_real_logs(capsys, name, verdict_line):
    assert _main(["diagnose", _real(name)]) == 0
    out = capsys.readouterr().out
    assert verdict_line in out.splitlines()


def test_text_explains_the_evidence(capsys):
    assert _main(["diagnose", _real(MISTRAL)]) == 0
    out = capsys.readouterr().out
    assert "HF trainer_state.json: 866 points (866 train, 0 eval), steps 10-8660, epochs 0.00-4.00" in out
    assert "- staircase (unjudged) at step 4340, epoch 2.005: loss fell 35% across the boundary into epoch 3" in out
    assert "x the typical within-epoch change over the same span" in out
    assert "eval not judged: no eval points logged" in out


def test_text_memorising_names_the_eval_change(capsys):
    assert _main(["diagnose", _real(QWEN)]) == 0
    assert "eval loss rose 1.3% (1.554 -> 1.573, noise +-2.0%)" in capsys.readouterr().out


def test_text_warning_for_nan_grad_norm(capsys):
    assert _main(["diagnose", _real(GEMMA)]) == 0
    out = capsys.readouterr().out
    assert "- warning (non_finite_grad_norm) at step 1" in out
    assert "grad_norm was non-finite on 3 steps" in out


@pytest.mark.parametrize(
    "name, verdict, fmt, rules",
    [
        (MISTRAL, "staircase", "hf_trainer_state", ["staircase", "staircase", "staircase"]),
        (GEMMA, "healthy", "hf_trainer_state", ["warning"]),
        (QWEN, "staircase", "llamafactory_jsonl", ["staircase"]),
        (SWIFT, "healthy", "swift_jsonl", []),
    ],
)
def test_json_on_real_logs(capsys, name, verdict, fmt, rules):
    assert _main(["diagnose", _real(name), "--format", "json"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)  # exactly one JSON object
    assert out.count("\n") == 1
    assert (doc["verdict"], doc["format"]) == (verdict, fmt)
    assert [f["rule"] for f in doc["findings"]] == rules
    assert doc["points"] > 0
    for finding in doc["findings"]:
        assert set(finding) == {"verdict", "rule", "kind", "step", "epoch", "evidence", "message"}


def test_json_non_finite_values_stay_valid_json(tmp_path, capsys):
    # a NaN loss (divergence) and a NaN grad_norm: evidence holds non-finite numbers
    log = tmp_path / "run.csv"
    log.write_text("step,epoch,loss,grad_norm\n" + "".join(f"{i},{i / 100},{2 - i / 100},1.0\n" for i in range(1, 20)) + "20,0.2,nan,inf\n")
    assert _main(["diagnose", str(log), "--format", "json"]) == 0
    out = capsys.readouterr().out
    assert "NaN" not in out.replace('"NaN"', "")  # only as a string, never a bare NaN token
    doc = json.loads(out)
    assert doc["verdict"] == "divergence"
    assert doc["findings"][0]["evidence"]["value"] == "NaN"


def test_num_classes_judges_on_ln_c(tmp_path, capsys):
    # a label loss flat at 1.05 with C = 3 (ln 3 = 1.10): stuck
    log = tmp_path / "run.csv"
    log.write_text("step,loss,label_loss\n" + "".join(f"{i},2.0,{1.05 + 0.001 * (i % 3)}\n" for i in range(1, 101)))
    assert _main(["diagnose", str(log), "--num-classes", "3"]) == 0
    out = capsys.readouterr().out
    assert "verdict: plateau (stuck)" in out and "of ln 3 = 1.1 (chance)" in out


def test_plot_writes_a_png(tmp_path, capsys):
    out_png = tmp_path / "plots" / "mistral.png"
    assert _main(["diagnose", _real(MISTRAL), "--plot", str(out_png)]) == 0
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out_png.stat().st_size > 10_000
    assert f"plot: {out_png}" in capsys.readouterr().out


def test_plot_curve_directly(tmp_path):
    from sweeper.logs import read_log
    from sweeper.results.plots import plot_curve
    from sweeper.rules import diagnose

    curve = read_log(_real(QWEN))
    result = diagnose(curve.points)
    path = plot_curve(curve.points, tmp_path / "qwen.png", result.findings, title="qwen")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_sweep_results_with_trial(tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"trial_id": t, "step": s, "epoch": s / 100, "loss": 2.0 - s / 100} for t in ("a", "b") for s in range(1, 31)]
    (tmp_path / "demo").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "demo" / "curves.parquet")
    assert _main(["diagnose", str(tmp_path / "demo"), "--trial", "b", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["format"], doc["points"], doc["verdict"]) == ("sweep_parquet", 30, "healthy")


ERRORS = [
    # (id, file name or None for a missing file, content, fragment of the one-line error)
    ("empty_file", "empty.json", "", "empty file"),
    ("truncated_json", "trainer_state.json", '{"log_history": [{"loss": 1.0, "step": 1}', "truncated or invalid JSON"),
    ("csv_non_numeric", "run.csv", "step,epoch,loss\n1,0.1,2.0\n2,0.2,oops\n", "line 3: column loss is not a number: 'oops'"),
    ("unknown_format", "notes.txt", "just some notes\n", "unknown log format"),
    ("missing_file", None, None, "no such file or directory"),
]


@pytest.mark.parametrize("name, content, fragment", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_unreadable_input_exit_2_one_line(tmp_path, capsys, name, content, fragment):
    path = tmp_path / (name or "missing.json")
    if content is not None:
        path.write_text(content)
    assert _main(["diagnose", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0]
    assert "Traceback" not in captured.err


def test_bad_num_classes(tmp_path, capsys):
    log = tmp_path / "run.csv"
    log.write_text("step,loss\n1,1.0\n")
    assert _main(["diagnose", str(log), "--num-classes", "1"]) == 2
    assert capsys.readouterr().err.strip() == "error: --num-classes must be >= 2, got 1"


def test_plot_to_an_unwritable_place(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert _main(["diagnose", _real(SWIFT), "--plot", str(blocker / "sub" / "out.png")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "cannot write the plot" in err and len(err.splitlines()) == 1


def test_help_imports_nothing_heavy():
    """`diagnose --help` must answer fast: the module pulls in no matplotlib, pandas, pyarrow, numpy."""
    code = (
        "import sys, sweeper.cli.diagnose, sweeper.logs, sweeper.rules\n"
        "heavy = [m for m in ('matplotlib', 'pandas', 'pyarrow', 'numpy', 'torch', 'ray', 'optuna') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
