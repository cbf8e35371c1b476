"""Fuzz the three log readers `sweeper diagnose` relies on: HF trainer_state.json, LLaMA-Factory
trainer_log.jsonl, ms-swift logging.jsonl.

Inputs are mutations of the real logs in shared/fixtures/real-logs (values replaced by odd JSON,
keys deleted, lines cut, dropped, duplicated, bytes flipped, the file truncated where a crash
would cut it) and random bytes. Whatever the input, `read_log` returns a curve or raises
SweeperError with a one-line message, and never through its catch-all for unforeseen errors
("unreadable log (...)"): each such hit is a reader bug. Every curve read is also judged, as
`sweeper diagnose` does.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweeper.errors import SweeperError
from sweeper.logs import read_log
from sweeper.rules import diagnose
from mutation import json_paths

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "real-logs"
HF_STATE = "gemma7b_lora_kgllm_5ep_healthy_nangrad_trainer_state.json"
HF_STATE_LONG = "mistral7b_lora_translator_4ep_staircase_trainer_state.json"
LLAMAFACTORY = "qwen25_7b_lora_medical_3ep_mixed_trainer_log.jsonl"
SWIFT = "dsr1_qwen3_8b_lora_swift_1ep_healthy_logging.jsonl"
MAX_LINES = 40  # slices of the real logs keep each example fast; the quirks are in every slice

_WORK = Path(tempfile.mkdtemp(prefix="sweeper-fuzz-logs-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)


def fixture_text(name: str) -> str:
    path = FIXTURES / name
    if not path.is_file():
        pytest.skip(f"{path} not found: the shared fixtures sit beside the checkout ({FIXTURES.parent})")
    return path.read_text(encoding="utf-8")


def check(data: bytes, name: str) -> None:
    """The property: a curve that can be judged, or one SweeperError line."""
    path = _WORK / name
    path.write_bytes(data)
    try:
        curve = read_log(path)
    except SweeperError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(path)), message
        assert "unreadable log (" not in message, f"a reader bug reached the catch-all: {message}"
        return
    assert curve.points, "a curve without points must be an error"
    diagnose(curve.points, max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)


# Values a log could hold where a number belongs, and then some.
odd_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "nan", "NaN", "inf", "-inf", "Infinity", "1e999", "-0", "0x10", "1,5", " 3 ", "n/a", "3/4", "/", "1/0/2"]),
    st.text(max_size=12),
)
odd_values = st.one_of(
    odd_scalars,
    st.lists(odd_scalars, max_size=2),
    st.dictionaries(st.text(max_size=4), odd_scalars, max_size=2),
)
# Keys the readers look at, so mutations hit the code paths that matter.
READER_KEYS = [
    "step", "epoch", "loss", "label_loss", "eval_loss", "eval_accuracy", "learning_rate", "lr", "grad_norm",
    "current_steps", "total_steps", "global_step", "global_step/max_steps", "log_history", "max_steps",
    "num_train_epochs", "memory", "train_runtime",
]
keys = st.one_of(st.sampled_from(READER_KEYS), st.text(max_size=8))


@st.composite
def mutated_json(draw: st.DrawFn, value: Any) -> Any:
    """`value` with a few random edits: a value replaced, a key deleted or added, an item dropped."""
    for _ in range(draw(st.integers(1, 4))):
        paths = json_paths(value)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["replace", "delete", "add", "replace"]))
        if not path:
            if op == "replace":
                value = draw(odd_values)
            continue
        parent = value
        for part in path[:-1]:
            parent = parent[part]
        last = path[-1]
        if op == "replace":
            parent[last] = draw(odd_values)
        elif op == "delete":
            del parent[last]
        elif isinstance(parent, dict):
            parent[draw(keys)] = draw(odd_values)
        else:
            parent.insert(last, draw(odd_values))
    return value


@st.composite
def text_edits(draw: st.DrawFn, text: str) -> bytes:
    """Line and byte level damage: what a crash, a bad copy or a second writer does to a log."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(0, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "duplicate", "swap", "cut"]))
        if op == "drop":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    data = "".join(lines).encode("utf-8")
    for _ in range(draw(st.integers(0, 2))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + draw(st.binary(min_size=1, max_size=3)) + data[i + 1 :]
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # a writer killed mid-write
    return data


def _trainer_state_slice(text: str, start: int, count: int) -> dict[str, Any]:
    doc = json.loads(text)
    doc["log_history"] = doc["log_history"][start : start + count]
    return doc


def _jsonl_slice(text: str, start: int, count: int) -> list[str]:
    lines = text.splitlines()
    if lines and start >= len(lines):
        start = len(lines) - 1
    return lines[start : start + count]


fuzz = settings(settings.get_profile("sweeper-fuzz"))


# HF trainer_state.json --------------------------------------------------------------------------


@fuzz
@given(data=st.data())
def test_hf_trainer_state(data):
    name = data.draw(st.sampled_from([HF_STATE, HF_STATE_LONG]))
    start = data.draw(st.integers(0, 900))
    doc = _trainer_state_slice(fixture_text(name), start, data.draw(st.integers(0, MAX_LINES)))
    if data.draw(st.booleans()):
        doc = data.draw(mutated_json(doc))
        text = json.dumps(doc, indent=data.draw(st.sampled_from([None, 2])))
    else:
        text = json.dumps(doc, indent=2)
    check(data.draw(text_edits(text)) if data.draw(st.booleans()) else text.encode(), "trainer_state.json")


# LLaMA-Factory trainer_log.jsonl ----------------------------------------------------------------


def _jsonl_case(data: st.DataObject, name: str) -> bytes:
    lines = _jsonl_slice(fixture_text(name), data.draw(st.integers(0, 700)), data.draw(st.integers(1, MAX_LINES)))
    if data.draw(st.booleans()):
        records = [json.loads(line) for line in lines]
        records = data.draw(mutated_json(records))
        if not isinstance(records, list):
            records = [records]
        lines = [json.dumps(record) for record in records]
    text = "\n".join(lines) + "\n"
    return data.draw(text_edits(text)) if data.draw(st.booleans()) else text.encode()


@fuzz
@given(data=st.data())
def test_llamafactory_trainer_log(data):
    check(_jsonl_case(data, LLAMAFACTORY), "trainer_log.jsonl")


# ms-swift logging.jsonl -------------------------------------------------------------------------


@fuzz
@given(data=st.data())
def test_swift_logging(data):
    check(_jsonl_case(data, SWIFT), "logging.jsonl")


# No fixture at all ------------------------------------------------------------------------------


@fuzz
@given(payload=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_random_bytes(payload):
    check(payload, "log.jsonl")


@fuzz
@given(lines=st.lists(st.dictionaries(keys, odd_values, max_size=4), min_size=1, max_size=4), as_array=st.booleans())
def test_random_json_records(lines, as_array):
    text = json.dumps(lines) if as_array else "\n".join(json.dumps(line) for line in lines)
    check(text.encode(), "trainer_log.jsonl")
