"""Model folder checks before any trial: tokenizer, weights (shards too), architecture, chat
template, labels as tokens. Each failure is one line naming the folder and what is missing."""

import json
import shutil

import pytest

from sweeper.errors import SweeperError
from sweeper.orchestrate.preflight import preflight
from sweeper.spec import validate_spec

LABELS = ["positive", "negative", "neutral"]


def spec_for(model, demo_data, tmp_path, **dataset):
    return validate_spec({
        "name": "mf",
        "storage": str(tmp_path / "results"),
        "model": str(model),
        "dataset": {"train": str(demo_data / "train.jsonl"), "eval": str(demo_data / "eval.jsonl"),
                    "labels": dataset.pop("labels", LABELS), **dataset},
        "train": {"cutoff_len": 128, "include_explanation": False},
    })


@pytest.fixture
def folder(model_folders, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model_folders["chatml"], copy)
    return copy


def test_a_complete_folder_passes(folder, demo_data, tmp_path):
    checked = preflight(spec_for(folder, demo_data, tmp_path))
    assert checked.data.train == 600
    # The small BPE splits "ne|gative" and "ne|utral": a real case of a shared first token.
    assert checked.notes == [
        "labels ['negative', 'neutral'] share their first token; likelihood scoring sums the "
        "log-probabilities of all label tokens, so they are still told apart"
    ]


def test_config_only_folder_is_refused_for_its_weights(folder, demo_data, tmp_path):
    (folder / "model.safetensors").unlink()
    with pytest.raises(SweeperError, match=r"model: .*model has no weights \(model\.safetensors, pytorch_model\.bin"):
        preflight(spec_for(folder, demo_data, tmp_path))


def test_missing_tokenizer_is_refused(folder, demo_data, tmp_path):
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    with pytest.raises(SweeperError, match=r"model: cannot load the tokenizer of"):
        preflight(spec_for(folder, demo_data, tmp_path))


def test_incomplete_shard_index_lists_the_missing_shards(folder, demo_data, tmp_path):
    (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
    index = {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(SweeperError, match=r"lacks 1 of the 2 weight shards model\.safetensors\.index\.json lists: model-00002-of-00002"):
        preflight(spec_for(folder, demo_data, tmp_path))


def test_not_a_causal_lm_is_refused(folder, demo_data, tmp_path):
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BertForSequenceClassification"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(SweeperError, match="holds a BertForSequenceClassification, not a causal language model"):
        preflight(spec_for(folder, demo_data, tmp_path))


def test_chat_template_required_but_absent(folder, demo_data, tmp_path):
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    spec = spec_for(folder, demo_data, tmp_path, template={"chat_template": True})
    with pytest.raises(SweeperError, match=r"dataset\.template\.chat_template: template\.chat_template: true, but the model's tokenizer has no chat template"):
        preflight(spec)


def test_label_that_encodes_to_no_tokens(folder, demo_data, tmp_path):
    from tokenizers import normalizers

    from sweeper.orchestrate.preflight import check_labels
    from sweeper.trial.tokenizer import build_word_tokenizer

    # Accent-stripping tokenizers (BERT-style uncased) drop a label made of a combining accent.
    tokenizer = build_word_tokenizer(["positive negative"])
    tokenizer.backend_tokenizer.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.StripAccents()])
    spec = spec_for(folder, demo_data, tmp_path, labels=["positive", "\u0301"])
    with pytest.raises(SweeperError, match=r"dataset\.labels: label '\u0301' encodes to no tokens with the tokenizer of"):
        check_labels(spec, tokenizer)


def test_labels_sharing_their_first_token_are_reported(folder, demo_data, tmp_path):
    from sweeper.orchestrate.preflight import check_labels
    from sweeper.trial.tokenizer import local_tokenizer

    spec = spec_for(folder, demo_data, tmp_path)
    spec.dataset.labels[:] = ["positive", "positive mostly"]
    notes = check_labels(spec, local_tokenizer(str(folder)))
    assert notes == [
        "labels ['positive', 'positive mostly'] share their first token; likelihood scoring sums the "
        "log-probabilities of all label tokens, so they are still told apart"
    ]
