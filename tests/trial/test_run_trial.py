"""Real (tiny) HF Trainer runs: what is reported when, checkpoints, exact resume, stopping, NaN."""

import math
import subprocess
import sys

import pytest
import torch

from sweeper.errors import SweeperError
from sweeper.trial.model import load_model, tiny_llama
from sweeper.trial.reporting import ListReporter
from sweeper.trial.train import TrialConfig, run_trial, steps_per_epoch

TRAIN_KEYS = {"step", "epoch", "loss", "label_loss", "learning_rate", "grad_norm", "tokens_per_second"}
EVAL_KEYS = {"step", "epoch", "eval_loss", "eval_label_loss", "eval_accuracy", "eval_macro_f1"}
FACT_KEYS = {"max_steps", "steps_per_epoch", "samples_truncated", "samples_dropped", "global_batch"}


def trial(tmp_path, dataset, settings, name="run", model="builtin:tiny-llama"):
    return TrialConfig(model=model, dataset=dataset, train=settings, output_dir=tmp_path / name, num_threads=1)


def checkpoint_dirs(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("checkpoint-"))


def test_short_run_reports_points_evals_and_checkpoints(tmp_path, small_dataset, make_settings):
    reporter = ListReporter()
    summary = run_trial(trial(tmp_path, small_dataset, make_settings(eval_steps=4)), reporter)

    train, evals = reporter.train_points, reporter.eval_points
    assert [p["step"] for p in train] == [2, 4, 6, 8, 10, 12]  # 48 examples / 8 = 6 steps an epoch
    assert [p["step"] for p in evals] == [4, 6, 8, 12]  # every 4 steps and every epoch end, once each
    for point in train:
        assert TRAIN_KEYS | FACT_KEYS <= set(point)
        assert "explanation_loss" not in point  # no explanations in this trial
        assert math.isfinite(point["loss"]) and point["tokens_per_second"] > 0
        # without explanations the target is label + eos, so the label loss is part of the loss
        assert point["label_loss"] > 0
    for point in evals:
        assert EVAL_KEYS | FACT_KEYS <= set(point)
        assert 0.0 <= point["eval_accuracy"] <= 1.0 and 0.0 <= point["eval_macro_f1"] <= 1.0
    assert [p["epoch"] for p in train] == pytest.approx([1 / 3, 2 / 3, 1.0, 4 / 3, 5 / 3, 2.0])
    assert [p["epoch"] for p in evals if p["step"] in (6, 12)] == [1.0, 2.0]
    assert train[0]["max_steps"] == 12 and train[0]["steps_per_epoch"] == 6 and train[0]["global_batch"] == 8
    # cosine schedule from 3e-3 down
    assert train[0]["learning_rate"] > train[-1]["learning_rate"]

    # checkpoints at every epoch end (save_steps is off), passed with the step's last report
    assert [step for step, _ in reporter.checkpoints] == [6, 12]
    for step, path in reporter.checkpoints:
        assert path.name == f"checkpoint-{step}"
    latest = reporter.checkpoints[-1][1]
    for name in ("adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json", "sweeper_state.json"):
        assert (latest / name).is_file(), name
    assert any(p.name.startswith("rng_state") for p in latest.iterdir())
    with_checkpoint = [r for r in reporter.reports if r["step"] == 6]
    assert "eval_loss" in with_checkpoint[-1]  # the eval report at the epoch end carries it

    assert summary.steps_done == summary.max_steps == 12
    assert summary.epochs_done == pytest.approx(2.0)
    assert (summary.num_train, summary.num_eval) == (48, 24)
    assert summary.best_eval_accuracy == max(p["eval_accuracy"] for p in evals)
    assert summary.final_label_loss == train[-1]["label_loss"]
    assert summary.final_eval_label_loss == evals[-1]["eval_label_loss"]
    assert summary.wall_seconds >= summary.train_seconds > 0
    assert set(summary.as_dict()) >= {"steps_done", "tokens_per_second", "samples_truncated", "samples_dropped"}


def test_explanations_are_reported_and_keep_the_loss_up(tmp_path, small_dataset, make_settings):
    reporter = ListReporter()
    run_trial(trial(tmp_path, small_dataset, make_settings(include_explanation=True, num_train_epochs=1)), reporter)
    for point in reporter.train_points:
        assert math.isfinite(point["explanation_loss"])
    # the explanation's random words keep its loss above the label's once the label is learned a bit
    assert reporter.train_points[-1]["explanation_loss"] > 1.0
    assert not any("signal" in report for report in reporter.reports)  # label first: the sweep's signal


def test_save_steps_keeps_only_the_latest_checkpoints(tmp_path, small_dataset, make_settings):
    reporter = ListReporter()
    run_trial(trial(tmp_path, small_dataset, make_settings(save_steps=3)), reporter)
    assert [step for step, _ in reporter.checkpoints] == [3, 6, 9, 12]
    assert checkpoint_dirs(tmp_path / "run") == ["checkpoint-12", "checkpoint-9"]


class StopAt(ListReporter):
    """Raises SystemExit from `report`, as Ray Tune does when it stops a trial."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def report(self, metrics, checkpoint=None):
        super().report(metrics, checkpoint)
        if metrics["step"] >= self.step and checkpoint is not None:
            raise SystemExit("stopped by the scheduler")


def test_system_exit_stops_the_trial_and_resume_is_exact(tmp_path, small_dataset, make_settings):
    # Dropout and a logging window that straddles the checkpoint make exactness non-trivial.
    settings = make_settings(save_steps=4, logging_steps=3, eval_steps=5, lora_dropout=0.1, include_explanation=True)
    full = ListReporter()
    run_trial(trial(tmp_path, small_dataset, settings, "full"), full)

    stopped = StopAt(4)
    with pytest.raises(SystemExit, match="stopped by the scheduler"):
        run_trial(trial(tmp_path, small_dataset, settings, "cut"), stopped)
    assert max(r["step"] for r in stopped.reports) == 4
    assert stopped.checkpoints[-1][0] == 4

    resumed = ListReporter()
    run_trial(trial(tmp_path, small_dataset, settings, "cut"), resumed, resume_from=tmp_path / "cut" / "checkpoint-4")
    # First the reports the checkpoint kept (made since the checkpoint before it, here since the
    # start), sent again in case the lost run never delivered them; then the run goes on exactly.
    replayed = [r for r in resumed.reports if r["step"] <= 4]
    assert resumed.reports[: len(replayed)] == replayed
    assert [(r["step"], r.get("loss"), r.get("eval_loss")) for r in replayed] == [
        (r["step"], r.get("loss"), r.get("eval_loss")) for r in stopped.reports if "loss" in r or "eval_loss" in r
    ]
    continued = resumed.reports[len(replayed):]

    after = [r for r in full.reports if r["step"] > 4]
    assert [(r["step"], sorted(r)) for r in continued] == [(r["step"], sorted(r)) for r in after]
    for mine, theirs in zip(continued, after):
        for key in ("loss", "label_loss", "explanation_loss", "grad_norm", "learning_rate", "eval_loss", "eval_accuracy"):
            if key in theirs:
                assert mine[key] == theirs[key], (mine["step"], key)
    assert [s for s, _ in resumed.checkpoints] == [s for s, _ in full.checkpoints if s > 4]


def test_non_finite_loss_keeps_reporting(tmp_path, small_dataset, make_settings):
    reporter = ListReporter()
    summary = run_trial(trial(tmp_path, small_dataset, make_settings(learning_rate=1e30, num_train_epochs=1)), reporter)
    assert summary.steps_done == 6
    assert any(math.isnan(p["loss"]) for p in reporter.train_points)
    assert math.isnan(reporter.eval_points[-1]["eval_loss"])
    assert reporter.eval_points[-1]["eval_accuracy"] == 0.0  # NaN scores pick no label: all wrong


def test_overlength_counts_reach_every_report(tmp_path, small_dataset, make_settings):
    reporter = ListReporter()
    summary = run_trial(trial(tmp_path, small_dataset, make_settings(cutoff_len=12, num_train_epochs=1)), reporter)
    assert summary.samples_truncated > 0 and summary.samples_dropped == 0
    assert {r["samples_truncated"] for r in reporter.reports} == {summary.samples_truncated}


def test_all_examples_dropped_is_a_clear_error(tmp_path, small_dataset, make_settings):
    dataset = small_dataset.model_copy(update={"overlength": "drop"})
    with pytest.raises(SweeperError, match="longer than cutoff_len 8 and were dropped"):
        run_trial(trial(tmp_path, dataset, make_settings(cutoff_len=8)), ListReporter())


@pytest.mark.skipif(torch.cuda.is_available(), reason="fp16 is allowed where there is a GPU")
@pytest.mark.parametrize("precision", ["fp16", "bf16"])
def test_mixed_precision_without_gpu_is_refused(tmp_path, small_dataset, make_settings, precision):
    with pytest.raises(SweeperError, match=rf"train.{precision}: true needs a CUDA GPU"):
        run_trial(trial(tmp_path, small_dataset, make_settings(**{precision: True})), ListReporter())


def test_lora_all_targets_every_linear_layer_but_the_head(make_settings):
    loaded = load_model("builtin:tiny-llama", make_settings(lora_target="all"), ["a b c"])
    assert loaded.target_modules == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    names = [name for name, p in loaded.model.named_parameters() if p.requires_grad]
    assert names and all("lora_" in name for name in names)
    assert not any("lm_head" in name for name in names)


def test_local_model_folder_with_named_targets_and_checkpointing(tmp_path, small_dataset, make_settings):
    model, tokenizer = tiny_llama(["Text Label : positive negative neutral food"], seed=1)
    model.save_pretrained(tmp_path / "local")
    tokenizer.save_pretrained(tmp_path / "local")
    settings = make_settings(lora_target=["q_proj", "v_proj"], gradient_checkpointing=True, num_train_epochs=1)
    loaded = load_model(str(tmp_path / "local"), settings)
    assert loaded.target_modules == ["q_proj", "v_proj"]
    reporter = ListReporter()
    summary = run_trial(trial(tmp_path, small_dataset, settings, model=str(tmp_path / "local")), reporter)
    assert summary.steps_done == 6 and reporter.eval_points


def test_missing_model_folder_and_bad_targets(tmp_path, small_dataset, make_settings):
    with pytest.raises(SweeperError, match="no such folder; give a local model folder"):
        load_model(str(tmp_path / "nope"), make_settings())
    with pytest.raises(SweeperError, match=r"train.lora_target \['nope_proj'\]"):
        load_model("builtin:tiny-llama", make_settings(lora_target=["nope_proj"]), ["a"])


@pytest.mark.parametrize("n, batch, accumulation, expected", [(48, 8, 1, 6), (50, 8, 1, 7), (50, 8, 2, 4), (7, 8, 8, 1)])
def test_steps_per_epoch(n, batch, accumulation, expected):
    assert steps_per_epoch(n, batch, accumulation) == expected


def test_trial_never_imports_ray_or_optuna():
    code = (
        "import sys, sweeper.trial.train, sweeper.trial.model, sweeper.trial.evaluate; "
        "import sweeper.trial.hf_trainer, peft; "
        "print(sorted(m for m in ('ray', 'optuna') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_window_without_label_tokens_reports_no_label_loss(tmp_path, small_dataset, make_settings):
    """The label truncated away (explanation first, short cutoff): label_loss is absent, not NaN
    (NaN is what the divergence rule stops on)."""
    settings = make_settings(include_explanation=True, explanation_position="before", cutoff_len=24, num_train_epochs=1)
    reporter = ListReporter()
    summary = run_trial(trial(tmp_path, small_dataset, settings), reporter)
    assert summary.samples_truncated > 0
    assert reporter.train_points, "the trial still reports its training points"
    for point in reporter.train_points:
        assert "label_loss" not in point and math.isfinite(point["loss"]) and math.isfinite(point["explanation_loss"])
    assert all("eval_label_loss" not in p and math.isfinite(p["eval_loss"]) for p in reporter.eval_points)
    assert summary.final_label_loss is None and summary.final_eval_label_loss is None
    # Explanation first: the pruner is told to judge the eval metrics, never the label loss.
    assert all(report["signal"] == "eval_metric" for report in reporter.reports)
