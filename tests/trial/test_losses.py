"""The loss decomposition: segment losses from one forward pass add up to the total loss."""

import math

import pytest
import torch

from sweeper.data.examples import load_examples
from sweeper.spec.schema import TemplateSpec
from sweeper.trial.encode import IGNORE_INDEX, SEG_EXPLANATION, SEG_LABEL, SEG_OTHER, encode_examples
from sweeper.trial.losses import LossWindow, segment_losses, token_losses
from sweeper.trial.model import tiny_llama
from sweeper.trial.train import Collator


@pytest.fixture(scope="module")
def batch_and_model(small_data_dir):
    from sweeper.spec.schema import DatasetSpec

    dataset = DatasetSpec(
        train=small_data_dir / "train.jsonl", eval=small_data_dir / "eval.jsonl", labels=["positive", "negative", "neutral"]
    )
    data = load_examples(dataset, explanations_needed=True)
    texts = [ex.text for ex in data.train] + [ex.explanation for ex in data.train] + list(dataset.labels)
    texts += ["Text Label Explanation :"]
    model, tokenizer = tiny_llama(texts, seed=0)
    encoded = encode_examples(
        data.train[:12],
        tokenizer,
        TemplateSpec(),
        include_explanation=True,
        explanation_position="after",
        cutoff_len=64,
        overlength="truncate",
    )
    batch = Collator(tokenizer.pad_token_id)([f.as_item() for f in encoded.features])
    return batch, model


def test_segments_add_up_to_the_total_from_one_forward_pass(batch_and_model):
    batch, model = batch_and_model
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    parts = segment_losses(logits, batch["labels"], batch["segments"])
    n = parts.total_count
    n_label, n_expl, n_other = (parts.counts[s] for s in (SEG_LABEL, SEG_EXPLANATION, SEG_OTHER))
    assert n == n_label + n_expl + n_other
    assert n_label == 12 and n_expl > n_label and n_other >= 3 * 12  # "Explanation", ":", eos per example
    weighted = parts.mean(SEG_LABEL) * n_label + parts.mean(SEG_EXPLANATION) * n_expl + parts.mean(SEG_OTHER) * n_other
    assert parts.loss.item() * n == pytest.approx(weighted, rel=1e-6)


def test_total_equals_hf_causal_lm_loss(batch_and_model):
    batch, model = batch_and_model
    outputs = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    parts = segment_losses(outputs.logits, batch["labels"], batch["segments"])
    assert parts.loss.item() == pytest.approx(outputs.loss.item(), rel=1e-5)


def test_label_loss_is_the_mean_over_label_tokens(batch_and_model):
    batch, model = batch_and_model
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    per_token = token_losses(logits, batch["labels"])
    label_positions = batch["segments"][:, 1:] == SEG_LABEL
    expected = per_token[label_positions].mean().item()
    assert segment_losses(logits, batch["labels"], batch["segments"]).mean(SEG_LABEL) == pytest.approx(expected)


def test_gradient_flows_through_the_total(batch_and_model):
    batch, model = batch_and_model
    model.zero_grad()
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    segment_losses(logits, batch["labels"], batch["segments"]).loss.backward()
    assert model.lm_head.weight.grad is not None and torch.isfinite(model.lm_head.weight.grad).all()
    model.zero_grad()


@pytest.mark.parametrize("seed", range(5))
def test_identity_on_random_logits_and_segments(seed):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 9, 11, generator=generator) * 4
    labels = torch.randint(0, 11, (3, 9), generator=generator)
    segments = torch.randint(1, 4, (3, 9), generator=generator)
    labels[:, :3] = IGNORE_INDEX  # a masked prompt
    segments[:, :3] = 0
    parts = segment_losses(logits, labels, segments)
    weighted = sum(float(parts.sums[s]) for s in (1, 2, 3))
    assert parts.total_sum.item() == pytest.approx(weighted, rel=1e-6)
    assert parts.total_count == sum(parts.counts.values()) == 3 * 6


def test_window_accumulates_and_round_trips(batch_and_model):
    batch, model = batch_and_model
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    parts = segment_losses(logits, batch["labels"], batch["segments"])
    window = LossWindow()
    window.add(parts, tokens=100)
    window.add(parts, tokens=50)
    assert window.mean() == pytest.approx(parts.loss.item(), rel=1e-6)
    assert window.mean(SEG_LABEL) == pytest.approx(parts.mean(SEG_LABEL), rel=1e-6)
    again = LossWindow.from_state(window.state())
    assert (again.mean(), again.tokens, again.counts) == (window.mean(), 150, window.counts)
    assert LossWindow().mean() is None


def test_non_finite_logits_give_nan_not_an_error():
    logits = torch.full((1, 4, 5), float("nan"))
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, 3]])
    segments = torch.tensor([[0, 1, 2, 3]])
    parts = segment_losses(logits, labels, segments)
    assert math.isnan(parts.loss.item())
