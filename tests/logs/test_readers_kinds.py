"""Log kinds found in real runs: Megatron-SWIFT lines, named eval sets, resumed / appended /
interleaved logs, Git LFS pointers, ms-swift output folders, a sweep's trial folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sweeper.errors import SweeperError
from sweeper.logs import read_log

CORPUS = Path(__file__).resolve().parents[1] / "diagnose_corpus" / "runs"


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def _lf(step: int, loss: float) -> dict:
    return {"current_steps": step, "total_steps": 100, "loss": loss, "lr": 1e-4, "epoch": step / 100}


def test_megatron_swift_iteration_and_lm_loss(tmp_path):
    rows = [{"iteration": f"{i}/40", "lm loss": 2.0 - i / 40, "learning rate": 1e-5, "grad norm": 1.5, "consumed samples": i * 8} for i in range(1, 41)]
    rows.append({"iteration": "40/40", "eval_loss": 1.1})
    curve = read_log(_jsonl(tmp_path / "logging.jsonl", rows))
    assert curve.format == "megatron_swift_jsonl"
    assert (curve.train_points, curve.eval_points, curve.max_steps) == (40, 1, 40)
    assert curve.points[0].learning_rate == 1e-5 and curve.points[0].grad_norm == 1.5
    assert curve.points[-1].eval_loss == 1.1


def test_named_eval_losses_are_averaged_when_no_eval_loss(tmp_path):
    doc = {"log_history": [
        {"step": 10, "loss": 1.0},
        {"step": 10, "eval_math_loss": 1.0, "eval_code_loss": 3.0, "eval_code_accuracy": 0.5, "eval_math_accuracy": 0.7},
        {"step": 20, "loss": 0.9, "eval_loss": 2.5, "eval_math_loss": 9.0},
    ]}
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps(doc))
    points = read_log(path).points
    assert points[0].eval_loss == 2.0 and points[0].eval_accuracy == pytest.approx(0.6)
    assert points[1].eval_loss == 2.5  # a plain eval_loss wins over the named ones


def test_resume_from_a_checkpoint_replaces_the_redone_steps(tmp_path):
    rows = [_lf(s, 2.0 - s / 100) for s in range(10, 60, 10)] + [_lf(s, 5.0) for s in range(30, 80, 10)]
    curve = read_log(_jsonl(tmp_path / "trainer_log.jsonl", rows))
    assert [p.step for p in curve.points] == [10, 20, 30, 40, 50, 60, 70]
    assert [p.loss for p in curve.points][2:] == [5.0] * 5  # never a mix of both runs at 30-50
    assert curve.notes == ["resumed at line 6 (step 30 after step 50): 3 earlier steps from 30 on replaced by the resumed run"]


def test_a_second_run_appended_is_judged_alone(tmp_path):
    rows = [_lf(s, 2.0) for s in range(10, 110, 10)] + [_lf(s, 1.0) for s in range(10, 40, 10)]
    curve = read_log(_jsonl(tmp_path / "trainer_log.jsonl", rows))
    assert [(p.step, p.loss) for p in curve.points] == [(10, 1.0), (20, 1.0), (30, 1.0)]
    assert "a new run starts at line 11" in curve.notes[0] and "10 earlier steps left out" in curve.notes[0]


def test_two_writers_interleaved_real_log():
    # rameyjm7/SFT-Training-LLM: two processes wrote one trainer_log.jsonl, one ~20 steps ahead.
    curve = read_log(CORPUS / "rameyjm7_lf_two_writers" / "trainer_log.jsonl")
    assert curve.train_points == 656
    assert len(curve.notes) == 1 and "two writers interleaved" in curve.notes[0]


def test_git_lfs_pointer_is_named(tmp_path):
    path = tmp_path / "trainer_state.json"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 52414\n")
    with pytest.raises(SweeperError, match=r"a Git LFS pointer, not the log itself \(oid sha256:4d7a2146.*52414 bytes.*git lfs pull"):
        read_log(path)


def test_ms_swift_output_folder_judges_the_newest_run(tmp_path):
    for name, loss in (("v0-20240501-101010", 3.0), ("v1-20240502-090000", 1.0)):
        run = tmp_path / "output" / "qwen2-7b" / name
        run.mkdir(parents=True)
        _jsonl(run / "logging.jsonl", [{"loss": loss, "global_step/max_steps": f"{s}/30"} for s in range(1, 31)])
    curve = read_log(tmp_path / "output")
    assert curve.source.endswith("v1-20240502-090000/logging.jsonl") and curve.points[0].loss == 1.0
    assert "2 runs" in curve.notes[0] and "judged the newest, qwen2-7b/v1-20240502-090000" in curve.notes[0]


def test_a_sweep_trial_folder_is_judged_from_curves_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"trial_id": t, "step": s, "loss": 2.0 - s / 100} for t in ("a1", "b2") for s in range(1, 41)]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "curves.parquet")
    trial_dir = tmp_path / "trial_b2"
    trial_dir.mkdir()
    (trial_dir / "progress.csv").write_text("step,loss\n8,1.9\n40,1.6\n")  # Ray's batched rows
    curve = read_log(trial_dir)
    assert (curve.format, curve.trial_id, curve.train_points) == ("sweep_parquet", "b2", 40)
    assert curve.sweep_dir == str(tmp_path)
    assert "trial folder of a sweep" in curve.notes[-1]


def test_console_log_of_printed_dicts_hf_and_ms_swift(tmp_path):
    # HF Trainer's console (no step printed; nan bare) and ms-swift's (global_step/max_steps), tqdm noise around.
    hf = tmp_path / "train.log"
    hf.write_text(
        "[INFO|trainer.py:2134] >> ***** Running training *****\n"
        + "".join(f" {i}%|#   | {i}/30 [00:0{i % 9}<00:10]{{'loss': {2.0 - i / 20}, 'grad_norm': nan, 'learning_rate': 1e-05, 'epoch': {i / 10}}}\n" for i in range(1, 31))
        + "{'train_runtime': 12.5, 'train_samples_per_second': 3.2, 'train_loss': 1.4, 'epoch': 3.0}\n"
    )
    curve = read_log(hf)
    assert (curve.format, curve.train_points) == ("console", 30)
    assert math.isnan(curve.points[0].grad_norm) and curve.points[-1].loss == pytest.approx(0.5)
    assert curve.notes == ["no steps printed: the 30 logged points are numbered 1..30 in order"]
    swift = tmp_path / "swift.log"
    swift.write_text("".join(
        f"[INFO:swift] {{'loss': {1.5 - s / 100}, 'acc': 0.6, 'learning_rate': 9e-05, 'epoch': 0.1, 'global_step/max_steps': '{s}/40', 'percentage': '{s / 0.4:.2f}%'}}\n"
        for s in range(1, 41)
    ))
    curve = read_log(swift)
    assert (curve.train_points, curve.max_steps, curve.points[-1].step, curve.notes) == (40, 40, 40, [])
