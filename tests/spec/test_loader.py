import textwrap
from pathlib import Path

import pytest

from sweeper.errors import SweeperError
from sweeper.spec import load_spec

BASE = """\
name: demo
dataset:
  train: data/train.jsonl
  labels: [a, b, c]
train:
  learning_rate: 1e-4
search:
  num_samples: 4
  space:
    learning_rate: {loguniform: [1e-5, 1e-2]}
    lora_rank: {choice: [4, 8]}
    include_explanation: {choice: [true, false]}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_spec_loads_with_defaults(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    assert spec.name == "demo"
    assert spec.train.learning_rate == pytest.approx(1e-4)  # 1e-4 is a float, not YAML 1.1's string
    assert spec.train.num_train_epochs == 3
    assert spec.search.algorithm == "optuna-tpe"
    assert spec.search.resolved_mode == "max"
    assert spec.search.space["learning_rate"].kind == "loguniform"
    assert spec.storage == "results" and spec.sweep_dir == Path("results") / spec.name


def test_override_sets_nested_field_and_is_validated(tmp_path):
    spec = load_spec(write(tmp_path, BASE), ["train.num_train_epochs=5", "search.seed=7"])
    assert spec.train.num_train_epochs == 5
    assert spec.search.seed == 7


def test_trial_settings_apply_sampled_params(tmp_path):
    spec = load_spec(write(tmp_path, BASE))
    settings = spec.trial_settings({"learning_rate": 0.003, "lora_rank": 4, "include_explanation": False})
    assert (settings.learning_rate, settings.lora_rank, settings.include_explanation) == (0.003, 4, False)
    assert settings.lora_alpha == spec.train.lora_alpha


# (text to replace in BASE, replacement, message fragments the error must contain)
BAD = [
    ("  learning_rate: 1e-4\n", "  lerning_rate: 1e-4\n", ["sweep.yaml:6", "train.lerning_rate", "did you mean 'learning_rate'"]),
    ("  learning_rate: 1e-4\n", "  learning_rate: -1\n", ["sweep.yaml:6", "train.learning_rate", "greater than 0"]),
    ("{loguniform: [1e-5, 1e-2]}", "{loguniform: [0, 1e-2]}", ["sweep.yaml:10", "search.space.learning_rate", "positive"]),
    ("{loguniform: [1e-5, 1e-2]}", "{uniform: [0.1, 0.01]}", ["sweep.yaml:10", "low < high"]),
    ("{choice: [4, 8]}", "{choice: []}", ["sweep.yaml:11", "search.space.lora_rank", "at least one value"]),
    ("    lora_rank:", "    lora_rnak:", ["search.space", "did you mean 'lora_rank'"]),
    ("  num_samples: 4\n", "  num_samples: 0\n", ["sweep.yaml:8", "search.num_samples"]),
    ("name: demo\n", "", ["name", "required"]),
    ("  labels: [a, b, c]\n", "  labels: [a, a, c]\n", ["sweep.yaml:4", "dataset.labels", "unique"]),
    ("train:\n", "trian:\n", ["sweep.yaml:5", "unknown key 'trian'", "did you mean 'train'"]),
    ("  num_samples: 4\n", "  num_samples: four\n", ["search.num_samples", "four"]),
]


@pytest.mark.parametrize("old,new,fragments", BAD)
def test_bad_spec_names_file_line_and_key(tmp_path, old, new, fragments):
    assert old in BASE
    with pytest.raises(SweeperError) as caught:
        load_spec(write(tmp_path, BASE.replace(old, new, 1)))
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_yaml_syntax_error_gives_line_and_column(tmp_path):
    with pytest.raises(SweeperError, match=r"sweep.yaml:4:1: YAML syntax error: .*flow sequence at line 3"):
        load_spec(write(tmp_path, "name: demo\ndataset:\n  train: [unclosed\n"))


@pytest.mark.parametrize(
    "override,fragment",
    [
        ("train.learning_rate=0", "--set train.learning_rate=0"),
        ("train.lerning_rate=1", "did you mean 'learning_rate'"),
        ("noequals", "expected KEY.PATH=VALUE"),
        ("name.sub=1", "name is a str, not a section"),
    ],
)
def test_bad_override_is_reported_as_override(tmp_path, override, fragment):
    with pytest.raises(SweeperError) as caught:
        load_spec(write(tmp_path, BASE), [override])
    assert fragment in str(caught.value)


def test_grid_needs_grid_or_random_algorithm(tmp_path):
    text = BASE.replace("{choice: [4, 8]}", "{grid: [4, 8]}")
    with pytest.raises(SweeperError, match="need algorithm 'grid' or 'random'"):
        load_spec(write(tmp_path, text))
    spec = load_spec(write(tmp_path, text), ["search.algorithm=random"])
    assert spec.search.space["lora_rank"].kind == "grid"


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(SweeperError, match="no such spec file"):
        load_spec(tmp_path / "absent.yaml")
    with pytest.raises(SweeperError, match="the spec is empty"):
        load_spec(write(tmp_path, ""))
    with pytest.raises(SweeperError, match="must be a mapping"):
        load_spec(write(tmp_path, "- a\n- b\n"))


@pytest.mark.parametrize(
    "pruner,fragments",
    [
        ("pruner:\n  grace_step: 3\n", ["sweep.yaml:14", "pruner.grace_step", "did you mean 'grace_steps'"]),
        ("pruner:\n  enabled: true\n  grace_steps: -1\n", ["sweep.yaml:15", "pruner.grace_steps", "must be an int >= 0, got -1"]),
        ("pruner:\n  staircase: sometimes\n", ["sweep.yaml:14", "pruner.staircase", "'auto', 'stop' or 'flag'"]),
    ],
)
def test_bad_pruner_settings_name_key_and_line(tmp_path, pruner, fragments):
    with pytest.raises(SweeperError) as caught:
        load_spec(write(tmp_path, BASE + pruner))
    for fragment in fragments:
        assert fragment in str(caught.value), str(caught.value)


def test_pruner_settings_are_the_rules_settings(tmp_path):
    from sweeper.rules import PrunerSettings

    spec = load_spec(write(tmp_path, BASE + "pruner:\n  stop_when_converged: true\n  staircase: flag\n"))
    assert isinstance(spec.pruner, PrunerSettings)
    assert spec.pruner.stop_when_converged and spec.pruner.staircase == "flag"


def test_int_dimension_is_inclusive_integer_range(tmp_path):
    spec = load_spec(write(tmp_path, BASE + "    num_train_epochs: {int: [1, 5]}\n"))
    dim = spec.search.space["num_train_epochs"]
    assert (dim.kind, dim.values) == ("int", [1, 5])


def test_misspelt_required_key_names_the_unknown_key_and_the_fix(tmp_path):
    text = BASE.replace("name:", "nmae:", 1)
    assert "nmae:" in text
    with pytest.raises(SweeperError) as caught:
        load_spec(write(tmp_path, text))
    message = str(caught.value)
    assert "unknown key 'nmae'; did you mean 'name'?" in message
    assert "name is required but missing" in message
    assert message.startswith(str(tmp_path / "sweep.yaml") + ":")  # the misspelt key's line


def test_cluster_address_is_checked_and_the_flag_wins(tmp_path):
    from sweeper.orchestrate.sweep import cluster_address
    from sweeper.spec import validate_spec

    base = {"name": "c", "dataset": {"train": "t.jsonl", "labels": ["a", "b"]}}
    spec = validate_spec({**base, "cluster": {"address": "10.0.0.5:6379"}})
    assert cluster_address(spec, None) == "10.0.0.5:6379"
    assert cluster_address(spec, "auto") == "auto"
    assert cluster_address(validate_spec(base), None) is None
    with pytest.raises(SweeperError, match=r"cluster\.address.*expected HOST:PORT.*'10\.0\.0\.5'"):
        validate_spec({**base, "cluster": {"address": "10.0.0.5"}}, "s.yaml")
