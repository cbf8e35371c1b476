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
  stops it). A loss whose window has no tokens of its kind (no label tokens left after
  truncation, say) is absent from the point, not NaN.
- every `eval_steps` steps and at every epoch end, an evaluation point: `step`, `epoch`,
  `eval_loss`, `eval_label_loss`, `eval_accuracy`, `eval_macro_f1`, plus `eval_seconds` (and
  `eval_unparsed` when the label is read from generated text).
- every report also states the trial's facts: `max_steps`, `steps_per_epoch`,
  `samples_truncated`, `samples_dropped`, `num_eval` (the eval rows each evaluation scores),
  `global_batch` (examples per optimizer step: per_device_train_batch_size x
  gradient_accumulation_steps x ranks), `resumed_from` (the checkpoint step this run started
  from; 0 from scratch).

Checkpoints are HF Trainer checkpoints (adapter, optimizer, scheduler, RNG, trainer_state with the
data position, plus `sweeper_state.json` with the open logging window) in
`output_dir/checkpoint-<step>` (sweeper.trial.checkpoints), every `save_steps` and at every epoch end. The last report made
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
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

import torch

from sweeper.data.examples import DataReport, Example, load_examples
from sweeper.errors import SweeperError
from sweeper.rules.signal import EVAL_METRIC
from sweeper.spec.schema import DatasetSpec, TrainSettings
from sweeper.trial.checkpoints import STATE_FILE, discard_later, resume_step
from sweeper.trial.encode import IGNORE_INDEX, Encoded, encode_examples, label_first, render
from sweeper.trial.evaluate import EvalPlan, make_plan
from sweeper.trial.losses import LossTotals
from sweeper.trial.model import LoadedModel, load_model
from sweeper.trial.reporting import Reporter, ReportSession


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


def steps_per_epoch(num_train: int, batch_size: int, accumulation: int) -> int:
    """Optimizer steps per epoch, as HF Trainer counts them (the last step may be partial)."""
    batches = math.ceil(num_train / batch_size)
    return batches // accumulation + int(batches % accumulation > 0)


def run_trial(
    config: TrialConfig, reporter: Reporter, resume_from: Path | None = None, across_ranks: bool = False
) -> TrialSummary:
    """Train one configuration, reporting as it goes; see the module docstring.

    `across_ranks`: this process is one rank of a data-parallel trial (torch.distributed is set up);
    its logging windows then sum every rank's batches.
    """
    started = time.perf_counter()
    if config.num_threads:
        torch.set_num_threads(int(config.num_threads))
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    step = None
    if resume_from is not None:
        resume_from = Path(resume_from)
        step = resume_step(resume_from)
        discard_later(output_dir, resume_from, step)
    with _transformers_quiet():
        from sweeper.trial.hf_trainer import build_trainer

        prepared = prepare(config)
        world_size = torch.distributed.get_world_size() if across_ranks else 1
        session = _open_session(config, prepared, reporter, resume_from, step, world_size)
        trainer = build_trainer(
            model=prepared.loaded.model,
            tokenizer=prepared.loaded.tokenizer,
            train_items=_Items([f.as_item() for f in prepared.train.features]),
            collator=Collator(int(prepared.loaded.tokenizer.pad_token_id)),
            plan=prepared.plan,
            session=session,
            settings=config.train,
            output_dir=output_dir,
            keep_checkpoints=config.keep_checkpoints,
            ranks_backend=torch.distributed.get_backend() if across_ranks else None,
        )
        train_started = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(resume_from) if resume_from is not None else None)
        train_seconds = time.perf_counter() - train_started
    return _summary(trainer.state, session, prepared, wall_seconds=time.perf_counter() - started, train_seconds=train_seconds)


@contextmanager
def _transformers_quiet() -> Iterator[None]:
    """transformers' warnings and progress bars off while a trial runs: it reports through points."""
    from transformers.utils import logging as hf_logging

    previous_verbosity = hf_logging.get_verbosity()
    bars_were_on = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(previous_verbosity)
        if bars_were_on:
            hf_logging.enable_progress_bar()


def _open_session(
    config: TrialConfig,
    prepared: Prepared,
    reporter: Reporter,
    resume_from: Path | None,
    step: int | None,
    world_size: int,
) -> ReportSession:
    """The reporting session, with the trial's facts and, on resume, the checkpoint's open window.
    With several ranks (`world_size` > 1) a step takes a batch from each."""
    settings = config.train
    batch = settings.per_device_train_batch_size * world_size
    per_epoch = steps_per_epoch(len(prepared.train.features), batch, settings.gradient_accumulation_steps)
    facts = {
        "max_steps": math.ceil(per_epoch * settings.num_train_epochs),  # as Trainer counts fractional epochs
        "steps_per_epoch": per_epoch,
        "samples_truncated": prepared.report.truncated,
        "samples_dropped": prepared.report.dropped,
        "num_eval": len(prepared.eval.features),
        "global_batch": batch * settings.gradient_accumulation_steps,
        "resumed_from": step if resume_from is not None and step is not None else 0,
    }
    if not label_first(settings.include_explanation, settings.explanation_position):
        facts["signal"] = EVAL_METRIC  # its label loss is teacher-forced after the gold explanation
    session = ReportSession(reporter, prepared.include_explanation, facts, across_ranks=world_size > 1)
    if resume_from is not None and step is not None:
        state_file = resume_from / STATE_FILE
        state = json.loads(state_file.read_text()) if state_file.is_file() else {}
        window = LossTotals.from_state(state["window"]) if "window" in state else LossTotals()
        session.reopen(window, step, state.get("reports", []))
    return session


def _summary(state: Any, session: ReportSession, prepared: Prepared, *, wall_seconds: float, train_seconds: float) -> TrialSummary:
    return TrialSummary(
        steps_done=int(state.global_step),
        max_steps=int(state.max_steps),
        epochs_done=float(state.epoch or 0.0),
        best_eval_accuracy=session.best_accuracy,
        best_eval_macro_f1=session.best_macro_f1,
        final_label_loss=session.final_label_loss,
        final_eval_label_loss=session.final_eval_label_loss,
        wall_seconds=wall_seconds,
        train_seconds=train_seconds,
        tokens_per_second=session.train_tokens / train_seconds if train_seconds > 0 else None,
        samples_truncated=prepared.report.truncated,
        samples_dropped=prepared.report.dropped,
        num_train=len(prepared.train.features),
        num_eval=len(prepared.eval.features),
    )
