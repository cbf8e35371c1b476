"""One trial: a real HF `Trainer` + peft LoRA SFT run that reports raw points to an injected reporter.

This module never imports Ray or Optuna. The orchestrator passes a `Reporter`; Ray's stops a
pruned trial by raising `SystemExit` from `report`, which must propagate: nothing here catches
BaseException.

Reports (one dict per call; keys as in sweeper.rules.point.Point, plus extras):

- every `logging_steps` optimizer steps and at the last step, a training point: `step`, `epoch`
  (fractional), `loss` (mean over all target tokens of the window), `label_loss`,
  `explanation_loss` (only with explanations), `learning_rate`, `grad_norm` (of the last step of
  the window), `tokens_per_second` (input tokens, not padding, over training time in the window).
  Values are raw: no smoothing, NaN/inf kept (a diverging trial keeps reporting; the pruner
  stops it).
- every `eval_steps` steps and at every epoch end, an evaluation point: `step`, `epoch`,
  `eval_loss`, `eval_label_loss`, `eval_accuracy`, `eval_macro_f1`, plus `eval_seconds` (and
  `eval_unparsed` when the label is read from generated text).
- every report also states the trial's facts: `max_steps`, `steps_per_epoch`,
  `samples_truncated`, `samples_dropped`.

Checkpoints are HF Trainer checkpoints (adapter, optimizer, scheduler, RNG, trainer_state with the
data position, plus `sweeper_state.json` with the open logging window) in
`output_dir/checkpoint-<step>`, every `save_steps` and at every epoch end. The last report made
at a checkpoint's step carries its path; a checkpoint at a step with nothing else to report
(save_steps not a multiple of logging_steps) goes with a report of only `step` and the facts.
Only the latest `keep_checkpoints` stay on disk.
`resume_from` continues exactly: same data order, same losses, reports from the next step on.

Note on `loss`: Trainer logs the mean of per-step means; sweeper reports the mean over all target
tokens of the window, so that `loss * n = label_loss * n_label + explanation_loss * n_expl +
other * n_other` holds exactly. The two agree when every step has the same number of target tokens.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from sweeper.data.examples import DataReport, Example, load_examples
from sweeper.errors import SweeperError
from sweeper.spec.schema import DatasetSpec, TrainSettings
from sweeper.trial.encode import (
    IGNORE_INDEX,
    SEG_EXPLANATION,
    SEG_LABEL,
    Encoded,
    encode_examples,
    render,
)
from sweeper.trial.evaluate import EvalPlan, evaluate, make_plan
from sweeper.trial.losses import LossWindow, segment_losses
from sweeper.trial.model import LoadedModel, load_model

STATE_FILE = "sweeper_state.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class Reporter(Protocol):
    def report(self, metrics: dict[str, Any], checkpoint: Path | None = None) -> None: ...


class ListReporter:
    """Keeps every report (and checkpoint path) in memory: for tests and benchmarks."""

    def __init__(self) -> None:
        self.reports: list[dict[str, Any]] = []
        self.checkpoints: list[tuple[int, Path]] = []

    def report(self, metrics: dict[str, Any], checkpoint: Path | None = None) -> None:
        self.reports.append(dict(metrics))
        if checkpoint is not None:
            self.checkpoints.append((int(metrics["step"]), Path(checkpoint)))

    @property
    def train_points(self) -> list[dict[str, Any]]:
        return [r for r in self.reports if "loss" in r]

    @property
    def eval_points(self) -> list[dict[str, Any]]:
        return [r for r in self.reports if "eval_loss" in r]


@dataclass
class TrialConfig:
    model: str
    dataset: DatasetSpec
    train: TrainSettings
    output_dir: Path
    num_threads: int | None = None  # torch.set_num_threads when set: trials share the cores
    base_dir: Path | None = None  # where relative data paths are read from (default: cwd)
    keep_checkpoints: int = 2


@dataclass
class TrialSummary:
    steps_done: int
    max_steps: int
    epochs_done: float
    best_eval_accuracy: float | None
    best_eval_macro_f1: float | None
    final_label_loss: float | None
    final_eval_label_loss: float | None
    wall_seconds: float
    train_seconds: float
    tokens_per_second: float | None
    samples_truncated: int
    samples_dropped: int
    num_train: int
    num_eval: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Prepared:
    """A trial's data, model and encodings, before any training."""

    loaded: LoadedModel
    train: Encoded
    eval: Encoded
    plan: EvalPlan
    report: DataReport
    include_explanation: bool


def prepare(config: TrialConfig) -> Prepared:
    """Read and encode the data, build the model; raises SweeperError on bad input."""
    settings = config.train
    include = settings.include_explanation
    data = load_examples(config.dataset, explanations_needed=include, base_dir=config.base_dir)
    evals = data.eval[: settings.max_eval_samples] if settings.max_eval_samples else data.eval
    template = config.dataset.template
    vocabulary_texts = _vocabulary_texts(data.train + evals, config.dataset)
    loaded = load_model(config.model, settings, vocabulary_texts)

    def encode(examples: list[Example]) -> Encoded:
        return encode_examples(
            examples,
            loaded.tokenizer,
            template,
            include_explanation=include,
            explanation_position=settings.explanation_position,
            cutoff_len=settings.cutoff_len,
            overlength=config.dataset.overlength,
        )

    train, evaluation = encode(data.train), encode(evals)
    data.report.truncated = train.truncated + evaluation.truncated
    data.report.dropped = train.dropped + evaluation.dropped
    if not train.features:
        raise SweeperError(
            f"all {len(data.train)} training examples are longer than cutoff_len {settings.cutoff_len} "
            "and were dropped (dataset.overlength: drop); raise train.cutoff_len"
        )
    if not evaluation.features:
        raise SweeperError(f"all {len(evals)} eval examples are longer than cutoff_len {settings.cutoff_len}")
    longest_target = max(len(f.input_ids) - f.prompt_len for f in train.features)
    plan = make_plan(
        evaluation.features,
        loaded.tokenizer,
        template,
        config.dataset.labels,
        include_explanation=include,
        explanation_position=settings.explanation_position,
        batch_size=settings.per_device_eval_batch_size,
        max_new_tokens=max(8, longest_target + 4),
    )
    return Prepared(loaded, train, evaluation, plan, data.report, include)


def _vocabulary_texts(examples: list[Example], dataset: DatasetSpec) -> list[str]:
    texts = [ex.text for ex in examples] + [ex.explanation for ex in examples if ex.explanation]
    texts += list(dataset.labels)
    template = dataset.template
    for part in (template.prompt, template.label_only, template.label_then_explanation, template.explanation_then_label):
        texts.append(render(part, {}).text)
    return texts


class _Items(torch.utils.data.Dataset):
    def __init__(self, items: list[dict[str, list[int]]]) -> None:
        self._items = items

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, index: int) -> dict[str, list[int]]:
        return self._items[index]


class Collator:
    def __init__(self, pad_id: int) -> None:
        self.pad_id = pad_id

    def __call__(self, items: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(item["input_ids"]) for item in items)

        def pad(key: str, value: int) -> torch.Tensor:
            return torch.tensor([item[key] + [value] * (width - len(item[key])) for item in items], dtype=torch.long)

        return {
            "input_ids": pad("input_ids", self.pad_id),
            "labels": pad("labels", IGNORE_INDEX),
            "segments": pad("segments", 0),
            "attention_mask": torch.tensor(
                [[1] * len(item["input_ids"]) + [0] * (width - len(item["input_ids"])) for item in items],
                dtype=torch.long,
            ),
        }


class _Session:
    """Reporting state of one run: the open loss window, pending reports, bests."""

    def __init__(self, reporter: Reporter, include_explanation: bool, facts: dict[str, Any]) -> None:
        self.reporter = reporter
        self.include_explanation = include_explanation
        self.facts = facts
        self.window = LossWindow()
        self.window_started = time.perf_counter()
        self.window_eval_seconds = 0.0
        self.pending: list[dict[str, Any]] = []
        self.last_eval_step: int | None = None
        self.last_save_step: int | None = None
        self.best_accuracy: float | None = None
        self.best_macro_f1: float | None = None
        self.final_label_loss: float | None = None
        self.final_eval_label_loss: float | None = None
        self.train_tokens = 0

    def train_point(self, step: int, epoch: float, logs: dict[str, Any]) -> dict[str, Any]:
        nan = float("nan")
        elapsed = time.perf_counter() - self.window_started - self.window_eval_seconds
        loss, label_loss = self.window.mean(), self.window.mean(SEG_LABEL)
        point: dict[str, Any] = {
            "step": step,
            "epoch": epoch,
            "loss": loss if loss is not None else nan,
            "label_loss": label_loss if label_loss is not None else nan,
        }
        if self.include_explanation:
            explanation_loss = self.window.mean(SEG_EXPLANATION)
            point["explanation_loss"] = explanation_loss if explanation_loss is not None else nan
        point["learning_rate"] = float(logs.get("learning_rate", nan))
        if logs.get("grad_norm") is not None:
            point["grad_norm"] = float(logs["grad_norm"])
        point["tokens_per_second"] = self.window.tokens / elapsed if elapsed > 0 else nan
        point.update(self.facts)
        self.final_label_loss = point["label_loss"]
        self.window = LossWindow()
        self.window_started = time.perf_counter()
        self.window_eval_seconds = 0.0
        return point

    def eval_point(self, step: int, epoch: float, metrics: dict[str, float], seconds: float) -> dict[str, Any]:
        point: dict[str, Any] = {"step": step, "epoch": epoch, **metrics, "eval_seconds": seconds}
        point.update(self.facts)
        self.window_eval_seconds += seconds
        self.last_eval_step = step
        self.best_accuracy = _best(self.best_accuracy, metrics.get("eval_accuracy"))
        self.best_macro_f1 = _best(self.best_macro_f1, metrics.get("eval_macro_f1"))
        self.final_eval_label_loss = metrics.get("eval_label_loss")
        return point

    def flush(self, checkpoint: Path | None = None) -> None:
        """Send the pending reports; the checkpoint goes with the last one."""
        pending, self.pending = self.pending, []
        for index, metrics in enumerate(pending):
            last = index == len(pending) - 1
            self.reporter.report(metrics, checkpoint=checkpoint if last else None)
        if checkpoint is not None and not pending:
            # A save with nothing else to say: report the step so the checkpoint is not lost.
            self.reporter.report({"step": self.last_save_step, **self.facts}, checkpoint=checkpoint)


def _best(current: float | None, value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return current
    return value if current is None or value > current else current


def _make_trainer_class() -> type:
    """The Trainer subclass, built lazily so importing this module stays light."""
    from transformers import Trainer, TrainerCallback

    class SweeperTrainer(Trainer):
        # compute_loss divides by the tokens of the whole accumulated batch itself.
        loss_is_scaled_for_ga = True

        def __init__(self, *args: Any, session: _Session, plan: EvalPlan, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.session = session
            self.plan = plan

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
            parts = segment_losses(outputs.logits, inputs["labels"], inputs["segments"])
            tokens = int(inputs["attention_mask"].sum())
            self.session.window.add(parts, tokens=tokens)
            self.session.train_tokens += tokens
            if num_items_in_batch is not None:
                denominator = num_items_in_batch
            else:
                denominator = max(parts.total_count, 1) * self.current_gradient_accumulation_steps
            loss = parts.total_sum / denominator
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                # num_items_in_batch counts every process's tokens and DDP averages the gradients:
                # undo the average, as Trainer.compute_loss does (a no-op on one process).
                loss = loss * self.accelerator.num_processes
            return (loss, outputs) if return_outputs else loss

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):  # noqa: ANN001
            started = time.perf_counter()
            with self.accelerator.autocast():
                metrics = evaluate(self.model, self.plan, self.processing_class)
            seconds = time.perf_counter() - started
            point = self.session.eval_point(self.state.global_step, float(self.state.epoch or 0.0), metrics, seconds)
            self.session.pending.append(point)
            self.state.log_history.append(dict(point))
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

        def log(self, logs, start_time=None):  # noqa: ANN001
            if "loss" in logs:
                point = self.session.train_point(self.state.global_step, float(self.state.epoch or 0.0), logs)
                self.session.pending.append(point)
                logs = {k: v for k, v in point.items() if k not in ("step", "epoch")}
            super().log(logs, start_time)

    class FlowCallback(TrainerCallback):
        """When to evaluate, save and flush reports; keeps few checkpoints."""

        def __init__(self, session: _Session, settings: TrainSettings, output_dir: Path, keep: int) -> None:
            self.session = session
            self.settings = settings
            self.output_dir = output_dir
            self.keep = keep

        def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            self.session.window_started = time.perf_counter()  # throughput counts training only

        def on_step_begin(self, args, state, control, **kwargs):  # noqa: ANN001
            self.session.flush()

        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            step = state.global_step
            if self.settings.eval_steps and step % self.settings.eval_steps == 0:
                control.should_evaluate = True
            if self.settings.save_steps and step % self.settings.save_steps == 0:
                control.should_save = True
            if step >= state.max_steps:
                control.should_log = True  # the last, possibly partial, window
            return control

        def on_epoch_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if self.session.last_eval_step != state.global_step and not control.should_evaluate:
                control.should_evaluate = True
            if self.session.last_save_step != state.global_step:
                control.should_save = True
            return control

        def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
            path = self.output_dir / f"checkpoint-{state.global_step}"
            (path / STATE_FILE).write_text(json.dumps({"window": self.session.window.state()}))
            self.session.last_save_step = state.global_step
            _keep_latest(self.output_dir, self.keep)
            self.session.flush(path)

        def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
            self.session.flush()

    return SweeperTrainer, FlowCallback


def checkpoint_step(path: Path) -> int | None:
    match = _CHECKPOINT.match(Path(path).name)
    return int(match.group(1)) if match else None


def _checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    if not output_dir.is_dir():
        return []
    found = [(checkpoint_step(p), p) for p in output_dir.iterdir() if p.is_dir()]
    return sorted((step, p) for step, p in found if step is not None)


def _keep_latest(output_dir: Path, keep: int) -> None:
    for _, path in _checkpoints(output_dir)[: -max(keep, 1)]:
        shutil.rmtree(path, ignore_errors=True)


def _resume_step(resume_from: Path) -> int:
    state = resume_from / "trainer_state.json"
    try:
        return int(json.loads(state.read_text())["global_step"])
    except FileNotFoundError:
        raise SweeperError(f"resume_from {resume_from}: no trainer_state.json; not a Trainer checkpoint") from None
    except (OSError, KeyError, ValueError) as error:
        raise SweeperError(f"resume_from {resume_from}: unreadable trainer_state.json ({error})") from None


def steps_per_epoch(num_train: int, batch_size: int, accumulation: int) -> int:
    """Optimizer steps per epoch, as HF Trainer counts them (the last step may be partial)."""
    batches = math.ceil(num_train / batch_size)
    return batches // accumulation + int(batches % accumulation > 0)


def _checkpointing_args(arguments_class: type, enabled: bool) -> dict[str, Any]:
    """Gradient (activation) checkpointing, under the name this transformers version uses."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(arguments_class)}
    prefix = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    if not enabled:
        return {}
    # Non-reentrant checkpointing works with frozen inputs (LoRA) without enable_input_require_grads.
    return {prefix: True, f"{prefix}_kwargs": {"use_reentrant": False}}


def run_trial(config: TrialConfig, reporter: Reporter, resume_from: Path | None = None) -> TrialSummary:
    """Train one configuration, reporting as it goes; see the module docstring."""
    started = time.perf_counter()
    if config.num_threads:
        torch.set_num_threads(int(config.num_threads))
    settings = config.train
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    resume_step = None
    if resume_from is not None:
        resume_from = Path(resume_from)
        resume_step = _resume_step(resume_from)
        for step, path in _checkpoints(output_dir):
            if step > resume_step and path.resolve() != resume_from.resolve():
                shutil.rmtree(path, ignore_errors=True)  # a superseded future of this trial

    from transformers import PrinterCallback, ProgressCallback, TrainingArguments
    from transformers.utils import logging as hf_logging

    previous_verbosity = hf_logging.get_verbosity()
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        prepared = prepare(config)
        num_train = len(prepared.train.features)
        per_epoch = steps_per_epoch(num_train, settings.per_device_train_batch_size, settings.gradient_accumulation_steps)
        facts = {
            "max_steps": per_epoch * settings.num_train_epochs,
            "steps_per_epoch": per_epoch,
            "samples_truncated": prepared.report.truncated,
            "samples_dropped": prepared.report.dropped,
        }
        session = _Session(reporter, prepared.include_explanation, facts)
        if resume_from is not None and (resume_from / STATE_FILE).is_file():
            state = json.loads((resume_from / STATE_FILE).read_text())
            session.window = LossWindow.from_state(state["window"])
        if resume_step is not None:
            session.last_eval_step = session.last_save_step = resume_step

        args = TrainingArguments(
            output_dir=str(output_dir),
            per_device_train_batch_size=settings.per_device_train_batch_size,
            per_device_eval_batch_size=settings.per_device_eval_batch_size,
            gradient_accumulation_steps=settings.gradient_accumulation_steps,
            learning_rate=settings.learning_rate,
            num_train_epochs=settings.num_train_epochs,
            lr_scheduler_type=settings.lr_scheduler_type,
            warmup_steps=settings.warmup_steps,
            max_grad_norm=settings.max_grad_norm,
            weight_decay=settings.weight_decay,
            optim="adamw_torch",
            logging_strategy="steps",
            logging_steps=settings.logging_steps,
            logging_nan_inf_filter=False,  # raw values: a NaN loss is reported as NaN
            eval_strategy="no",  # FlowCallback decides: every eval_steps and every epoch end
            save_strategy="no",  # likewise: every save_steps and every epoch end
            fp16=settings.fp16,
            bf16=settings.bf16,
            seed=settings.seed,
            report_to=[],
            disable_tqdm=True,
            remove_unused_columns=False,
            dataloader_num_workers=0,
            dataloader_pin_memory=torch.cuda.is_available(),
            save_only_model=False,
            **_checkpointing_args(TrainingArguments, settings.gradient_checkpointing),
        )
        trainer_class, callback_class = _make_trainer_class()
        trainer = trainer_class(
            model=prepared.loaded.model,
            args=args,
            train_dataset=_Items([f.as_item() for f in prepared.train.features]),
            data_collator=Collator(int(prepared.loaded.tokenizer.pad_token_id)),
            processing_class=prepared.loaded.tokenizer,
            callbacks=[callback_class(session, settings, output_dir, config.keep_checkpoints)],
            session=session,
            plan=prepared.plan,
        )
        trainer.remove_callback(PrinterCallback)
        trainer.remove_callback(ProgressCallback)

        train_started = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
        train_seconds = time.perf_counter() - train_started
        state = trainer.state
    finally:
        hf_logging.set_verbosity(previous_verbosity)
        if bars_were_on:
            hf_logging.enable_progress_bar()

    return TrialSummary(
        steps_done=int(state.global_step),
        max_steps=int(state.max_steps),
        epochs_done=float(state.epoch or 0.0),
        best_eval_accuracy=session.best_accuracy,
        best_eval_macro_f1=session.best_macro_f1,
        final_label_loss=session.final_label_loss,
        final_eval_label_loss=session.final_eval_label_loss,
        wall_seconds=time.perf_counter() - started,
        train_seconds=train_seconds,
        tokens_per_second=session.train_tokens / train_seconds if train_seconds > 0 else None,
        samples_truncated=prepared.report.truncated,
        samples_dropped=prepared.report.dropped,
        num_train=num_train,
        num_eval=len(prepared.eval.features),
    )
