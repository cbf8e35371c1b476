"""Evaluation metrics: eval_loss, eval_label_loss, eval_accuracy, eval_macro_f1.

- `eval_loss` / `eval_label_loss`: teacher-forced, the same targets and masking as training,
  means over all target tokens / over label tokens of the whole eval set.
- Classification, label first (no explanation, or the explanation after the label): each label
  of the label set is scored by the sum of the log-probabilities of its tokens after the prompt
  (and any template text before the label); the most likely label is the prediction. All
  labels of a batch of examples go through the model in one forward pass.
- Classification, explanation first: greedy generation from the prompt, then the label is read
  after the label marker (the text between {explanation} and {label} in the template,
  e.g. "Label:"). No marker or no known label after it counts as wrong.

Macro-F1 is the unweighted mean of per-label F1 = 2TP / (2TP + FP + FN) over the labels that
occur in the true labels or the predictions (as scikit-learn does with labels=None); an
unparseable prediction is a false negative of its true label and a false positive of none.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import torch

from sweeper.spec.schema import TemplateSpec
from sweeper.trial.encode import (
    IGNORE_INDEX,
    SEG_LABEL,
    Candidate,
    Feature,
    end_ids,
    label_candidates,
    label_first,
    label_marker,
    parse_label,
)
from sweeper.trial.losses import LossTotals, LossWindow, segment_losses


def accuracy(y_true: Sequence[str], y_pred: Sequence[str | None]) -> float:
    if not y_true:
        return float("nan")
    return sum(1 for t, p in zip(y_true, y_pred) if t == p) / len(y_true)


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str | None], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean of per-label F1 over `labels` that occur in y_true or y_pred."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true and y_pred differ in length: {len(y_true)} != {len(y_pred)}")
    present = set(y_true) | {p for p in y_pred if p is not None}
    ordered = [label for label in (labels if labels is not None else sorted(present)) if label in present]
    if not ordered:
        return float("nan")
    scores = []
    for label in ordered:
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == label and p == label)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != label and p == label)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == label and p != label)
        denominator = 2 * tp + fp + fn
        scores.append(2 * tp / denominator if denominator else 0.0)
    return sum(scores) / len(scores)


@dataclass
class EvalPlan:
    """Everything evaluation needs, prepared once per trial."""

    features: list[Feature]  # encoded eval examples (teacher-forced losses)
    labels: list[str]
    label_first: bool
    candidates: list[list[Candidate]] | None  # per example, per label (label first)
    prompts: list[list[int]] | None  # per example (explanation first: generation)
    marker: str
    max_new_tokens: int
    pad_id: int
    eos_id: int
    batch_size: int


def make_plan(
    features: list[Feature],
    tokenizer: Any,
    template: TemplateSpec,
    labels: Sequence[str],
    *,
    include_explanation: bool,
    explanation_position: str,
    batch_size: int,
    max_new_tokens: int,
) -> EvalPlan:
    first = label_first(include_explanation, explanation_position)
    candidates = prompts = None
    if first:
        candidates = [
            label_candidates(
                tokenizer,
                template,
                f.example,
                f.input_ids[: f.prompt_len],
                labels,
                include_explanation=include_explanation,
                explanation_position=explanation_position,
            )
            for f in features
        ]
    else:
        prompts = [f.input_ids[: f.prompt_len] for f in features]
    return EvalPlan(
        features=features,
        labels=list(labels),
        label_first=first,
        candidates=candidates,
        prompts=prompts,
        marker=label_marker(template),
        max_new_tokens=max_new_tokens,
        pad_id=int(tokenizer.pad_token_id),
        eos_id=end_ids(tokenizer, template)[0],
        batch_size=batch_size,
    )


def _device(model: Any) -> torch.device:
    return next(model.parameters()).device


def _pad_right(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    width = max(len(row) for row in rows)
    return torch.tensor([list(row) + [value] * (width - len(row)) for row in rows], dtype=torch.long)


@torch.no_grad()
def teacher_forced_losses(model: Any, features: Sequence[Feature], batch_size: int, pad_id: int) -> LossTotals:
    window = LossWindow()
    device = _device(model)
    for start in range(0, len(features), batch_size):
        batch = features[start : start + batch_size]
        input_ids = _pad_right([f.input_ids for f in batch], pad_id).to(device)
        labels = _pad_right([f.labels for f in batch], IGNORE_INDEX).to(device)
        segments = _pad_right([f.segments for f in batch], 0).to(device)
        mask = _pad_right([[1] * len(f.input_ids) for f in batch], 0).to(device)
        logits = model(input_ids=input_ids, attention_mask=mask).logits
        window.add(segment_losses(logits, labels, segments))
    return window.read()


@torch.no_grad()
def label_scores(model: Any, candidates: Sequence[Sequence[Candidate]], batch_size: int, pad_id: int) -> list[list[float]]:
    """Sum of log-probabilities of each candidate's label tokens: [example][label]."""
    flat = [c for per_example in candidates for c in per_example]
    scores: list[float] = []
    device = _device(model)
    step = max(1, batch_size * max(1, len(candidates[0]) if candidates else 1))
    for start in range(0, len(flat), step):
        batch = flat[start : start + step]
        input_ids = _pad_right([c.ids for c in batch], pad_id).to(device)
        attention = _pad_right([[1] * len(c.ids) for c in batch], 0).to(device)
        scored = _pad_right([[int(m) for m in c.label_mask] for c in batch], 0).to(device).bool()
        logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1, :].float()
        log_probs = torch.log_softmax(logits, dim=-1)
        targets = input_ids[:, 1:]
        token_lp = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        sums = torch.where(scored[:, 1:], token_lp, torch.zeros_like(token_lp)).sum(dim=-1)
        scores.extend(float(x) for x in sums.cpu())
    per = len(candidates[0]) if candidates else 0
    return [scores[i * per : (i + 1) * per] for i in range(len(candidates))]


def pick(scores: Sequence[float], labels: Sequence[str]) -> str | None:
    """The best-scoring label; None when no score is a number (a diverged model)."""
    best, best_score = None, -math.inf
    for label, score in zip(labels, scores):
        if not math.isnan(score) and score > best_score:
            best, best_score = label, score
    return best


@torch.no_grad()
def greedy_generate(
    model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int, pad_id: int, eos_id: int, batch_size: int
) -> list[list[int]]:
    """Greedy continuations of each prompt (left-padded batches), cut at eos."""
    device = _device(model)
    out: list[list[int]] = []
    for start in range(0, len(prompts), batch_size):
        batch = prompts[start : start + batch_size]
        width = max(len(p) for p in batch)
        input_ids = torch.tensor([[pad_id] * (width - len(p)) + list(p) for p in batch], dtype=torch.long, device=device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch], dtype=torch.long, device=device)
        generated = model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=pad_id,
            eos_token_id=eos_id,
        )
        for row in generated[:, width:].tolist():
            out.append(row[: row.index(eos_id)] if eos_id in row else row)
    return out


def evaluate(model: Any, plan: EvalPlan, tokenizer: Any) -> dict[str, float]:
    """eval_loss, eval_label_loss, eval_accuracy, eval_macro_f1 (plus eval_unparsed when generating)."""
    was_training = model.training
    model.eval()
    try:
        losses = teacher_forced_losses(model, plan.features, plan.batch_size, plan.pad_id)
        y_true = [f.example.label for f in plan.features]
        metrics: dict[str, float] = {}
        if plan.label_first:
            assert plan.candidates is not None
            scores = label_scores(model, plan.candidates, plan.batch_size, plan.pad_id)
            y_pred = [pick(row, plan.labels) for row in scores]
        else:
            assert plan.prompts is not None
            continuations = greedy_generate(
                model, plan.prompts, plan.max_new_tokens, plan.pad_id, plan.eos_id, plan.batch_size
            )
            texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in continuations]
            y_pred = [parse_label(text, plan.marker, plan.labels) for text in texts]
            metrics["eval_unparsed"] = float(sum(1 for p in y_pred if p is None))
    finally:
        if was_training:
            model.train()
    # A loss with no tokens to average is absent, not NaN (NaN is what the divergence rule stops on).
    for name, value in (("eval_loss", losses.mean()), ("eval_label_loss", losses.mean(SEG_LABEL))):
        if value is not None:
            metrics[name] = value
    metrics.update(eval_accuracy=accuracy(y_true, y_pred), eval_macro_f1=macro_f1(y_true, y_pred, plan.labels))
    return metrics
