"""Every mistake in the corpus (cases.yaml) is one clear line on stderr and exit code 2.

Commands run in-process through `sweeper.cli.main`, from this folder, with Ray made
unimportable: a mistake `sweeper run` did not catch before starting Ray fails the case with an
ImportError instead of starting a cluster. A last test runs the real entry point in a
subprocess, where a traceback would be printed.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sweeper.cli import main

HERE = Path(__file__).resolve().parent
CASES = yaml.safe_load((HERE / "cases.yaml").read_text(encoding="utf-8"))


def _cuda() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover
        return False
    return torch.cuda.is_available()


@pytest.fixture
def in_corpus(monkeypatch):
    monkeypatch.chdir(HERE)
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises: nothing here may start it


@pytest.mark.parametrize("case", CASES, ids=[case["args"] for case in CASES])
def test_bad_input_gives_one_clear_line(case, in_corpus, capsys):
    if case.get("skip_if_cuda") and _cuda():
        pytest.skip("this machine has a CUDA GPU")
    code = main(shlex.split(case["args"]))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert code == case.get("exit", 2), (out, err)
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), err
        for fragment in case["error"]:
            assert fragment in lines[0], f"{fragment!r} not in {lines[0]!r}"
    for fragment in case.get("stdout", []):
        assert fragment in out, f"{fragment!r} not in stdout:\n{out}"


def test_every_corpus_file_has_a_case():
    used = " ".join(case["args"] for case in CASES)
    files = [p for folder in ("spec", "data", "logs") for p in sorted((HERE / folder).iterdir())]
    unused = [str(p.relative_to(HERE)) for p in files if str(p.relative_to(HERE)) not in used]
    unused = [name for name in unused if not name.startswith("data/good-")]  # the valid data every spec reads
    assert not unused, f"corpus files without a case in cases.yaml: {unused}"


def test_a_second_sweep_into_a_locked_folder_refuses(in_corpus, capsys, tmp_path):
    from sweeper.results.store import SweepLock

    sweep_dir = tmp_path / "badinput"
    sweep_dir.mkdir()
    with SweepLock(sweep_dir):
        code = main(["run", "spec/good.yaml", "--set", f"storage={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1, err
    assert f"{sweep_dir}: another sweep is writing to this folder (pid " in err


def test_a_finished_sweep_is_not_overwritten_by_accident(in_corpus, capsys, tmp_path):
    (tmp_path / "badinput").mkdir()
    (tmp_path / "badinput" / "spec.yaml").write_text("name: badinput\n")
    (tmp_path / "badinput" / "leaderboard.csv").write_text("trial_id,status\n")
    code = main(["run", "spec/good.yaml", "--set", f"storage={tmp_path}"])
    err = capsys.readouterr().err
    assert code == 2 and "a sweep already ran here" in err and "--overwrite" in err, err


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "spec/yaml-unclosed-flow.yaml"],
        ["run", "spec/rank-zero-in-choice.yaml"],
        ["validate", "spec/good.yaml", "--set", "dataset.train=data/malformed-json.jsonl"],
        ["diagnose", "logs/truncated-trainer_state.json"],
    ],
)
def test_the_real_command_prints_no_traceback(args):
    result = subprocess.run(
        [sys.executable, "-m", "sweeper", *args], cwd=HERE, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith("error: "), result.stderr
