"""Evaluation: macro-F1 by hand, likelihood classification and generation on models whose answer we control."""

import math
from types import SimpleNamespace

import pytest
import torch

from sweeper.data.examples import Example
from sweeper.spec.schema import TemplateSpec
from sweeper.trial.encode import encode_examples, render
from sweeper.trial.evaluate import accuracy, evaluate, macro_f1, make_plan, pick
from sweeper.trial.tokenizer import build_word_tokenizer

LABELS = ["positive", "negative", "neutral"]
TEMPLATE = TemplateSpec()


# --- macro-F1 against hand-computed values ---------------------------------------------------
@pytest.mark.parametrize(
    "y_true, y_pred, expected",
    [
        # perfect
        (["a", "b", "c"], ["a", "b", "c"], 1.0),
        # a: tp1 fp0 fn1 -> 2/3; b: tp1 fp1 fn0 -> 2/3; c: tp1 -> 1  => (2/3 + 2/3 + 1) / 3
        (["a", "a", "b", "c"], ["a", "b", "b", "c"], (2 / 3 + 2 / 3 + 1) / 3),
        # all predicted a: a: tp2 fp2 fn0 -> 4/6; b: fn1 -> 0; c: fn1 -> 0
        (["a", "a", "b", "c"], ["a", "a", "a", "a"], (4 / 6) / 3),
        # unparseable (None) is a miss of the true label, a false positive of nothing:
        # a: tp1 fn1 -> 2/3; b: tp1 -> 1
        (["a", "a", "b"], ["a", None, "b"], (2 / 3 + 1) / 2),
        # a label in neither truth nor prediction does not count (c absent)
        (["a", "b"], ["a", "b"], 1.0),
        # a predicted label absent from the truth counts as 0: a: tp1 fn1 -> 2/3; c: fp1 -> 0
        (["a", "a"], ["a", "c"], (2 / 3 + 0) / 2),
        # everything unparseable: a: fn2 -> 0
        (["a", "a"], [None, None], 0.0),
    ],
)
def test_macro_f1_table(y_true, y_pred, expected):
    assert macro_f1(y_true, y_pred, ["a", "b", "c"]) == pytest.approx(expected)


def test_macro_f1_and_accuracy_edges():
    assert accuracy(["a", "b", "c", "a"], ["a", "b", None, "b"]) == 0.5
    assert math.isnan(accuracy([], []))
    assert math.isnan(macro_f1([], [], ["a"]))
    with pytest.raises(ValueError, match="differ in length"):
        macro_f1(["a"], [], ["a"])


def test_pick_skips_nan_scores():
    assert pick([-1.0, -0.5, -3.0], LABELS) == "negative"
    assert pick([float("nan")] * 3, LABELS) is None
    assert pick([float("nan"), -2.0, -1.0], LABELS) == "neutral"


# --- a model whose answer we control ----------------------------------------------------------
CUE_TO_LABEL = {"good": "positive", "bad": "negative", "meh": "neutral"}


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["good bad meh food because x", *LABELS]
    texts += [render(t, {}).text for t in (TEMPLATE.prompt, TEMPLATE.label_then_explanation, TEMPLATE.explanation_then_label)]
    return build_word_tokenizer(texts)


class CueModel(torch.nn.Module):
    """Predicts, at every position, the label named by the cue word at position 3 (the first text word).

    Every other token gets logit 0, the answer 10: the label's log-probability is high only for
    the label the cue names.
    """

    def __init__(self, tokenizer, continuation=None):
        super().__init__()
        self.anchor = torch.nn.Parameter(torch.zeros(1))
        self.vocab = len(tokenizer)
        self.answer = {tokenizer.convert_tokens_to_ids(cue): tokenizer.convert_tokens_to_ids(label) for cue, label in CUE_TO_LABEL.items()}
        self.continuation = continuation or {}
        self.forward_batches = []

    def forward(self, input_ids, attention_mask=None):
        self.forward_batches.append(input_ids.shape[0])
        logits = torch.zeros(*input_ids.shape, self.vocab)
        for row in range(input_ids.shape[0]):
            answer = self.answer.get(int(input_ids[row, 3]))
            if answer is not None:
                logits[row, :, answer] = 10.0
        return SimpleNamespace(logits=logits)

    def generate(self, input_ids, attention_mask, max_new_tokens, **kwargs):
        rows = []
        for row, mask in zip(input_ids, attention_mask):
            first_word = int(row[mask.bool()][3])
            new = self.continuation.get(first_word, [])[:max_new_tokens]
            rows.append(row.tolist() + new + [0] * (max_new_tokens - len(new)))
        return torch.tensor(rows)


def examples(*pairs):
    return [Example(text=f"{cue} food", label=label, explanation="because x", file="e.jsonl", line=i + 1) for i, (cue, label) in enumerate(pairs)]


def plan_for(tokenizer, exs, include_explanation, position, batch_size=2):
    features = encode_examples(
        exs,
        tokenizer,
        TEMPLATE,
        include_explanation=include_explanation,
        explanation_position=position,
        cutoff_len=64,
        overlength="truncate",
    ).features
    return make_plan(
        features,
        tokenizer,
        TEMPLATE,
        LABELS,
        include_explanation=include_explanation,
        explanation_position=position,
        batch_size=batch_size,
        max_new_tokens=12,
    )


@pytest.mark.parametrize("include_explanation", [False, True])
def test_likelihood_classification_follows_the_model(tokenizer, include_explanation):
    exs = examples(("good", "positive"), ("bad", "negative"), ("meh", "neutral"), ("good", "negative"), ("bad", "negative"))
    plan = plan_for(tokenizer, exs, include_explanation, "after")
    assert plan.label_first
    model = CueModel(tokenizer)
    model.train()
    metrics = evaluate(model, plan, tokenizer)
    # predictions: positive, negative, neutral, positive, negative -> 4 of 5 right
    assert metrics["eval_accuracy"] == pytest.approx(0.8)
    # positive: tp1 fp1 -> 2/3; negative: tp2 fn1 -> 4/5; neutral: 1
    assert metrics["eval_macro_f1"] == pytest.approx((2 / 3 + 4 / 5 + 1) / 3)
    assert metrics["eval_loss"] > 0 and metrics["eval_label_loss"] > 0
    assert model.training  # evaluation puts the model back in training mode
    # the 3 labels of 2 examples go through the model together: batches of 6 sequences
    assert max(model.forward_batches) == 6


def test_generation_classification_reads_the_label_after_the_marker(tokenizer):
    ids = tokenizer.convert_tokens_to_ids
    say = lambda *words: [ids(w) for w in words]  # noqa: E731
    continuation = {
        ids("good"): say("Explanation", ":", "because", "x", "Label", ":", "positive", "</s>"),
        ids("bad"): say("Explanation", ":", "because", "x", "Label", ":", "neutral", "</s>"),
        ids("meh"): say("Explanation", ":", "because", "x", "</s>"),  # never says a label
    }
    exs = examples(("good", "positive"), ("bad", "negative"), ("meh", "neutral"), ("good", "positive"))
    plan = plan_for(tokenizer, exs, True, "before")
    assert not plan.label_first
    metrics = evaluate(CueModel(tokenizer, continuation), plan, tokenizer)
    assert metrics["eval_accuracy"] == pytest.approx(0.5)
    assert metrics["eval_unparsed"] == 1
    # positive: tp2 -> 1; negative: fn1 -> 0; neutral: fp1 fn1 -> 0
    assert metrics["eval_macro_f1"] == pytest.approx(1 / 3)


def test_greedy_generation_on_a_real_tiny_model(tokenizer):
    from sweeper.trial.evaluate import greedy_generate
    from sweeper.trial.model import tiny_llama

    model, tok = tiny_llama(["good bad meh food because x Label Explanation Text :", *LABELS], seed=0)
    prompts = [tok("Text: good food\nLabel:")["input_ids"], tok("Text: meh\nLabel:")["input_ids"]]
    out = greedy_generate(model, prompts, max_new_tokens=5, pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, batch_size=2)
    assert len(out) == 2 and all(len(row) <= 5 for row in out)
    # left padding must not change the answer: the shorter prompt alone gives the same tokens
    alone = greedy_generate(model, prompts[1:], max_new_tokens=5, pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, batch_size=1)
    assert alone[0] == out[1]
