"""The HF Trainer of a trial: its arguments, the subclass that computes the segment losses and
evaluates, and the callback that decides when to evaluate, save and report.

Imported only when a trial trains (transformers is heavy).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch
from transformers import PrinterCallback, ProgressCallback, Trainer, TrainerCallback, TrainingArguments

from sweeper.spec.schema import TrainSettings
from sweeper.trial.checkpoints import STATE_FILE, file_sizes, keep_latest
from sweeper.trial.evaluate import EvalPlan, evaluate
from sweeper.trial.losses import segment_losses
from sweeper.trial.reporting import ReportSession


class SweeperTrainer(Trainer):
    """Trainer whose loss also fills the session's label / explanation window, and whose
    evaluation is sweeper's (teacher-forced losses, accuracy, macro-F1), reported as a point."""

    # compute_loss divides by the tokens of the whole accumulated batch itself.
    loss_is_scaled_for_ga = True

    def __init__(self, *args: Any, session: ReportSession, plan: EvalPlan, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = session
        self.plan = plan

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"])
        parts = segment_losses(outputs.logits, inputs["labels"], inputs["segments"])
        self.session.window.add(parts, tokens=inputs["attention_mask"].sum())
        if num_items_in_batch is not None:
            denominator = num_items_in_batch
        else:
            denominator = parts.total_count.clamp(min=1) * self.current_gradient_accumulation_steps
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

    def __init__(self, session: ReportSession, settings: TrainSettings, output_dir: Path, keep: int) -> None:
        self.session = session
        self.settings = settings
        self.output_dir = output_dir
        self.keep = keep
        self.stopping = False

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
        if self.session.stop_requested():
            # The sweep is stopping: a checkpoint at this step, then the end, so a resume loses nothing.
            control.should_save = self.session.last_save_step != step
            control.should_training_stop = self.stopping = True
        return control

    def on_epoch_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.stopping:
            return control  # no epoch-end eval for a run that stops mid-epoch to be resumed
        if self.session.last_eval_step != state.global_step and not control.should_evaluate:
            control.should_evaluate = True
        if self.session.last_save_step != state.global_step:
            control.should_save = True
        return control

    def on_save(self, args, state, control, **kwargs):  # noqa: ANN001
        path = self.output_dir / f"checkpoint-{state.global_step}"
        window = self.session.window.read()  # on every rank: with several, a collective
        if state.is_world_process_zero:
            own = {"window": window.state(), "files": file_sizes(path), "reports": self.session.reports_since_save()}
            (path / STATE_FILE).write_text(json.dumps(own))
            keep_latest(self.output_dir, self.keep)
        self.session.last_save_step = state.global_step
        self.session.flush(path)

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        self.session.flush()


def training_arguments(settings: TrainSettings, output_dir: Path, ranks_backend: str | None = None) -> TrainingArguments:
    """`ranks_backend`: the torch.distributed backend of a data-parallel trial (its process group
    is already set up), None for one process."""
    ranks: dict[str, Any] = {}
    if ranks_backend is not None:
        # Without a GPU accelerate runs DDP on CPU only when told to (use_cpu).
        ranks = {"ddp_backend": ranks_backend, "use_cpu": ranks_backend == "gloo"}
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=settings.per_device_train_batch_size,
        per_device_eval_batch_size=settings.per_device_eval_batch_size,
        gradient_accumulation_steps=settings.gradient_accumulation_steps,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.num_train_epochs,
        lr_scheduler_type=settings.lr_scheduler_type,
        warmup_steps=settings.trainer_warmup,
        max_grad_norm=settings.max_grad_norm,
        weight_decay=settings.weight_decay,
        optim=settings.optim,
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
        **_checkpointing_args(settings.gradient_checkpointing),
        **ranks,
    )


def _checkpointing_args(enabled: bool) -> dict[str, Any]:
    """Gradient (activation) checkpointing, under the name this transformers version uses."""
    names = {f.name for f in dataclasses.fields(TrainingArguments)}
    prefix = "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"
    if not enabled:
        return {}
    # Non-reentrant checkpointing works with frozen inputs (LoRA) without enable_input_require_grads.
    return {prefix: True, f"{prefix}_kwargs": {"use_reentrant": False}}


def build_trainer(
    *,
    model: Any,
    tokenizer: Any,
    train_items: torch.utils.data.Dataset,
    collator: Any,
    plan: EvalPlan,
    session: ReportSession,
    settings: TrainSettings,
    output_dir: Path,
    keep_checkpoints: int,
    ranks_backend: str | None = None,
) -> SweeperTrainer:
    trainer = SweeperTrainer(
        model=model,
        args=training_arguments(settings, output_dir, ranks_backend),
        train_dataset=train_items,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[FlowCallback(session, settings, output_dir, keep_checkpoints)],
        session=session,
        plan=plan,
    )
    trainer.remove_callback(PrinterCallback)
    trainer.remove_callback(ProgressCallback)
    return trainer
