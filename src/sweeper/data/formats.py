"""Record layouts: which fields of a record hold the prompt text, the system message, the target
and (optionally) a separate explanation.

    fields          {text_field, label_field, explanation_field} (sweeper's own; the default names
                    text / label / explanation)
    alpaca          LLaMA-Factory alpaca: instruction (+ "\\n" + input when non-empty), output,
                    system, history; renamed by the entry's `columns`
    sharegpt        LLaMA-Factory sharegpt: a list of turns (`conversations`, keys from/value, roles
                    human/gpt/system), renamed by the entry's `columns` and `tags`
    messages        OpenAI / ms-swift: `messages: [{role, content}]`, roles system/user/assistant
    query_response  ms-swift: query, response, system, history

A conversation must be one exchange: system turns (optional), one user turn, then the assistant
turn that is the target. An earlier exchange (multi-turn history) is refused: a classifier
reads one input; an empty history is fine. `auto` picks the layout from a file's first record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from sweeper.data.records import json_type
from sweeper.errors import SweeperError

FORMATS = ("auto", "fields", "alpaca", "sharegpt", "messages", "query_response")

# LLaMA-Factory's defaults (src/llamafactory/data/parser.py, DatasetAttr).
ALPACA_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output", "system": None, "history": None}
SHAREGPT_COLUMNS = {"messages": "conversations", "system": None}
SHAREGPT_TAGS = {
    "role_tag": "from",
    "content_tag": "value",
    "user_tag": "human",
    "assistant_tag": "gpt",
    "observation_tag": "observation",
    "function_tag": "function_call",
    "system_tag": "system",
}
OPENAI_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "observation_tag": "tool",
    "function_tag": "function",
    "system_tag": "system",
}


@dataclass(frozen=True)
class Raw:
    """What one record says, before the target is split into label and explanation."""

    text: str
    target: str
    explanation: str | None = None  # from a separate field; None: read it from the target
    system: str | None = None


@dataclass(frozen=True)
class Layout:
    """How to read one file's records; `origin` says where the field names came from, for messages."""

    format: str
    columns: dict[str, str | None] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    origin: str = ""

    def reader(self) -> Callable[[dict[str, Any], str], Raw]:
        return {
            "fields": self._fields,
            "alpaca": self._alpaca,
            "query_response": self._alpaca,
            "sharegpt": self._conversation,
            "messages": self._conversation,
        }[self.format]

    def _fields(self, record: dict[str, Any], where: str) -> Raw:
        explanation_name = self.columns["explanation"]
        return Raw(
            text=_string(record, self.columns["text"], where, self.origin),
            target=_label(record, self.columns["label"], where, self.origin),
            explanation=_optional_string(record, explanation_name, where, "the explanation"),
        )

    def _alpaca(self, record: dict[str, Any], where: str) -> Raw:
        columns = self.columns
        text = _string(record, columns["prompt"], where, self.origin)
        query = columns.get("query")
        if query and record.get(query):
            text = f"{text}\n{_string(record, query, where, self.origin)}" if text else _string(record, query, where, "")
        _no_history(record.get(columns["history"]) if columns.get("history") else None, where)
        return Raw(
            text=text,
            target=_label(record, columns["response"], where, self.origin),
            explanation=_optional_string(record, columns.get("explanation"), where, "the explanation"),
            system=_optional_string(record, columns.get("system"), where, "the system message"),
        )

    def _conversation(self, record: dict[str, Any], where: str) -> Raw:
        name = self.columns["messages"]
        assert name is not None
        turns = record.get(name)
        if not isinstance(turns, list) or not turns:
            got = "missing" if name not in record else f"a {json_type(turns)}" if turns else "empty"
            raise SweeperError(f"{where}: field '{name}'{self.origin} must be a non-empty list of turns; it is {got}")
        tags = self.tags
        roles = {tags["system_tag"]: "system", tags["user_tag"]: "user", tags["assistant_tag"]: "assistant"}
        system = _optional_string(record, self.columns.get("system"), where, "the system message")
        kinds: list[tuple[str, str]] = []
        for index, turn in enumerate(turns, start=1):
            if not isinstance(turn, dict):
                raise SweeperError(f"{where}: turn {index} of '{name}' must be an object, got a {json_type(turn)}")
            role, content = turn.get(tags["role_tag"]), turn.get(tags["content_tag"])
            if role not in roles:
                raise SweeperError(
                    f"{where}: turn {index} has role {role!r} ('{tags['role_tag']}'); sweeper reads "
                    f"{sorted(roles)} (tool and function turns are not classification data)"
                )
            if not isinstance(content, str):
                raise SweeperError(f"{where}: turn {index} '{tags['content_tag']}' must be a string, got a {json_type(content)}")
            kinds.append((roles[role], content))
        while kinds and kinds[0][0] == "system":
            system = "\n".join(part for part in (system, kinds.pop(0)[1]) if part)
        shape = [kind for kind, _ in kinds]
        if shape[-1:] != ["assistant"]:
            raise SweeperError(f"{where}: the last turn must be the assistant's answer (the target); turns are {shape}")
        if shape != ["user", "assistant"]:
            raise SweeperError(
                f"{where}: {shape.count('user')} user turns ({shape}); sweeper classifies one user turn with "
                "its answer, so multi-turn history is refused: put the context into the user turn"
            )
        return Raw(text=kinds[0][1], target=kinds[1][1].strip(), system=system or None)


def detect(record: Any, text_field: str, label_field: str) -> str:
    """The layout of a file, from its first record."""
    if isinstance(record, dict):
        if text_field in record and label_field in record:
            return "fields"
        if isinstance(record.get("messages"), list):
            return "messages"
        if isinstance(record.get("conversations"), list):
            return "sharegpt"
        if "query" in record and "response" in record:
            return "query_response"
        if "instruction" in record and "output" in record:
            return "alpaca"
    return "fields"


def layout(format: str, *, text_field: str, label_field: str, explanation_field: str) -> Layout:
    """The layout of a plain data file (not a dataset_info entry) with the default names."""
    if format == "fields":
        return Layout("fields", {"text": text_field, "label": label_field, "explanation": explanation_field})
    if format == "alpaca":
        return Layout("alpaca", {**ALPACA_COLUMNS, "system": "system", "history": "history", "explanation": explanation_field})
    if format == "query_response":
        columns = {"prompt": "query", "query": None, "response": "response", "system": "system", "history": "history"}
        return Layout("query_response", {**columns, "explanation": explanation_field})
    if format == "sharegpt":
        return Layout("sharegpt", {"messages": "conversations", "system": "system"}, SHAREGPT_TAGS)
    return Layout("messages", {"messages": "messages", "system": None}, OPENAI_TAGS)


def _no_history(history: Any, where: str) -> None:
    if history in (None, "", []):
        return
    if not isinstance(history, list):
        raise SweeperError(f"{where}: 'history' must be a list of [query, response] pairs, got a {json_type(history)}")
    raise SweeperError(
        f"{where}: a history of {len(history)} earlier turns; sweeper classifies one turn, so multi-turn history is "
        "refused: put the context into the prompt"
    )


def _string(record: dict[str, Any], name: str | None, where: str, origin: str) -> str:
    if name is None or name not in record:
        raise SweeperError(f"{where}: missing field '{name}'{origin} (fields present: {sorted(record)})")
    value = record[name]
    if not isinstance(value, str):
        raise SweeperError(f"{where}: field '{name}' must be a string, got a {json_type(value)}")
    return value


def _label(record: dict[str, Any], name: str | None, where: str, origin: str) -> str:
    if name is None or name not in record:
        raise SweeperError(f"{where}: missing field '{name}'{origin} (fields present: {sorted(record)})")
    value = record[name]
    # Integer class ids are common (0/1/2); they match labels written as "0", "1", "2".
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SweeperError(f"{where}: field '{name}' (the label) must be a string, got a {json_type(value)}")
    return str(value).strip()


def _optional_string(record: dict[str, Any], name: str | None, where: str, what: str) -> str | None:
    if name is None:
        return None
    value = record.get(name)
    if value is not None and not isinstance(value, str):
        raise SweeperError(f"{where}: field '{name}' ({what}) must be a string, got a {json_type(value)}")
    return value if value and value.strip() else None
