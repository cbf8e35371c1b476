"""The model's own chat template: prompt, end-of-turn after the target, loss mask exactly on the target."""

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
)
from sweeper.trial.tokenizer import local_tokenizer

EXAMPLE = Example("great product works", "positive", "great means positive", "d.jsonl", 1, system="Classify.")
EXPECTED = {
    "llama3": (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nClassify.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\ngreat product works<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n",
        "<|eot_id|>",
    ),
    "chatml": (
        "<|im_start|>system\nClassify.<|im_end|>\n<|im_start|>user\ngreat product works<|im_end|>\n"
        "<|im_start|>assistant\n",
        "<|im_end|>",
    ),
}


def encode(tokenizer, template, include_explanation=False):
    return encode_examples(
        [EXAMPLE], tokenizer, template, include_explanation=include_explanation, explanation_position="after",
        cutoff_len=512, overlength="error",
    ).features[0]


@pytest.mark.parametrize("style", ["llama3", "chatml"])
def test_default_prompt_is_the_chat_template_and_the_target_ends_with_its_end_of_turn(model_folders, style):
    tokenizer = local_tokenizer(str(model_folders[style]))
    feature = encode(tokenizer, TemplateSpec())
    prompt, end = EXPECTED[style]
    ids = feature.input_ids
    assert tokenizer.decode(ids[: feature.prompt_len]) == prompt
    assert tokenizer.decode(ids[feature.prompt_len :]) == "positive" + end
    assert ids[-1] == tokenizer.convert_tokens_to_ids(end) != tokenizer.eos_token_id
    if style == "llama3":
        assert ids.count(tokenizer.bos_token_id) == 1  # the template's bos, no second one
    # Loss exactly on the target: the prompt masked, every target token (label, end) learned.
    assert feature.labels[: feature.prompt_len] == [IGNORE_INDEX] * feature.prompt_len
    assert feature.labels[feature.prompt_len :] == ids[feature.prompt_len :]
    label_tokens = [i for i, s in enumerate(feature.segments) if s == SEG_LABEL]
    assert tokenizer.decode([ids[i] for i in label_tokens]) == "positive"
    assert feature.segments[-1] == SEG_OTHER and set(feature.segments[: feature.prompt_len]) == {SEG_PROMPT}


@pytest.mark.parametrize("style", ["llama3", "chatml"])
def test_explanation_target_segments_under_a_chat_template(model_folders, style):
    tokenizer = local_tokenizer(str(model_folders[style]))
    feature = encode(tokenizer, TemplateSpec(), include_explanation=True)
    target = feature.input_ids[feature.prompt_len :]
    assert tokenizer.decode(target) == "positive\nExplanation: great means positive" + EXPECTED[style][1]
    explanation = [t for t, s in zip(feature.input_ids, feature.segments) if s == SEG_EXPLANATION]
    assert tokenizer.decode(explanation).strip() == "great means positive"


def test_candidates_use_the_chat_prompt(model_folders):
    tokenizer = local_tokenizer(str(model_folders["chatml"]))
    feature = encode(tokenizer, TemplateSpec())
    prompt = feature.input_ids[: feature.prompt_len]
    candidates = label_candidates(
        tokenizer, TemplateSpec(), EXAMPLE, prompt, ["positive", "negative"], include_explanation=False,
        explanation_position="after",
    )
    scored = [tokenizer.decode([i for i, m in zip(c.ids, c.label_mask) if m]) for c in candidates]
    assert scored == ["positive", "negative"]
    assert all(c.ids[: len(prompt)] == prompt for c in candidates)


def test_template_prompt_overrides_the_chat_template(model_folders):
    tokenizer = local_tokenizer(str(model_folders["llama3"]))
    feature = encode(tokenizer, TemplateSpec(prompt="{system} Text: {text}\nLabel:"))
    assert tokenizer.decode(feature.input_ids[: feature.prompt_len]) == (
        "<|begin_of_text|>Classify. Text: great product works\nLabel:"
    )
    assert feature.input_ids[-1] == tokenizer.eos_token_id  # plain prompts end with eos
    assert TemplateSpec(prompt="Q: {text}").chat_template is False
    dumped = TemplateSpec().model_dump()
    assert TemplateSpec.model_validate(dumped).chat_template is None  # the default survives the round trip


def test_system_message_without_a_place_is_refused(model_folders):
    tokenizer = local_tokenizer(str(model_folders["llama3"]))
    with pytest.raises(SweeperError, match=r"d\.jsonl:1: the example has a system message but template\.prompt"):
        encode(tokenizer, TemplateSpec(prompt="Text: {text}"))


def test_chat_template_required_but_missing(tmp_path, make_model_folder):
    folder = make_model_folder(tmp_path / "plain", "chatml", ["a b c positive"], chat=False)
    with pytest.raises(SweeperError, match="template.chat_template: true, but the model's tokenizer has no chat"):
        encode(local_tokenizer(str(folder)), TemplateSpec(chat_template=True))
