"""Users' datasets as they are: LF alpaca / sharegpt entries, OpenAI messages, ms-swift query/response,
csv / parquet / folders, and targets that hold label and explanation together."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sweeper.data.examples import load_examples
from sweeper.errors import SweeperError
from sweeper.spec.schema import DatasetSpec, TemplateSpec
from sweeper.trial.encode import SEG_EXPLANATION, SEG_LABEL, SEG_PROMPT, encode_examples
from sweeper.trial.tokenizer import build_word_tokenizer

LABELS = ["billing", "shipping", "other"]
ROWS = [
    ("where is my refund", "billing", "the customer asks about a refund"),
    ("parcel never arrived", "shipping", "a parcel is a delivery matter"),
    ("hello there", "other", "a greeting asks for nothing"),
]


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def load(train, need=False, **kwargs):
    kwargs.setdefault("eval", train)
    return load_examples(DatasetSpec(train=train, labels=LABELS, **kwargs), explanations_needed=need)


def triples(examples):
    return [(ex.text, ex.label, ex.explanation) for ex in examples]


# Combined targets --------------------------------------------------------------------------

COMBINED_FORMS = {
    "label first line": lambda label, expl: f"{label}\n{expl}",
    "label first line, Explanation prefix": lambda label, expl: f"{label}\nExplanation: {expl}",
    "explanation then label": lambda label, expl: f"Explanation: {expl}\nLabel: {label}",
    "think": lambda label, expl: f"<think>{expl}</think>\n{label}",
    "json": lambda label, expl: json.dumps({"label": label, "explanation": expl}),
}


@pytest.mark.parametrize("form", list(COMBINED_FORMS))
def test_combined_output_is_split_without_configuration(tmp_path, form):
    records = [{"instruction": t, "input": "", "output": COMBINED_FORMS[form](l, e)} for t, l, e in ROWS]
    data = load(write_jsonl(tmp_path / "d.jsonl", records), need=True)
    assert triples(data.eval) == ROWS
    assert data.report.combined_targets == 6


def test_the_spec_target_template_splits_its_own_layout(tmp_path):
    template = TemplateSpec(label_then_explanation=" Class: {label} | Why: {explanation}")
    records = [{"text": t, "label": f"Class: {l} | Why: {e}"} for t, l, e in ROWS]
    data = load(write_jsonl(tmp_path / "d.jsonl", records), template=template)
    assert triples(data.eval) == ROWS


def test_target_pattern_splits_and_names_the_row_it_fails(tmp_path):
    records = [{"text": t, "label": f"[{l}] {e}"} for t, l, e in ROWS] + [{"text": "x", "label": "billing: oops"}]
    path = write_jsonl(tmp_path / "d.jsonl", records)
    pattern = r"\[(?P<label>\w+)\] (?P<explanation>.+)"
    with pytest.raises(SweeperError, match=r"d\.jsonl:4: target 'billing: oops' does not match dataset\.target_pattern"):
        load(path, target_pattern=pattern)
    write_jsonl(path, records[:3])
    assert triples(load(path, target_pattern=pattern).eval) == ROWS


def test_unsplittable_target_names_file_line_and_the_forms(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "billing, because of money\nmore"}])
    with pytest.raises(SweeperError) as error:
        load(path)
    message = str(error.value)
    assert message.startswith(f"{path}:1: target 'billing, because of money\\nmore' is neither a label of")
    assert "'<think>...</think>X'" in message and "set dataset.target_pattern" in message


def test_misspelt_plain_label_still_suggests(tmp_path):
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "biling"}])
    with pytest.raises(SweeperError, match=r"d\.jsonl:1: label 'biling' is not in the label set .*did you mean 'billing'"):
        load(path)


def test_combined_target_token_masks(tmp_path):
    records = [{"instruction": t, "output": f"{l}\nExplanation: {e}"} for t, l, e in ROWS]
    data = load(write_jsonl(tmp_path / "d.jsonl", records), need=True)
    tokenizer = build_word_tokenizer([t + " " + e + " " + l + " Text Label Explanation :" for t, l, e in ROWS])
    feature = encode_examples(
        data.eval[:1], tokenizer, TemplateSpec(), include_explanation=True, explanation_position="after",
        cutoff_len=64, overlength="error",
    ).features[0]
    tokens = tokenizer.convert_ids_to_tokens(feature.input_ids)
    by_segment = {seg: [t for t, s in zip(tokens, feature.segments) if s == seg] for seg in (SEG_PROMPT, SEG_LABEL, SEG_EXPLANATION)}
    assert by_segment[SEG_PROMPT] == ["<s>", "Text", ":", "where", "is", "my", "refund", "Label", ":"]
    assert by_segment[SEG_LABEL] == ["billing"]
    assert by_segment[SEG_EXPLANATION] == "the customer asks about a refund".split()
    assert feature.labels[: feature.prompt_len] == [-100] * feature.prompt_len


# LLaMA-Factory dataset_info entries --------------------------------------------------------


def write_info(folder, entries):
    path = folder / "dataset_info.json"
    path.write_text(json.dumps(entries, indent=2))
    return path


def lf(info, name, **kwargs):
    return load_examples(DatasetSpec(dataset_info=info, dataset_name=name, labels=LABELS, **kwargs))


def test_lf_alpaca_with_columns_system_and_empty_history(tmp_path):
    records = [
        {"q": t, "ctx": "", "a": f"{l}\n{e}", "sys": "You classify tickets.", "hist": []} for t, l, e in ROWS
    ]
    write_jsonl(tmp_path / "tickets.jsonl", records)
    columns = {"prompt": "q", "query": "ctx", "response": "a", "system": "sys", "history": "hist"}
    info = write_info(tmp_path, {"tickets": {"file_name": "tickets.jsonl", "columns": columns}})
    data = lf(info, "tickets", eval_fraction=0.34)
    examples = sorted(data.train + data.eval, key=lambda ex: ex.line)
    assert triples(examples) == ROWS
    assert {ex.system for ex in examples} == {"You classify tickets."}


def test_lf_alpaca_input_joins_the_instruction(tmp_path):
    write_jsonl(tmp_path / "d.json", [{"instruction": "Classify:", "input": t, "output": l} for t, l, _ in ROWS])
    info = write_info(tmp_path, {"d": {"file_name": "d.json"}})
    data = lf(info, "d", eval_fraction=0.34)
    assert sorted(ex.text for ex in data.train + data.eval) == sorted(f"Classify:\n{t}" for t, _, _ in ROWS)


def test_lf_real_history_is_refused_with_a_reason(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": "a", "output": "billing", "history": [["hi", "hello"]]}])
    info = write_info(tmp_path, {"d": {"file_name": "d.jsonl", "columns": {"history": "history"}}})
    with pytest.raises(SweeperError, match=r"d\.jsonl:1: a history of 1 earlier turns; sweeper classifies one turn"):
        lf(info, "d")


def test_lf_sharegpt_with_tags_and_a_list_of_datasets(tmp_path):
    def convo(t, l, e):
        return {"chat": [{"role": "user", "text": t}, {"role": "bot", "text": f"{l}\nExplanation: {e}"}], "sys": "S"}

    write_jsonl(tmp_path / "a.jsonl", [convo(*ROWS[0]), convo(*ROWS[1])])
    default_tags = [
        {"conversations": [{"from": "system", "value": "S2"}, {"from": "human", "value": ROWS[2][0]},
                           {"from": "gpt", "value": f"{ROWS[2][1]}\n{ROWS[2][2]}"}]}
    ]
    write_jsonl(tmp_path / "b.jsonl", default_tags)
    tags = {"role_tag": "role", "content_tag": "text", "user_tag": "user", "assistant_tag": "bot"}
    info = write_info(tmp_path, {
        "a": {"file_name": "a.jsonl", "formatting": "sharegpt", "columns": {"messages": "chat", "system": "sys"}, "tags": tags},
        "b": {"file_name": "b.jsonl", "formatting": "sharegpt"},
    })
    data = lf(info, "a, b", eval_dataset_name="b")
    assert triples(data.train) == ROWS
    assert [ex.system for ex in data.train] == ["S", "S", "S2"]
    assert triples(data.eval) == [ROWS[2]]


def test_lf_num_samples_and_max_samples(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": f"t{i}", "output": "billing"} for i in range(10)])
    info = write_info(tmp_path, {"d": {"file_name": "d.jsonl", "num_samples": 4}, "big": {"file_name": "d.jsonl", "num_samples": 25}})
    assert len(lf(info, "d", eval_dataset_name="d").train) == 4
    big = lf(info, "big", eval_dataset_name="d").train
    assert len(big) == 25 and sorted({ex.text for ex in big}) == sorted(f"t{i}" for i in range(10))
    assert [ex.text for ex in lf(info, "d", eval_dataset_name="d", max_samples=3).train] != []
    first = lf(write_info(tmp_path, {"d": {"file_name": "d.jsonl"}}), "d", eval_dataset_name="d", max_samples=3)
    assert [ex.text for ex in first.train] == ["t0", "t1", "t2"]


def test_lf_unknown_name_in_a_list(tmp_path):
    write_jsonl(tmp_path / "d.jsonl", [{"instruction": "a", "output": "billing"}])
    info = write_info(tmp_path, {"tickets": {"file_name": "d.jsonl"}})
    with pytest.raises(SweeperError, match="no dataset named 'tickts'; did you mean 'tickets'"):
        lf(info, "tickets,tickts")


def test_fields_settings_are_refused_with_dataset_info(tmp_path):
    with pytest.raises(ValueError, match="dataset.text_field is not used with dataset_info"):
        DatasetSpec(dataset_info=tmp_path / "i.json", dataset_name="d", labels=LABELS, text_field="question")


# OpenAI messages, ms-swift, csv, parquet, folders ------------------------------------------


def test_openai_messages_jsonl(tmp_path):
    records = [
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": t},
                      {"role": "assistant", "content": f"{l}\n{e}"}]}
        for t, l, e in ROWS
    ]
    data = load(write_jsonl(tmp_path / "m.jsonl", records), need=True)
    assert triples(data.eval) == ROWS and {ex.system for ex in data.eval} == {"Be brief."}


@pytest.mark.parametrize(
    "messages, message",
    [
        ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "billing"},
          {"role": "user", "content": "b"}, {"role": "assistant", "content": "other"}], "2 user turns"),
        ([{"role": "user", "content": "a"}], "the last turn must be the assistant's answer"),
        ([{"role": "tool", "content": "a"}, {"role": "assistant", "content": "billing"}], "turn 1 has role 'tool'"),
    ],
)
def test_messages_refusals(tmp_path, messages, message):
    with pytest.raises(SweeperError, match=rf"m\.jsonl:1: .*{message}"):
        load(write_jsonl(tmp_path / "m.jsonl", [{"messages": messages}]))


def test_ms_swift_query_response(tmp_path):
    records = [{"query": t, "response": f"{l}\n{e}", "history": []} for t, l, e in ROWS]
    assert triples(load(write_jsonl(tmp_path / "s.jsonl", records)).eval) == ROWS


def test_csv_parquet_and_a_folder_of_them(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_text('text,label\n"where is my refund",billing\n"parcel never\narrived",shipping\n')
    pq.write_table(pa.table({"text": [ROWS[2][0]], "label": [ROWS[2][1]]}), folder / "b.parquet")
    data = load(folder)
    assert [(ex.text, ex.label, ex.where) for ex in data.eval] == [
        ("where is my refund", "billing", f"{folder}/a.csv:2"),
        ("parcel never\narrived", "shipping", f"{folder}/a.csv:3"),
        ("hello there", "other", f"{folder}/b.parquet:1"),
    ]
    (folder / "a.csv").write_text("text,label\nok,billing\nbad,biling\n")
    with pytest.raises(SweeperError, match=r"a\.csv:3: label 'biling'"):
        load(folder)


def test_unknown_template_placeholder_is_refused():
    with pytest.raises(ValueError, match=r"template.prompt has the unknown placeholder \{question\}"):
        TemplateSpec(prompt="{question}: {text}")


def test_test_split_is_disjoint_from_train_and_eval(tmp_path):
    records = [{"text": f"t{i}", "label": LABELS[i % 3]} for i in range(30)]
    path = write_jsonl(tmp_path / "d.jsonl", records)
    data = load_examples(DatasetSpec(train=path, labels=LABELS, eval_fraction=0.2, test_fraction=0.25))
    texts = [{ex.text for ex in part} for part in (data.train, data.eval, data.test)]
    assert [len(t) for t in texts] == [18, 6, 6] and data.report.test == 6
    assert not (texts[0] & texts[2]) and not (texts[1] & texts[2]) and sum(map(len, texts)) == 30
    test_file = write_jsonl(tmp_path / "test.jsonl", records[:4])
    assert len(load_examples(DatasetSpec(train=path, labels=LABELS, test=test_file)).test) == 4
