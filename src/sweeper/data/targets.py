"""A stored target read back into label and explanation.

A dataset with no separate explanation field often keeps both in one target string (LF's
`output`). The target is split by, in order:

1. `dataset.target_pattern` when set: a regex with named groups `label` and (optionally)
   `explanation`, matched against the whole target; nothing else is tried.
2. the target is exactly a label: no explanation;
3. the spec's own target templates, `label_then_explanation` and `explanation_then_label`
   (whitespace between the parts is free);
4. the common forms: the label on the first line and the explanation below it (an
   `Explanation:` / `Reason:` prefix is dropped); `Explanation: ... Label: X`;
   `<think>...</think>X`; a JSON object string with `label` and `explanation` keys.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Sequence

from sweeper.errors import SweeperError
from sweeper.spec.schema import TemplateSpec

COMMON_FORMS = (
    "the label on the first line then the explanation",
    "'Explanation: ... Label: X'",
    "'<think>...</think>X'",
    "a JSON object with label and explanation keys",
)
_PREFIX = r"(?:(?:explanation|reason|rationale)\s*:\s*)?"
_ONE_PLACEHOLDER = re.compile(r"\{(label|explanation)\}")


@dataclass(frozen=True)
class Target:
    label: str
    explanation: str | None


class TargetReader:
    """Splits target strings of one dataset; built once from the label set and the spec."""

    def __init__(self, labels: Sequence[str], template: TemplateSpec, pattern: str | None = None) -> None:
        self.labels = list(labels)
        self.pattern = re.compile(pattern, re.DOTALL) if pattern else None
        alternatives = "|".join(re.escape(label) for label in sorted(self.labels, key=len, reverse=True))
        label = rf"(?P<label>{alternatives})"
        self.forms = [
            _from_template(template.label_then_explanation, label),
            _from_template(template.explanation_then_label, label),
            re.compile(rf"{label}[ \t]*\.?[ \t]*\r?\n\s*{_PREFIX}(?P<explanation>.+)", re.DOTALL | re.IGNORECASE),
            re.compile(
                rf"(?:explanation|reason|rationale)\s*:\s*(?P<explanation>.+?)\s*(?:label|answer|class)\s*:\s*{label}\.?",
                re.DOTALL | re.IGNORECASE,
            ),
            re.compile(rf"<think>(?P<explanation>.*?)</think>\s*{label}", re.DOTALL),
        ]

    def read(self, target: str, where: str, labels_where: str) -> Target:
        stripped = target.strip()
        if self.pattern is not None:
            match = self.pattern.fullmatch(stripped)
            if match is None:
                raise SweeperError(
                    f"{where}: target {_short(stripped)} does not match dataset.target_pattern {self.pattern.pattern!r}"
                )
            return self.check_label(match.group("label").strip(), _group(match, "explanation"), where, labels_where)
        if stripped in self.labels:
            return Target(stripped, None)
        for form in self.forms:
            if form is None:
                continue
            match = form.fullmatch(stripped)
            if match is not None:
                return Target(match.group("label"), _group(match, "explanation"))
        found = _json_target(stripped)
        if found is not None:
            return self.check_label(found.label, found.explanation, where, labels_where)
        if "\n" not in stripped and len(stripped) <= 40:  # a plain (misspelt) label, not a combined target
            self.check_label(stripped, None, where, labels_where)
        raise SweeperError(
            f"{where}: target {_short(stripped)} is neither a label of {self.labels} ({labels_where}) nor label and "
            f"explanation in a known form (the spec's target templates, {', '.join(COMMON_FORMS)}); "
            "set dataset.target_pattern to a regex with named groups label and explanation"
        )

    def check_label(self, label: str, explanation: str | None, where: str, labels_where: str) -> Target:
        if label not in self.labels:
            near = get_close_matches(label, self.labels, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise SweeperError(f"{where}: label {label!r} is not in the label set {self.labels} ({labels_where}){hint}")
        return Target(label, explanation)


def _from_template(template: str, label: str) -> re.Pattern[str] | None:
    """A regex that reads a target written by `template` back; None when it is label-only."""
    parts = _ONE_PLACEHOLDER.split(template.strip())
    if "explanation" not in parts[1::2]:
        return None
    out = []
    for index, part in enumerate(parts):
        if index % 2:
            out.append(label if part == "label" else r"(?P<explanation>.+?)")
        else:
            words = part.split()
            out.append(r"\s*" + r"\s*".join(re.escape(word) for word in words) + (r"\s*" if words else ""))
    return re.compile("".join(out), re.DOTALL)


def _json_target(text: str) -> Target | None:
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("label"), (str, int)) or isinstance(value["label"], bool):
        return None
    explanation = value.get("explanation")
    return Target(str(value["label"]).strip(), explanation.strip() if isinstance(explanation, str) else None)


def _group(match: re.Match[str], name: str) -> str | None:
    if name not in match.re.groupindex:
        return None
    value = match.group(name)
    return value.strip() if value and value.strip() else None


def _short(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def guess_label(target: str) -> str:
    """The label a combined target most likely holds, when no label set is known yet: a JSON
    object's label, what follows </think> or a final 'Label:', else the first line."""
    text = target.strip()
    found = _json_target(text)
    if found is not None:
        return found.label
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1].strip()
    tail = re.search(r"(?:^|\n)\s*(?:label|answer|class)\s*:\s*([^\n]+?)\.?\s*$", text, re.IGNORECASE)
    if tail:
        return tail.group(1).strip()
    return text.splitlines()[0].strip().rstrip(".") if text else text
