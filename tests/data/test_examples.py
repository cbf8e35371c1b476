"""Reading examples: formats, line-precise errors, splits, duplicates, LLaMA-Factory datasets."""

import json
import subprocess
import sys

import pytest

from sweeper.data.examples import count_duplicates, load_examples, read_records, split_examples
from sweeper.errors import SweeperError
from sweeper.spec.schema import DatasetSpec

LABELS = ["positive", "negative", "neutral"]


def record(text="good day", label="positive", explanation="because good", **extra):
    out = {"text": text, "label": label}
    if explanation is not None:
        out["explanation"] = explanation
    out.update(extra)
    return out


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def spec(train, eval=None, **kwargs):
    return DatasetSpec(train=train, eval=eval, labels=kwargs.pop("labels", LABELS), **kwargs)


def test_demo_data_loads_with_counts(demo_data):
    data = load_examples(spec(demo_data / "train.jsonl", demo_data / "eval.jsonl"), explanations_needed=True)
    report = data.report
    assert (report.train, report.eval) == (len(data.train), len(data.eval)) == (600, 120)
    assert sum(report.train_label_counts.values()) == 600
    assert list(report.train_label_counts) == LABELS  # the spec's label order
    assert report.eval_source == "file"
    assert report.with_explanation == 720
    assert data.train[0].where == f"{demo_data / 'train.jsonl'}:1"


def test_jsonl_skips_blank_lines_and_keeps_line_numbers(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(record()) + "\n\n" + json.dumps(record(label="negative")) + "\n")
    assert [line for line, _ in read_records(path)] == [1, 3]


def test_malformed_json_line_names_file_and_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(record()) + "\n" + '{"text": "x", "label": \n')
    with pytest.raises(SweeperError, match=r"train\.jsonl:2: not valid JSON"):
        load_examples(spec(path, path))


def test_two_records_on_one_line_is_an_error(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(record()) + json.dumps(record()) + "\n")
    with pytest.raises(SweeperError, match=r":1: not valid JSON: extra data"):
        list(read_records(path))


def test_json_array_records_know_their_lines(tmp_path):
    path = tmp_path / "train.json"
    path.write_text('[\n  {"text": "a", "label": "positive"},\n  {"text": "b",\n   "label": "negative"}\n]\n')
    assert [line for line, _ in read_records(path)] == [2, 3]
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"text": "a", "label": "positive"},\n  {"text": "b", "lab": "negative"}\n]\n')
    with pytest.raises(SweeperError, match=r"broken\.json:3: missing field 'label'"):
        load_examples(spec(broken, path))


def test_json_array_syntax_error_names_line(tmp_path):
    path = tmp_path / "train.json"
    path.write_text('[\n  {"text": "a", "label": "positive"}\n  {"text": "b"}\n]\n')
    with pytest.raises(SweeperError, match=r"train\.json:3: not valid JSON: expected ','"):
        list(read_records(path))


def test_missing_field_lists_present_fields(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [record(), {"txt": "oops", "label": "positive"}])
    with pytest.raises(SweeperError, match=r"train\.jsonl:2: missing field 'text' \(fields present: \['label', 'txt'\]\)"):
        load_examples(spec(path, path))


def test_unknown_label_names_label_and_set(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [record(), record(label="postive")])
    with pytest.raises(SweeperError) as error:
        load_examples(spec(path, path))
    message = str(error.value)
    assert "train.jsonl:2: label 'postive' is not in the label set ['positive', 'negative', 'neutral']" in message
    assert "did you mean 'positive'" in message


def test_record_must_be_an_object(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text('["text", "positive"]\n')
    with pytest.raises(SweeperError, match=r":1: expected a JSON object with fields, got a list"):
        load_examples(spec(path, path))


@pytest.mark.parametrize(
    "explanation, state",
    [(None, "missing"), ("", "empty"), ("   ", "empty")],
)
def test_explanation_required_only_when_needed(tmp_path, explanation, state):
    path = write_jsonl(tmp_path / "train.jsonl", [record(), record(explanation=explanation)])
    with pytest.raises(SweeperError, match=rf"train\.jsonl:2: explanation field 'explanation' is {state}"):
        load_examples(spec(path, path), explanations_needed=True)
    data = load_examples(spec(path, path), explanations_needed=False)
    assert data.train[1].explanation is None


def test_explanation_must_be_a_string(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [record(explanation=["a"])])
    with pytest.raises(SweeperError, match="must be a string, got a list"):
        load_examples(spec(path, path))


def test_integer_labels_match_string_label_set(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [record(label=0), record(label=1), record(label=2)])
    data = load_examples(spec(path, path, labels=["0", "1", "2"]))
    assert [ex.label for ex in data.train] == ["0", "1", "2"]


def test_boolean_label_is_refused(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [record(label=True)])
    with pytest.raises(SweeperError, match="must be a string, got a boolean"):
        load_examples(spec(path, path, labels=["True", "False"]))


def test_custom_field_names(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"review": "ok", "y": "neutral", "why": "flat"}])
    data = load_examples(spec(path, path, text_field="review", label_field="y", explanation_field="why"))
    assert (data.train[0].text, data.train[0].label, data.train[0].explanation) == ("ok", "neutral", "flat")


def test_duplicates_between_splits_are_a_warning_with_counts(tmp_path):
    train = write_jsonl(tmp_path / "train.jsonl", [record(text="a b"), record(text="c"), record(text="d")])
    evals = write_jsonl(tmp_path / "eval.jsonl", [record(text="a  b"), record(text="e"), record(text="c")])
    data = load_examples(spec(train, evals))
    assert data.report.duplicates_between_splits == 2
    assert any("2 of 3 eval examples also occur in train" in w for w in data.report.warnings)


def test_missing_label_in_train_is_a_warning(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [record(), record(label="negative")])
    data = load_examples(spec(path, path))
    assert "labels ['neutral'] have no training examples" in data.report.warnings


def test_eval_split_is_seeded_and_sized(tmp_path):
    rows = [record(text=f"t{i}", label=LABELS[i % 3]) for i in range(50)]
    path = write_jsonl(tmp_path / "train.jsonl", rows)
    first = load_examples(spec(path, eval_fraction=0.2, split_seed=3))
    again = load_examples(spec(path, eval_fraction=0.2, split_seed=3))
    other = load_examples(spec(path, eval_fraction=0.2, split_seed=4))
    assert (first.report.train, first.report.eval, first.report.eval_source) == (40, 10, "split")
    assert [ex.line for ex in first.eval] == [ex.line for ex in again.eval]
    assert [ex.line for ex in first.eval] != [ex.line for ex in other.eval]
    assert not {ex.line for ex in first.eval} & {ex.line for ex in first.train}
    assert first.report.duplicates_between_splits == 0


def test_split_needs_two_examples(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [record()])
    with pytest.raises(SweeperError, match="at least 2 examples"):
        load_examples(spec(path))


def test_split_always_leaves_both_sides_nonempty():
    from sweeper.data.examples import Example

    examples = [Example(f"t{i}", "positive", None, "f", i) for i in range(2)]
    train, evals = split_examples(examples, 0.9, 0)
    assert (len(train), len(evals)) == (1, 1)
    assert count_duplicates(train, evals) == 0


def test_missing_file_and_relative_paths(tmp_path):
    with pytest.raises(SweeperError, match=r"nope\.jsonl: no such data file"):
        load_examples(spec(tmp_path / "nope.jsonl", tmp_path / "nope.jsonl"))
    write_jsonl(tmp_path / "train.jsonl", [record()])
    data = load_examples(spec("train.jsonl", "train.jsonl"), base_dir=tmp_path)
    assert data.train[0].file == "train.jsonl"  # messages name the path as the spec wrote it


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("\n")
    with pytest.raises(SweeperError, match="no examples"):
        load_examples(spec(path, path))


# --- LLaMA-Factory dataset_info.json -------------------------------------------------------


def write_info(tmp_path, entry, name="reviews"):
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({name: entry}))
    return info


def lf_spec(info, name="reviews", **kwargs):
    return DatasetSpec(dataset_info=info, dataset_name=name, labels=LABELS, **kwargs)


def test_dataset_info_with_columns_mapping(tmp_path):
    rows = [
        {"instr": "Classify:", "inp": "great food", "out": "positive", "why": "great"},
        {"instr": "Classify: slow service", "inp": "", "out": "negative", "why": "slow"},
    ]
    (tmp_path / "reviews.json").write_text(json.dumps(rows, indent=1))
    info = write_info(
        tmp_path,
        {"file_name": "reviews.json", "columns": {"prompt": "instr", "query": "inp", "response": "out", "explanation": "why"}},
    )
    data = load_examples(lf_spec(info, eval_fraction=0.5), explanations_needed=True)
    examples = sorted(data.train + data.eval, key=lambda ex: ex.line)
    assert [ex.text for ex in examples] == ["Classify:\ngreat food", "Classify: slow service"]
    assert [ex.label for ex in examples] == ["positive", "negative"]
    assert [ex.explanation for ex in examples] == ["great", "slow"]
    assert examples[0].file == str(tmp_path / "reviews.json")


def test_dataset_info_default_alpaca_columns(tmp_path):
    rows = [{"instruction": "t1", "input": "", "output": "neutral"}, {"instruction": "t2", "output": "positive"}]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = load_examples(lf_spec(write_info(tmp_path, {"file_name": "d.jsonl"})))
    assert sorted(ex.text for ex in data.train + data.eval) == ["t1", "t2"]


def test_dataset_info_missing_column_names_the_mapping(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"instruction": "t1", "answer": "neutral"}) + "\n")
    with pytest.raises(SweeperError, match=r"d\.jsonl:1: missing field 'output' \(columns of 'reviews'"):
        load_examples(lf_spec(write_info(tmp_path, {"file_name": "d.jsonl"})))


@pytest.mark.parametrize(
    "entry, message",
    [
        ({"file_name": "d.json", "formatting": "openai"}, "formatting 'openai' is not supported"),
        ({"hf_hub_url": "org/data"}, "'hf_hub_url' datasets are not supported"),
        ({"file_name": "d.json", "columns": {"prompt": "a", "answer": "b"}}, r"unknown columns \['answer'\]"),
        ({"file_name": "d.json", "ranking": True}, "ranking"),
        ({"columns": {}}, "needs a 'file_name'"),
    ],
)
def test_dataset_info_refusals(tmp_path, entry, message):
    with pytest.raises(SweeperError, match=message):
        load_examples(lf_spec(write_info(tmp_path, entry)))


def test_dataset_info_unknown_name_suggests(tmp_path):
    info = write_info(tmp_path, {"file_name": "d.json"}, name="reviews_w_explain")
    with pytest.raises(SweeperError, match="no dataset named 'reviews_explain'; did you mean 'reviews_w_explain'"):
        load_examples(lf_spec(info, name="reviews_explain"))


def test_data_package_imports_no_torch():
    code = "import sys, sweeper.data; print(any(m in sys.modules for m in ('torch', 'transformers', 'peft')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
