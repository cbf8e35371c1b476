"""The loss decomposition: segment losses from one forward pass add up to the total loss."""

import math
import sys
from pathlib import Path

import pytest
import torch

from sweeper.data.examples import load_examples
from sweeper.spec.schema import TemplateSpec
from sweeper.trial.encode import IGNORE_INDEX, SEG_EXPLANATION, SEG_LABEL, SEG_OTHER, encode_examples
from sweeper.trial.losses import SEGMENTS, LossTotals, LossWindow, segment_losses, token_losses
from sweeper.trial.model import tiny_llama
from sweeper.trial.train import Collator

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.host_syncs import count_host_syncs  # noqa: E402


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
    totals = read(parts)
    n = totals.total_count
    n_label, n_expl, n_other = (totals.counts[s] for s in (SEG_LABEL, SEG_EXPLANATION, SEG_OTHER))
    assert n == n_label + n_expl + n_other
    assert n_label == 12 and n_expl > n_label and n_other >= 3 * 12  # "Explanation", ":", eos per example
    weighted = sum(totals.mean(s) * totals.counts[s] for s in (SEG_LABEL, SEG_EXPLANATION, SEG_OTHER))
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
    assert read(segment_losses(logits, batch["labels"], batch["segments"])).mean(SEG_LABEL) == pytest.approx(expected)


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
    assert parts.total_sum.item() == pytest.approx(parts.sums.sum().item(), rel=1e-6)
    assert parts.total_count.item() == parts.counts.sum().item() == 3 * 6


def test_window_accumulates_and_round_trips(batch_and_model):
    batch, model = batch_and_model
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    parts = segment_losses(logits, batch["labels"], batch["segments"])
    window = LossWindow()
    window.add(parts, tokens=100)
    window.add(parts, tokens=torch.tensor(50))
    totals = window.read()
    assert totals.mean() == pytest.approx(parts.loss.item(), rel=1e-6)
    assert totals.mean(SEG_LABEL) == pytest.approx(read(parts).mean(SEG_LABEL), rel=1e-6)
    assert totals.counts[SEG_LABEL] == 2 * parts.counts[0].item()
    again = LossTotals.from_state(totals.state())
    assert (again.mean(), again.tokens, again.counts) == (totals.mean(), 150, totals.counts)
    assert LossWindow().read().mean() is None


def test_a_reopened_window_adds_to_its_start(batch_and_model):
    batch, model = batch_and_model
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    parts = segment_losses(logits, batch["labels"], batch["segments"])
    first = LossWindow()
    first.add(parts, tokens=10)
    reopened = LossWindow(start=LossTotals.from_state(first.read().state()))
    reopened.add(parts, tokens=10)
    both = LossWindow()
    both.add(parts, tokens=10)
    both.add(parts, tokens=10)
    assert reopened.read().mean() == pytest.approx(both.read().mean(), rel=1e-12)
    assert reopened.read().counts == both.read().counts and reopened.read().tokens == 20


def test_segment_ids_are_consecutive_so_they_are_made_on_the_device():
    assert SEGMENTS == tuple(range(SEGMENTS[0], SEGMENTS[0] + len(SEGMENTS)))


def test_filling_a_window_reads_nothing_back_to_the_host(batch_and_model):
    """A read of a device tensor (item, tolist, float, int, bool, ...) is a host sync on a GPU;
    on CPU the same calls are counted: none while the window fills, one to read it."""
    batch, model = batch_and_model
    window = LossWindow()
    for _ in range(3):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits  # the model's own reads
        with count_host_syncs() as syncs:
            parts = segment_losses(logits, batch["labels"], batch["segments"])
            parts.loss.backward()
            window.add(parts, tokens=batch["attention_mask"].sum())
        assert syncs.count == 0, syncs.sites
    model.zero_grad()
    with count_host_syncs() as syncs:
        window.read()
    assert syncs.count == 1


def read(parts):
    window = LossWindow()
    window.add(parts)
    return window.read()


def test_non_finite_logits_give_nan_not_an_error():
    logits = torch.full((1, 4, 5), float("nan"))
    labels = torch.tensor([[IGNORE_INDEX, 1, 2, 3]])
    segments = torch.tensor([[0, 1, 2, 3]])
    parts = segment_losses(logits, labels, segments)
    assert math.isnan(parts.loss.item())
