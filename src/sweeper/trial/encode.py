"""Examples -> token ids, loss labels and a segment id per token.

A sequence is `prompt + target + end`. The prompt is masked out of the loss (`labels` = -100).
It is the model tokenizer's chat template applied to the (system and) user message with the
generation prompt when the tokenizer has one and `template.prompt` is not set (or
`template.chat_template: true`); `end` is then the template's end-of-turn token(s) (what it
writes after an assistant message, e.g. `<|eot_id|>`, `<|im_end|>`). Otherwise the prompt is
rendered from `template.prompt` ({text}, {system}) and `end` is eos. The target is `template.label_only`, or
`template.label_then_explanation` / `template.explanation_then_label` when the trial includes
explanations. Placeholders are replaced by plain substitution (no `str.format`, so braces in
the data are safe), which also gives the character span of the label and of the explanation;
each target token is assigned to a segment by its character offsets:

    SEG_PROMPT      0  prompt tokens and padding (not in the loss)
    SEG_LABEL       1  tokens that overlap the label's characters
    SEG_EXPLANATION 2  tokens that overlap the explanation's characters (and not the label's)
    SEG_OTHER       3  every other target token: template glue ("Explanation", ":") and eos

The prompt and the target are tokenized separately (as LLaMA-Factory does), the prompt with the
tokenizer's special tokens (bos; a chat template writes its own), the target without, then
`end` is appended.

Overlength (prompt + target > cutoff_len), per `dataset.overlength`, always counted:
    truncate  cut the end of the target; if the prompt alone leaves no room for one target
              token, cut the end of the prompt so that one does
    drop      leave the example out
    error     SweeperError naming the file:line of the first one
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

from sweeper.data.examples import Example
from sweeper.errors import SweeperError
from sweeper.spec.schema import TemplateSpec

SEG_PROMPT, SEG_LABEL, SEG_EXPLANATION, SEG_OTHER = 0, 1, 2, 3
IGNORE_INDEX = -100

_PLACEHOLDER = re.compile(r"\{(text|system|label|explanation)\}")
_SENTINEL = "\u2063sweeper-target\u2063"


@dataclass(frozen=True)
class Rendered:
    """A rendered template and where the label and explanation values lie in it."""

    text: str
    label_span: tuple[int, int] | None = None
    explanation_span: tuple[int, int] | None = None


def render(template: str, values: dict[str, str]) -> Rendered:
    """Substitute {text}, {label}, {explanation}, recording the spans of label and explanation."""
    out: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    length = 0
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        literal = template[last : match.start()]
        out.append(literal)
        length += len(literal)
        value = values.get(match.group(1), "")
        spans[match.group(1)] = (length, length + len(value))
        out.append(value)
        length += len(value)
        last = match.end()
    out.append(template[last:])
    return Rendered("".join(out), spans.get("label"), spans.get("explanation"))


def target_template(template: TemplateSpec, include_explanation: bool, position: str) -> str:
    if not include_explanation:
        return template.label_only
    return template.label_then_explanation if position == "after" else template.explanation_then_label


def _target_text(tokenizer: Any, template: TemplateSpec, include_explanation: bool, position: str) -> str:
    """The target template; after a chat template's generation prompt without the leading blank
    the plain prompt needs ("Label:" then " {label}")."""
    text = target_template(template, include_explanation, position)
    return text.lstrip() if uses_chat_template(tokenizer, template) else text


def label_first(include_explanation: bool, position: str) -> bool:
    """Whether the label comes before anything else the model generates (likelihood eval)."""
    return not include_explanation or position == "after"


@dataclass
class Feature:
    """One encoded example. `prompt_len` tokens of `input_ids` are the prompt."""

    input_ids: list[int]
    labels: list[int]
    segments: list[int]
    prompt_len: int
    example: Example
    truncated: bool = False

    def as_item(self) -> dict[str, Any]:
        return {"input_ids": self.input_ids, "labels": self.labels, "segments": self.segments}


@dataclass
class Encoded:
    features: list[Feature]
    truncated: int = 0
    dropped: int = 0
    first_overlength: str | None = None  # file:line of the first overlength example
    dropped_where: list[str] = field(default_factory=list)


def uses_chat_template(tokenizer: Any, template: TemplateSpec) -> bool:
    """Whether prompts come from the tokenizer's chat template (see the module docstring)."""
    has = bool(getattr(tokenizer, "chat_template", None))
    if template.chat_template and not has:
        raise SweeperError("template.chat_template: true, but the model's tokenizer has no chat template")
    return has if template.chat_template is None else template.chat_template


def prompt_text(tokenizer: Any, template: TemplateSpec, example: Example) -> str:
    """The prompt as text: the chat template's rendering, or template.prompt filled in."""
    if uses_chat_template(tokenizer, template):
        messages = [{"role": "system", "content": example.system}] if example.system else []
        messages.append({"role": "user", "content": example.text})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if example.system and "{system}" not in template.prompt:
        raise SweeperError(
            f"{example.where}: the example has a system message but template.prompt has no {{system}}; "
            "add {system} to template.prompt (or use the model's chat template)"
        )
    return render(template.prompt, {"text": example.text, "system": example.system or ""}).text


def encode_prompt(tokenizer: Any, template: TemplateSpec, example: Example) -> list[int]:
    chat = uses_chat_template(tokenizer, template)
    return list(tokenizer(prompt_text(tokenizer, template, example), add_special_tokens=not chat)["input_ids"])


def end_ids(tokenizer: Any, template: TemplateSpec) -> list[int]:
    """What follows every target: the chat template's end-of-turn token(s), else eos."""
    if uses_chat_template(tokenizer, template):
        messages = [{"role": "user", "content": "x"}, {"role": "assistant", "content": _SENTINEL}]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        after = text[text.index(_SENTINEL) + len(_SENTINEL) :].strip() if _SENTINEL in text else ""
        ids = list(tokenizer(after, add_special_tokens=False)["input_ids"]) if after else []
        if ids:
            return ids
    eos = tokenizer.eos_token_id
    if eos is None:
        raise SweeperError("the tokenizer has no eos token; sweeper ends every target with it")
    return [int(eos)]


def encode_target(tokenizer: Any, rendered: Rendered, end: Sequence[int]) -> tuple[list[int], list[int]]:
    """Target ids (ending in `end`) and their segments, from the rendered target's offsets."""
    encoding = tokenizer(rendered.text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoding["input_ids"])
    segments = [_segment(span, rendered) for span in encoding["offset_mapping"]]
    return ids + list(end), segments + [SEG_OTHER] * len(end)


def _segment(span: Sequence[int], rendered: Rendered) -> int:
    start, end = int(span[0]), int(span[1])
    if end <= start:
        return SEG_OTHER
    for segment, value_span in ((SEG_LABEL, rendered.label_span), (SEG_EXPLANATION, rendered.explanation_span)):
        if value_span is not None and start < value_span[1] and end > value_span[0]:
            return segment
    return SEG_OTHER


def encode_example(
    tokenizer: Any,
    template: TemplateSpec,
    example: Example,
    *,
    include_explanation: bool,
    explanation_position: str,
) -> tuple[list[int], list[int], list[int]]:
    """(prompt ids, target ids, target segments) of one example, before any cut."""
    if include_explanation and not example.explanation:
        raise SweeperError(f"{example.where}: no explanation, but this trial trains with explanations")
    values = {"text": example.text, "label": example.label, "explanation": example.explanation or ""}
    rendered = render(_target_text(tokenizer, template, include_explanation, explanation_position), values)
    target_ids, target_segments = encode_target(tokenizer, rendered, end_ids(tokenizer, template))
    return encode_prompt(tokenizer, template, example), target_ids, target_segments


def sequence_lengths(
    examples: Sequence[Example],
    tokenizer: Any,
    template: TemplateSpec,
    *,
    include_explanation: bool,
    explanation_position: str,
) -> list[int]:
    """Tokens of prompt + target of each example: what `encode_examples` compares with cutoff_len."""
    out = []
    for example in examples:
        prompt, target, _ = encode_example(
            tokenizer,
            template,
            example,
            include_explanation=include_explanation,
            explanation_position=explanation_position,
        )
        out.append(len(prompt) + len(target))
    return out


def overlength_message(where: str, length: int, cutoff_len: int) -> str:
    """The error of `overlength: error`, the same from a trial and from the pre-flight check."""
    return (
        f"{where}: {length} tokens, longer than cutoff_len {cutoff_len} "
        "(dataset.overlength: error); raise train.cutoff_len or set overlength to truncate or drop"
    )


def encode_examples(
    examples: Sequence[Example],
    tokenizer: Any,
    template: TemplateSpec,
    *,
    include_explanation: bool,
    explanation_position: Literal["after", "before"],
    cutoff_len: int,
    overlength: Literal["truncate", "drop", "error"],
) -> Encoded:
    """Encode every example, handling and counting those longer than `cutoff_len`."""
    out = Encoded(features=[])
    for example in examples:
        prompt, target, target_segments = encode_example(
            tokenizer,
            template,
            example,
            include_explanation=include_explanation,
            explanation_position=explanation_position,
        )
        cut = False
        if len(prompt) + len(target) > cutoff_len:
            if out.first_overlength is None:
                out.first_overlength = example.where
            if overlength == "error":
                raise SweeperError(overlength_message(example.where, len(prompt) + len(target), cutoff_len))
            if overlength == "drop":
                out.dropped += 1
                out.dropped_where.append(example.where)
                continue
            prompt = prompt[: min(len(prompt), cutoff_len - 1)]
            keep = cutoff_len - len(prompt)
            target, target_segments = target[:keep], target_segments[:keep]
            out.truncated += 1
            cut = True
        input_ids = prompt + target
        labels = [IGNORE_INDEX] * len(prompt) + target
        segments = [SEG_PROMPT] * len(prompt) + target_segments
        out.features.append(Feature(input_ids, labels, segments, len(prompt), example, truncated=cut))
    return out


@dataclass(frozen=True)
class Candidate:
    """One label scored after one prompt: `ids` = prompt + target up to the label's end."""

    ids: list[int]
    label_mask: list[bool]  # True where ids[i] is a label token (scored)


def label_candidates(
    tokenizer: Any,
    template: TemplateSpec,
    example: Example,
    prompt_ids: list[int],
    labels: Sequence[str],
    *,
    include_explanation: bool,
    explanation_position: str,
) -> list[Candidate]:
    """For a label-first target: each label's tokens, as training renders them, after the prompt.

    The target is cut after the label's last token, so what follows (the explanation) does not
    count. Glue before the label ("{label}" preceded by template text) is fed but not scored.
    """
    out = []
    template_text = _target_text(tokenizer, template, include_explanation, explanation_position)
    closing = end_ids(tokenizer, template)
    for label in labels:
        rendered = render(template_text, {"text": example.text, "label": label, "explanation": ""})
        ids, segments = encode_target(tokenizer, rendered, closing)
        label_positions = [i for i, segment in enumerate(segments) if segment == SEG_LABEL]
        if not label_positions:
            raise SweeperError(f"label {label!r} encodes to no tokens; check dataset.labels and the template")
        end = label_positions[-1] + 1
        ids, segments = ids[:end], segments[:end]
        out.append(
            Candidate(
                ids=prompt_ids + ids,
                label_mask=[False] * len(prompt_ids) + [segment == SEG_LABEL for segment in segments],
            )
        )
    return out


def label_marker(template: TemplateSpec) -> str:
    """The text between the explanation and the label in `explanation_then_label`, stripped."""
    text = template.explanation_then_label
    start = text.index("{explanation}") + len("{explanation}")
    end = text.index("{label}")
    return text[start:end].strip() if end > start else ""


def parse_label(generated: str, marker: str, labels: Sequence[str]) -> str | None:
    """The label written after the last `marker` in generated text; None when there is none.

    Whitespace is ignored on both sides (word-level tokenizers decode with spaces between
    tokens: "Label : positive"). The longest label that the text after the marker starts with
    wins; with an empty marker, the longest label the text ends with.
    """
    squeezed = "".join(generated.split())
    wanted = sorted(labels, key=lambda label: -len("".join(label.split())))
    if marker:
        squeezed_marker = "".join(marker.split())
        at = squeezed.rfind(squeezed_marker)
        if at < 0:
            return None
        rest = squeezed[at + len(squeezed_marker) :]
        for label in wanted:
            if rest.startswith("".join(label.split())):
                return label
        return None
    for label in wanted:
        if squeezed.endswith("".join(label.split())):
            return label
    return None
