"""read_log: every format into one Curve, format detected from content; one-line errors for bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sweeper.errors import SweeperError
from sweeper.logs import Curve, read_log

REAL_LOGS = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real-logs"
MISTRAL = "mistral7b_lora_translator_4ep_staircase_trainer_state.json"
GEMMA = "gemma7b_lora_kgllm_5ep_healthy_nangrad_trainer_state.json"
QWEN = "qwen25_7b_lora_medical_3ep_mixed_trainer_log.jsonl"
SWIFT = "dsr1_qwen3_8b_lora_swift_1ep_healthy_logging.jsonl"


def _real(name: str) -> Path:
    path = REAL_LOGS / name
    if not path.is_file():
        pytest.skip(f"../shared/fixtures/real-logs not found: {path.resolve()}")
    return path


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _jsonl(*records) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


# -- the real logs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, fmt, points, train, evals, max_steps, steps_per_epoch",
    [
        (MISTRAL, "hf_trainer_state", 866, 866, 0, 8660, 2165.0),
        (GEMMA, "hf_trainer_state", 120, 120, 0, 120, 120 / 4.948453608247423),
        # eval lines at the same step as train lines are merged into one point
        (QWEN, "llamafactory_jsonl", 675, 675, 13, 6750, 2250.0),
        # 44 train lines + the final eval; the summary's embedded log_history is not counted again
        (SWIFT, "swift_jsonl", 45, 44, 5, 438, 438.0),
    ],
)
def test_real_logs_parse(name, fmt, points, train, evals, max_steps, steps_per_epoch):
    curve = read_log(_real(name))
    assert isinstance(curve, Curve)
    assert (curve.format, len(curve.points), curve.train_points, curve.eval_points) == (fmt, points, train, evals)
    assert curve.max_steps == max_steps
    assert curve.steps_per_epoch == pytest.approx(steps_per_epoch)
    steps = [p.step for p in curve.points]
    assert steps == sorted(set(steps))
    assert curve.source.endswith(name)


def test_gemma_nan_grad_norm_literals_are_kept():
    curve = read_log(_real(GEMMA))
    nan_steps = [p.step for p in curve.points if p.grad_norm is not None and math.isnan(p.grad_norm)]
    assert nan_steps == [1, 2, 6]
    assert all(math.isfinite(p.loss) for p in curve.points)


def test_qwen_lr_and_merged_eval():
    curve = read_log(_real(QWEN))
    at_500 = next(p for p in curve.points if p.step == 500)
    assert at_500.loss is not None and at_500.eval_loss == pytest.approx(1.6410622596740723)
    assert curve.points[0].learning_rate == pytest.approx(1.3333333333333334e-06)  # from "lr"


def test_swift_new_format_steps_and_evals():
    curve = read_log(_real(SWIFT))
    assert [p.step for p in curve.points if p.eval_loss is not None] == [100, 200, 300, 400, 438]
    assert curve.points[0].loss == pytest.approx(20.53074074)


# -- the quirks of each format ----------------------------------------------------------------


def test_llamafactory_duplicate_lines_keep_the_last(tmp_path):
    path = _write(
        tmp_path,
        "trainer_log.jsonl",
        _jsonl(
            {"current_steps": 5, "total_steps": 20, "loss": 2.0, "learning_rate": 1e-4, "epoch": 0.25},
            {"current_steps": 10, "total_steps": 20, "loss": 1.5, "learning_rate": 1e-4, "epoch": 0.5},
            {"current_steps": 10, "total_steps": 20, "loss": 1.4, "learning_rate": 9e-5, "epoch": 0.5},  # resumed
            {"current_steps": 10, "total_steps": 20, "eval_loss": 1.6, "epoch": 0.5},
        ),
    )
    curve = read_log(path)
    assert curve.format == "llamafactory_jsonl"
    assert [(p.step, p.loss, p.learning_rate, p.eval_loss) for p in curve.points] == [
        (5, 2.0, 1e-4, None),
        (10, 1.4, 9e-5, 1.6),
    ]
    assert curve.max_steps == 20


def test_swift_old_format_global_step(tmp_path):
    path = _write(
        tmp_path,
        "logging.jsonl",
        _jsonl(
            {"loss": 1.2, "acc": 0.5, "learning_rate": 1e-4, "epoch": 0.33, "global_step": 10},
            {"loss": 1.0, "acc": 0.6, "learning_rate": 1e-4, "epoch": 0.67, "global_step": 20},
            {"eval_loss": 1.1, "epoch": 0.67, "global_step": 20},
            {"loss": 0.9, "learning_rate": 1e-4, "epoch": 1.0, "global_step": 30},
        ),
    )
    curve = read_log(path)
    assert curve.format == "swift_jsonl"
    assert [(p.step, p.epoch, p.loss, p.eval_loss) for p in curve.points] == [
        (10, 0.33, 1.2, None),
        (20, 0.67, 1.0, 1.1),
        (30, 1.0, 0.9, None),
    ]


def test_swift_summary_line_alone_uses_its_log_history(tmp_path):
    history = [{"loss": 1.0, "epoch": 0.5, "step": 5}, {"loss": 0.8, "epoch": 1.0, "step": 10}, {"train_runtime": 3.0, "step": 10}]
    path = _write(tmp_path, "logging.jsonl", _jsonl({"global_step": 10, "memory": 3.2, "log_history": history}))
    curve = read_log(path)
    assert [(p.step, p.loss) for p in curve.points] == [(5, 1.0), (10, 0.8)]


def test_swift_summary_fills_only_missing_steps(tmp_path):
    history = [{"loss": 9.0, "step": 5}, {"loss": 9.0, "step": 10}, {"loss": 0.7, "step": 15}]
    path = _write(
        tmp_path,
        "logging.jsonl",
        _jsonl(
            {"loss": 1.0, "global_step/max_steps": "5/15"},
            {"loss": 0.8, "global_step/max_steps": "10/15"},
            {"global_step": 15, "log_history": history},  # the writer died before line 15
        ),
    )
    curve = read_log(path)
    assert [(p.step, p.loss) for p in curve.points] == [(5, 1.0), (10, 0.8), (15, 0.7)]
    assert curve.max_steps == 15


def test_hf_bare_log_history_list(tmp_path):
    path = _write(tmp_path, "history.json", json.dumps([{"loss": 1.0, "step": 1, "epoch": 0.1}, {"eval_loss": 1.2, "step": 1}]))
    curve = read_log(path)
    assert (curve.format, [(p.step, p.loss, p.eval_loss) for p in curve.points]) == ("hf_log_history", [(1, 1.0, 1.2)])


def test_csv_with_optional_columns(tmp_path):
    path = _write(
        tmp_path,
        "run.csv",
        "step,epoch,loss,eval_loss,learning_rate,grad_norm,notes\n"
        "10,0.1,2.0,,1e-4,1.5,warmup\n"
        "20,0.2,1.5,1.7,1e-4,nan,\n"
        "30,0.3,inf,,,,\n",
    )
    curve = read_log(path)
    assert curve.format == "csv"
    first, second, third = curve.points
    assert (first.step, first.epoch, first.loss, first.eval_loss, first.grad_norm) == (10, 0.1, 2.0, None, 1.5)
    assert second.eval_loss == 1.7 and math.isnan(second.grad_norm)
    assert third.loss == math.inf and third.learning_rate is None


def test_csv_without_epoch(tmp_path):
    curve = read_log(_write(tmp_path, "run.csv", "step,loss\n1,2.0\n2,1.9\n"))
    assert [(p.step, p.epoch, p.loss) for p in curve.points] == [(1, None, 2.0), (2, None, 1.9)]


def test_format_is_detected_from_content_not_name(tmp_path):
    # a LLaMA-Factory log saved under an HF name
    path = _write(tmp_path, "trainer_state.json", _jsonl({"current_steps": 1, "loss": 1.0}))
    assert read_log(path).format == "llamafactory_jsonl"


def test_run_folder(tmp_path):
    (tmp_path / "checkpoint-100").mkdir()
    (tmp_path / "checkpoint-200").mkdir()
    state = {"log_history": [{"loss": 1.0, "step": 100}], "max_steps": 300}
    (tmp_path / "checkpoint-100" / "trainer_state.json").write_text(json.dumps(state))
    state["log_history"].append({"loss": 0.9, "step": 200})
    (tmp_path / "checkpoint-200" / "trainer_state.json").write_text(json.dumps(state))
    curve = read_log(tmp_path)
    assert [p.step for p in curve.points] == [100, 200]  # the latest checkpoint
    (tmp_path / "trainer_log.jsonl").write_text(_jsonl({"current_steps": 300, "loss": 0.8}))
    assert read_log(tmp_path).format == "llamafactory_jsonl"  # the run's own log beats checkpoints


# -- errors: one line, naming the file (and line) ----------------------------------------------

ERRORS = [
    # (id, file name, content, expected fragment of the message)
    ("empty", "a.json", "", "empty file"),
    ("whitespace_only", "a.jsonl", "  \n\n", "empty file"),
    ("truncated_trainer_state", "trainer_state.json", '{\n  "log_history": [\n    {"loss": 1.0, "step": 1},\n    {"lo', "truncated or invalid JSON at line 4"),
    ("truncated_jsonl_last_line", "trainer_log.jsonl", _jsonl({"current_steps": 1, "loss": 1.0}) + '{"current_steps": 2, "lo', "line 2: invalid or truncated JSON"),
    ("jsonl_line_not_an_object", "trainer_log.jsonl", _jsonl({"current_steps": 1, "loss": 1.0}) + "[1, 2]\n", "line 2: expected a JSON object"),
    ("csv_non_numeric", "run.csv", "step,epoch,loss\n1,0.1,2.0\n2,0.2,abc\n", "line 3: column loss is not a number: 'abc'"),
    ("csv_non_numeric_step", "run.csv", "step,loss\nten,2.0\n", "line 2: step is not a number: 'ten'"),
    ("csv_wrong_field_count", "run.csv", "step,epoch,loss\n1,0.1\n", "line 2: 2 fields, the header has 3"),
    ("csv_without_loss", "run.csv", "step,epoch,accuracy\n1,0.1,0.5\n", "needs columns step and loss"),
    ("csv_header_only", "run.csv", "step,epoch,loss\n", "no rows"),
    ("unknown_text", "notes.txt", "hello world\nthis is not a log\n", "unknown log format"),
    ("invalid_utf8", "a.log", b"\xff\xfe\x00garbage\x81", "not a text log"),
    ("json_without_history", "a.json", '{"model": "x"}', "JSON lines without a step key"),
    ("json_scalar", "a.json", "42", "unknown log format"),
    ("log_history_not_a_list", "a.json", '{"log_history": {"step": 1}}', "log_history is not a list"),
    ("log_history_entry_not_object", "a.json", '{"log_history": [1]}', "log_history entry 1: not a JSON object"),
    ("empty_log_history", "a.json", '{"log_history": []}', "no logged loss or eval values"),
    ("fractional_step", "a.json", '{"log_history": [{"step": 1.5, "loss": 1}]}', "step must be a whole number >= 0, got 1.5"),
    ("negative_step", "a.jsonl", _jsonl({"current_steps": -3, "loss": 1.0}), "line 1: current_steps must be a whole number >= 0"),
    ("loss_is_text", "a.jsonl", _jsonl({"current_steps": 1, "loss": "high"}), "line 1: loss is not a number: 'high'"),
    ("loss_is_bool", "a.jsonl", _jsonl({"current_steps": 1, "loss": True}), "line 1: loss is not a number: True"),
    ("loss_is_list", "a.json", '{"log_history": [{"step": 1, "loss": [1]}]}', "loss is not a number: [1]"),
    ("swift_bad_step_field", "logging.jsonl", _jsonl({"loss": 1.0, "global_step/max_steps": "7"}), "must look like 'n/N'"),
    ("value_without_step", "a.jsonl", _jsonl({"step": 1, "loss": 1.0}, {"loss": 0.9}), "line 2: a logged value without a step"),
    ("deeply_nested", "a.json", "[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
]


@pytest.mark.parametrize("name, content, fragment", [c[1:] for c in ERRORS], ids=[c[0] for c in ERRORS])
def test_unreadable_input_is_one_line_naming_the_file(tmp_path, name, content, fragment):
    path = _write(tmp_path, name, content)
    with pytest.raises(SweeperError) as error:
        read_log(path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert fragment in message


def test_missing_file(tmp_path):
    with pytest.raises(SweeperError, match="no such file or directory"):
        read_log(tmp_path / "nope.json")


def test_folder_without_logs(tmp_path):
    (tmp_path / "README.md").write_text("hi")
    with pytest.raises(SweeperError, match="no training log found"):
        read_log(tmp_path)


def test_trial_on_a_plain_log(tmp_path):
    path = _write(tmp_path, "run.csv", "step,loss\n1,2.0\n")
    with pytest.raises(SweeperError, match="--trial applies only to a sweep's curves.parquet"):
        read_log(path, trial="3")


# -- nothing but SweeperError escapes ------------------------------------------------------------

FUZZ = settings(derandomize=True, deadline=None, max_examples=300, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _only_sweeper_errors(path: Path) -> None:
    try:
        curve = read_log(path)
    except SweeperError as error:
        assert "\n" not in str(error)
    else:
        assert curve.points and all(isinstance(p.step, int) for p in curve.points)


@FUZZ
@given(data=st.binary(max_size=300))
def test_fuzz_bytes(tmp_path, data):
    _only_sweeper_errors(_write(tmp_path, "fuzz.log", data))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["step", "loss", "epoch", "current_steps", "global_step", "global_step/max_steps", "log_history", "eval_loss", "lr"]), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(records=st.lists(_json_values, min_size=1, max_size=4))
def test_fuzz_json_lines(tmp_path, records):
    _only_sweeper_errors(_write(tmp_path, "fuzz.jsonl", "\n".join(json.dumps(r) for r in records)))


@FUZZ
@given(cut=st.integers(min_value=0, max_value=20_000), name=st.sampled_from([GEMMA, QWEN, SWIFT]))
def test_fuzz_truncated_real_logs(tmp_path, cut, name):
    data = _real(name).read_bytes()
    _only_sweeper_errors(_write(tmp_path, "cut" + Path(name).suffix, data[: min(cut, len(data))]))
