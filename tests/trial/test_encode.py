"""Encoding: prompt masking, label/explanation segments in both orders, overlength handling."""

import pytest

from sweeper.data.examples import Example
from sweeper.errors import SweeperError
from sweeper.spec.schema import TemplateSpec
from sweeper.trial.encode import (
    IGNORE_INDEX,
    SEG_EXPLANATION,
    SEG_LABEL,
    SEG_OTHER,
    SEG_PROMPT,
    encode_examples,
    label_candidates,
    label_marker,
    parse_label,
    render,
)
from sweeper.trial.tokenizer import build_word_tokenizer

TEMPLATE = TemplateSpec()
LABELS = ["positive", "negative", "neutral"]


@pytest.fixture(scope="module")
def tokenizer():
    texts = ["good food nice staff bad slow so so because it was fine", *LABELS]
    texts += [render(t, {}).text for t in (TEMPLATE.prompt, TEMPLATE.label_then_explanation, TEMPLATE.explanation_then_label)]
    return build_word_tokenizer(texts)


def example(text="good food nice staff", label="positive", explanation="because it was good", line=1):
    return Example(text=text, label=label, explanation=explanation, file="t.jsonl", line=line)


def encode(tokenizer, examples, include=False, position="after", cutoff=64, overlength="truncate"):
    return encode_examples(
        examples,
        tokenizer,
        TEMPLATE,
        include_explanation=include,
        explanation_position=position,
        cutoff_len=cutoff,
        overlength=overlength,
    )


def tokens(tokenizer, ids):
    return tokenizer.convert_ids_to_tokens(ids)


def by_segment(tokenizer, feature, segment):
    return [tokenizer.convert_ids_to_tokens(i) for i, s in zip(feature.input_ids, feature.segments) if s == segment]


def test_render_records_spans():
    rendered = render(" {label}\nExplanation: {explanation}", {"label": "pos", "explanation": "a {b}"})
    assert rendered.text == " pos\nExplanation: a {b}"
    assert rendered.text[slice(*rendered.label_span)] == "pos"
    assert rendered.text[slice(*rendered.explanation_span)] == "a {b}"


def test_label_only_masks_the_prompt(tokenizer):
    feature = encode(tokenizer, [example()]).features[0]
    assert tokens(tokenizer, feature.input_ids) == ["<s>", "Text", ":", "good", "food", "nice", "staff", "Label", ":", "positive", "</s>"]
    assert feature.prompt_len == 9
    assert feature.labels[:9] == [IGNORE_INDEX] * 9
    assert feature.labels[9:] == feature.input_ids[9:]
    assert feature.segments == [SEG_PROMPT] * 9 + [SEG_LABEL, SEG_OTHER]


def test_label_then_explanation_segments(tokenizer):
    feature = encode(tokenizer, [example()], include=True, position="after").features[0]
    assert by_segment(tokenizer, feature, SEG_LABEL) == ["positive"]
    assert by_segment(tokenizer, feature, SEG_EXPLANATION) == ["because", "it", "was", "good"]
    assert by_segment(tokenizer, feature, SEG_OTHER) == ["Explanation", ":", "</s>"]
    target = feature.segments[feature.prompt_len :]
    assert target[0] == SEG_LABEL and target[-1] == SEG_OTHER
    assert all(label != IGNORE_INDEX for label in feature.labels[feature.prompt_len :])


def test_explanation_then_label_segments(tokenizer):
    feature = encode(tokenizer, [example()], include=True, position="before").features[0]
    target_tokens = tokens(tokenizer, feature.input_ids[feature.prompt_len :])
    assert target_tokens == ["Explanation", ":", "because", "it", "was", "good", "Label", ":", "positive", "</s>"]
    assert feature.segments[feature.prompt_len :] == [3, 3, 2, 2, 2, 2, 3, 3, 1, 3]


def test_label_word_inside_the_explanation_is_explanation(tokenizer):
    feature = encode(tokenizer, [example(explanation="so positive")], include=True).features[0]
    assert by_segment(tokenizer, feature, SEG_LABEL) == ["positive"]
    assert by_segment(tokenizer, feature, SEG_EXPLANATION) == ["so", "positive"]


def test_missing_explanation_when_included_names_the_example(tokenizer):
    with pytest.raises(SweeperError, match=r"t\.jsonl:7: no explanation"):
        encode(tokenizer, [example(explanation=None, line=7)], include=True)


# Lengths: prompt 9 tokens; label-only target 2; with explanation "because it was good" 8.
@pytest.mark.parametrize(
    "overlength, cutoff, kept, truncated, dropped",
    [
        ("truncate", 17, 2, 0, 0),  # 17 fits exactly: nothing counted
        ("truncate", 14, 2, 2, 0),
        ("drop", 14, 0, 0, 2),
        ("drop", 17, 2, 0, 0),
    ],
)
def test_overlength_is_handled_and_counted(tokenizer, overlength, cutoff, kept, truncated, dropped):
    encoded = encode(tokenizer, [example(line=1), example(line=2)], include=True, cutoff=cutoff, overlength=overlength)
    assert (len(encoded.features), encoded.truncated, encoded.dropped) == (kept, truncated, dropped)
    for feature in encoded.features:
        assert len(feature.input_ids) == len(feature.labels) == len(feature.segments) <= cutoff
    if truncated:
        feature = encoded.features[0]
        assert feature.truncated
        # the end of the target is cut: label kept, eos and the explanation's tail gone
        assert by_segment(tokenizer, feature, SEG_LABEL) == ["positive"]
        assert tokens(tokenizer, feature.input_ids)[-1] != "</s>"
    if dropped:
        assert encoded.dropped_where == ["t.jsonl:1", "t.jsonl:2"]


def test_overlength_error_names_the_first_example(tokenizer):
    short, long_ = example(line=3), example(text="good food " * 10, line=5)
    with pytest.raises(SweeperError, match=r"t\.jsonl:5: 27 tokens, longer than cutoff_len 20"):
        encode(tokenizer, [short, long_, example(text="bad " * 30, line=9)], include=False, cutoff=20, overlength="error")


def test_truncate_keeps_one_target_token_when_the_prompt_alone_is_too_long(tokenizer):
    feature = encode(tokenizer, [example(text="good " * 40)], cutoff=16).features[0]
    assert len(feature.input_ids) == 16
    assert feature.prompt_len == 15
    assert feature.segments[-1] == SEG_LABEL


def test_label_candidates_score_only_label_tokens(tokenizer):
    feature = encode(tokenizer, [example()], include=True).features[0]
    prompt = feature.input_ids[: feature.prompt_len]
    candidates = label_candidates(
        tokenizer, TEMPLATE, feature.example, prompt, LABELS, include_explanation=True, explanation_position="after"
    )
    assert [tokens(tokenizer, c.ids[len(prompt) :]) for c in candidates] == [["positive"], ["negative"], ["neutral"]]
    for candidate in candidates:
        assert candidate.ids[: len(prompt)] == prompt
        assert candidate.label_mask == [False] * len(prompt) + [True]


def test_label_marker_of_default_and_custom_templates():
    assert label_marker(TEMPLATE) == "Label:"
    custom = TemplateSpec(explanation_then_label="{explanation} {label}")
    assert label_marker(custom) == ""


@pytest.mark.parametrize(
    "generated, marker, expected",
    [
        ("Explanation : because good Label : positive", "Label:", "positive"),
        ("Explanation: x\nLabel: neutral", "Label:", "neutral"),
        ("Label : negative Label : neutral", "Label:", "neutral"),  # the last marker counts
        ("Explanation : because good", "Label:", None),  # no marker
        ("Explanation : x Label : great", "Label:", None),  # no known label after it
        ("Label : positive and more words", "Label:", "positive"),
        ("it was fine so neutral", "", "neutral"),
    ],
)
def test_parse_label(generated, marker, expected):
    assert parse_label(generated, marker, LABELS) == expected


def test_parse_label_prefers_the_longest_label():
    assert parse_label("Label: very positive", "Label:", ["very", "very positive"]) == "very positive"
