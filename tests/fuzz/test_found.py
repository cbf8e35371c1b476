"""Inputs the fuzzers found that once escaped as something other than SweeperError, kept as plain
regression tests (they run even where the shared fixtures are absent)."""

from __future__ import annotations

import json

import pytest

from sweeper.errors import SweeperError
from sweeper.logs import read_log
from sweeper.rules import diagnose
from sweeper.spec import load_spec


def judge(path):
    curve = read_log(path)
    diagnose(curve.points, max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)
    return curve


def test_log_of_unicode_whitespace_only_is_empty(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes("\u0085".encode())  # not ASCII whitespace: bytes.strip() keeps it, str.strip() does not
    with pytest.raises(SweeperError, match=r"log.jsonl: empty file \(only whitespace\)"):
        read_log(path)


def trainer_state(**extra):
    history = [{"step": s, "epoch": s / 10, "loss": 2.0 - s / 20} for s in range(1, 11)]
    return json.dumps({"log_history": history, **extra})


@pytest.mark.parametrize("max_steps", ["1e999", "0.5", "-3", '"inf"'])
def test_trainer_state_with_odd_max_steps_is_read_without_it(tmp_path, max_steps):
    path = tmp_path / "trainer_state.json"
    path.write_text(trainer_state().rstrip("}") + f', "max_steps": {max_steps}, "num_train_epochs": 1e-320}}')
    curve = judge(path)  # once OverflowError (int(inf)), then ValueError from the rules (max_steps 0)
    assert curve.max_steps is None and len(curve.points) == 10


def test_llamafactory_log_with_fractional_total_steps(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    lines = [{"current_steps": s, "total_steps": 0.5, "loss": 1.0, "epoch": s / 10} for s in range(1, 6)]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert judge(path).max_steps is None


def test_subnormal_epoch_gives_no_steps_per_epoch(tmp_path):
    path = tmp_path / "trainer_log.jsonl"
    lines = [{"current_steps": s, "loss": 1.0, "epoch": 5e-324} for s in range(1, 6)]  # step / epoch = inf
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert judge(path).steps_per_epoch is None


SPEC = "name: demo\ndataset:\n  train: data/train.jsonl\n  labels: [a, b]\n"


@pytest.mark.parametrize(
    "text,message",
    [
        (SPEC.replace("demo", "2020-13-45"), r"sweep.yaml:1:7: .*cannot read '2020-13-45' as a timestamp \(month must be in 1..12\)"),
        (SPEC + "train:\n  learning_rate: !!float abc\n", r"sweep.yaml:6:18: .*cannot read 'abc'"),
        (SPEC + "seed: " + "[" * 5000 + "]" * 5000 + "\n", r"sweep.yaml: YAML nested too deeply"),
        (SPEC + "storage: a\x07b\n", r"sweep.yaml:5:11: YAML error: unacceptable character #x0007"),
    ],
)
def test_yaml_values_python_cannot_build_are_spec_errors(tmp_path, text, message):
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(SweeperError, match=message):
        load_spec(path)


def test_override_value_python_cannot_build_is_an_override_error(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SPEC)
    with pytest.raises(SweeperError, match=r"--set name=2020-13-45: the value '2020-13-45' is not valid YAML"):
        load_spec(path, ["name=2020-13-45"])


def test_yaml_tag_python_cannot_build_is_a_spec_error(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(SPEC.replace("demo", "!!bool maybe"))  # once a KeyError from PyYAML
    with pytest.raises(SweeperError, match=r"sweep.yaml:1:7: .*cannot read 'maybe' as a bool; quote it"):
        load_spec(path)
