"""Fuzz the spec loader: random text, YAML-shaped text, random bytes, structured mutations of a
valid spec, and `--set` overrides.

Whatever the input, `load_spec` returns a SweepSpec or raises SweeperError with one line that
starts with the spec's file (or the `--set` at fault). And a spec that loads is one no trial can
reject: every value its search space can give makes valid trial settings.
"""

from __future__ import annotations

import atexit
import copy
import math
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sweeper.errors import SweeperError
from sweeper.spec import SweepSpec, load_spec
from sweeper.spec.schema import SEARCHABLE
from mutation import json_paths

_WORK = Path(tempfile.mkdtemp(prefix="sweeper-fuzz-spec-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)
SPEC = _WORK / "sweep.yaml"

VALID: dict[str, Any] = {
    "name": "demo",
    "model": "builtin:tiny-llama",
    "dataset": {
        "train": "data/train.jsonl",
        "eval": "data/eval.jsonl",
        "labels": ["positive", "negative", "neutral"],
        "overlength": "truncate",
        "template": {"prompt": "Text: {text}\nLabel:"},
    },
    "train": {"learning_rate": 3e-3, "num_train_epochs": 2, "lora_rank": 8, "cutoff_len": 64, "fp16": False},
    "search": {
        "algorithm": "optuna-tpe",
        "num_samples": 4,
        "metric": "eval_macro_f1",
        "space": {
            "learning_rate": {"loguniform": [1e-4, 3e-2]},
            "num_train_epochs": {"int": [1, 5]},
            "lora_rank": {"choice": [4, 8, 32]},
            "include_explanation": {"choice": [True, False]},
        },
    },
    "resources": {"cpu": 1, "gpu": 0},
    "pruner": {"grace_steps": 10},
}

fuzz = settings(settings.get_profile("sweeper-fuzz"))


def check(data: bytes, overrides: list[str] = ()) -> None:
    SPEC.write_bytes(data)
    try:
        spec = load_spec(SPEC, overrides)
    except SweeperError as error:
        message = str(error)
        assert "\n" not in message, message
        assert message.startswith(str(SPEC)) or message.startswith("--set "), message
        return
    assert isinstance(spec, SweepSpec)
    check_space_is_runnable(spec)


def check_space_is_runnable(spec: SweepSpec) -> None:
    """What a trial does with sampled values must not fail: the loader has checked them all."""
    rng = random.Random(0)
    for name, dim in spec.search.space.items():
        if dim.is_finite:
            samples = dim.values
        elif dim.kind == "int":
            low, high = dim.values
            samples = [low, high, rng.randint(low, high)]
        elif dim.kind == "uniform":
            low, high = dim.values
            samples = [rng.uniform(low, high) for _ in range(3)]
        else:
            low, high = dim.values
            samples = [math.exp(rng.uniform(math.log(low), math.log(high))) for _ in range(3)]
        for value in samples:
            spec.trial_settings({name: value})  # a pydantic error here is a loader bug


# Random text and bytes ---------------------------------------------------------------------------


@fuzz
@given(text=st.text(max_size=400))
def test_random_text(text):
    check(text.encode("utf-8", "surrogatepass"))


@fuzz
@given(data=st.binary(max_size=300))
def test_random_bytes(data):
    check(data)


# YAML-shaped text --------------------------------------------------------------------------------

SPEC_KEYS = sorted(
    {"name", "model", "storage", "dataset", "train", "search", "resources", "pruner", "space", "labels", "choice",
     "loguniform", "uniform", "int", "grid", "algorithm", "num_samples", "metric", "mode", "cpu", "gpu", "template",
     "prompt", "overlength", "eval_fraction", "dataset_info", "dataset_name", "<<", "?"}
    | set(SEARCHABLE)
)
SCALARS = [
    "", "~", "null", "true", "no", "on", "0", "-1", "1e-4", "1.0e-4", "-1e-4", ".inf", "-.inf", ".nan", "1e999",
    "0x1F", "0o17", "1_000", "2020-01-01", "2020-13-45", "2001-12-14t21:59:43.10-05:00", "12:30:00", "'quoted'",
    '"double \\u00e9"', '"bad \\x"', "'unclosed", "|\n  block", ">-\n  folded", "!!binary aGk=", "!!binary !!!",
    "!!float abc", "!!int 1.5", "!!str 5", "!!python/object:os.system x", "!!set {a, b}", "!!omap [a: 1]",
    "!!timestamp 2020-02-30", "!!bool maybe", "&anchor 1", "*anchor", "*missing", "[1, 2", "{a: 1", "[]", "{}",
    "[0, 1e-2]", "[1e-5, 1e-2]", "[4, 8]", "[a, b, c]", "{choice: [0]}", "{loguniform: [0, 1]}", "{int: [3, 1]}",
    "{uniform: [-1, 1]}", "{choice: []}", "{grid: [1, 2]}", "@reserved", "`tick", "%", "- item", "? key", ":", "#",
    "\t", "\ufeff", "\x85", "\u2028", "\x00", "\x1b", "ß" * 3, "data/train.jsonl", "builtin:tiny-llama",
    "builtin:other", "/no/such/model", "[" * 60 + "]" * 60, "{a: " * 40 + "1" + "}" * 40,
]


# Mostly printable text: control characters stop the YAML reader before anything else runs.
words = st.one_of(st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=10), st.text(max_size=4))


@st.composite
def yaml_like(draw: st.DrawFn) -> str:
    lines = []
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["---", "%YAML 1.1", "%TAG ! tag:x,2000:", "...", "--- !!map", "--- |"])))
    for _ in range(draw(st.integers(1, 14))):
        indent = " " * draw(st.sampled_from([0, 0, 2, 2, 4, 6, 1, 3]))
        shape = draw(st.sampled_from(["key: value", "key:", "- value", "- key: value", "? key", ": value", "text"]))
        key = draw(st.one_of(st.sampled_from(SPEC_KEYS), words))
        value = draw(st.one_of(st.sampled_from(SCALARS), words))
        line = shape.replace("key", key, 1).replace("value", value, 1) if shape != "text" else value
        lines.append(indent + line)
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n", "\n\n---\n"]))


VALID_LINES = yaml.safe_dump(VALID, sort_keys=False).splitlines()


@st.composite
def edited_valid_text(draw: st.DrawFn) -> str:
    """The valid spec's YAML with a few lines edited: odd scalars after `key: `, lines dropped,
    duplicated or re-indented. Most edits keep the document parseable, so they reach the schema."""
    lines = list(VALID_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["value", "value", "value", "drop", "duplicate", "indent", "insert"]))
        if op == "value":
            head, colon, _ = lines[i].partition(": ")
            if not colon:
                head, colon = lines[i].rstrip(":"), ": "
            lines[i] = head + colon + draw(st.sampled_from(SCALARS))
        elif op == "drop":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 5)) + lines[i].lstrip()
        else:
            indent = len(lines[i]) - len(lines[i].lstrip())
            lines.insert(i, " " * indent + draw(st.sampled_from(SPEC_KEYS)) + ": " + draw(st.sampled_from(SCALARS)))
        if not lines:
            break
    return "\n".join(lines) + "\n"


@fuzz
@given(text=st.one_of(yaml_like(), edited_valid_text()))
def test_yaml_shaped_text(text):
    check(text.encode("utf-8", "surrogatepass"))


# Structured mutations of a valid spec, and --set overrides --------------------------------------

odd_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["", "all", "grid", "random", "builtin:x", "{text}", "{label}", "max", "nan", "-inf", "1e-4"]),
    st.text(max_size=8),
)
odd_values = st.one_of(
    odd_scalars,
    st.lists(odd_scalars, max_size=3),
    st.dictionaries(st.one_of(st.sampled_from(SPEC_KEYS), st.text(max_size=5)), odd_scalars, max_size=3),
)


@st.composite
def mutated_spec(draw: st.DrawFn) -> Any:
    spec: Any = copy.deepcopy(VALID)
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(json_paths(spec)))
        if not path:
            continue
        parent = spec
        for part in path[:-1]:
            parent = parent[part]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add", "rename"]))
        if op == "replace":
            parent[path[-1]] = draw(odd_values)
        elif op == "delete":
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.one_of(st.sampled_from(SPEC_KEYS), st.text(max_size=6), st.integers()))] = draw(odd_values)
        elif op == "rename" and isinstance(parent, dict):
            parent[draw(st.sampled_from(SPEC_KEYS))] = parent.pop(path[-1])
    return spec


# Keys a user would --set (every key of the valid spec, every train setting), and random ones.
OVERRIDE_KEYS = sorted(
    {".".join(map(str, path)) for path in json_paths(VALID) if path and not isinstance(path[-1], int)}
    | {f"train.{name}" for name in SEARCHABLE}
    | {f"search.space.{name}.choice" for name in SEARCHABLE}
)


@st.composite
def overrides(draw: st.DrawFn) -> list[str]:
    out = []
    for _ in range(draw(st.integers(0, 3))):
        random_key = ".".join(draw(st.lists(st.one_of(st.sampled_from(SPEC_KEYS), st.text(max_size=4)), max_size=4)))
        key = draw(st.one_of(st.sampled_from(OVERRIDE_KEYS), st.just(random_key)))
        value = draw(st.one_of(st.sampled_from(SCALARS), st.text(max_size=8)))
        out.append(draw(st.sampled_from([f"{key}={value}"] * 4 + [f"{key}{value}", f"{key}=", f"={value}"])))
    return out


@fuzz
@given(spec=mutated_spec(), sets=overrides())
def test_mutated_valid_spec(spec, sets):
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    check(text.encode("utf-8", "surrogatepass"), sets)


def test_the_unmutated_spec_loads():
    """The mutations start from a spec that loads, so they probe each check one at a time."""
    SPEC.write_text(yaml.safe_dump(VALID, sort_keys=False))
    load_spec(SPEC)
