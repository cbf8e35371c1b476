"""Pre-flight checks: what they refuse, where they say the mistake is, and that the overlength
counts `sweeper validate` shows are the ones a trial sees."""

import pytest

from sweeper.errors import SweeperError
from sweeper.orchestrate.preflight import check_devices, check_storage, preflight
from sweeper.spec import load_spec, validate_spec

LABELS = ["positive", "negative", "neutral"]


def spec_dict(demo_data, tmp_path, **train):
    return {
        "name": "pf",
        "storage": str(tmp_path / "results"),
        "dataset": {
            "train": str(demo_data / "train.jsonl"),
            "eval": str(demo_data / "eval.jsonl"),
            "labels": LABELS,
        },
        "train": {"cutoff_len": 64, "max_eval_samples": 40, **train},
        "search": {"num_samples": 2, "space": {"include_explanation": {"choice": [True, False]}}},
    }


@pytest.mark.parametrize("cutoff,overlength", [(20, "truncate"), (34, "drop"), (64, "truncate")])
def test_overlength_counts_are_what_a_trial_counts(tmp_path, demo_data, cutoff, overlength):
    from sweeper.trial.train import TrialConfig, prepare

    data = spec_dict(demo_data, tmp_path, cutoff_len=cutoff)
    data["dataset"]["overlength"] = overlength
    spec = validate_spec(data)
    counts = {entry.include_explanation: entry for entry in preflight(spec).overlength}
    assert set(counts) == {True, False}
    for include in (True, False):
        settings = spec.trial_settings({"include_explanation": include})
        report = prepare(TrialConfig(spec.model, spec.dataset, settings, tmp_path / "trial")).report
        seen = report.truncated if overlength == "truncate" else report.dropped
        assert counts[include].count == seen, (include, counts[include], report)
        assert counts[include].total == 600 + 40  # train + the eval examples a trial evaluates on
    assert counts[True].count >= counts[False].count  # explanations make the longer targets
    assert (counts[True].count > 0) == (cutoff < 64)


def test_searched_cutoffs_are_each_counted(tmp_path, demo_data):
    data = spec_dict(demo_data, tmp_path)
    data["search"]["space"]["cutoff_len"] = {"int": [16, 64]}
    counts = preflight(validate_spec(data)).overlength
    assert sorted({entry.cutoff_len for entry in counts}) == [16, 64]  # the range's ends
    by_cutoff = {(e.cutoff_len, e.include_explanation): e.count for e in counts}
    assert by_cutoff[(16, True)] > by_cutoff[(64, True)] == 0


def test_overlength_error_names_the_first_sample(tmp_path, demo_data):
    data = spec_dict(demo_data, tmp_path, cutoff_len=24)
    data["dataset"]["overlength"] = "error"
    with pytest.raises(SweeperError, match=r"train.jsonl:1: \d+ tokens, longer than cutoff_len 24"):
        preflight(validate_spec(data))


def write_spec(tmp_path, demo_data, extra=""):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"name: pf\nstorage: {tmp_path / 'results'}\n"
        f"dataset:\n  train: {demo_data / 'train.jsonl'}\n  eval: {demo_data / 'eval.jsonl'}\n"
        f"  labels: [positive, negative, neutral]\n{extra}"
    )
    return path


@pytest.mark.parametrize(
    "extra,fragment",
    [
        ("train:\n  fp16: true\n", "sweep.yaml:8: train.fp16: fp16 needs a CUDA GPU, but resources.gpu is 0"),
        (
            "search:\n  algorithm: random\n  space:\n    bf16: {choice: [false, true]}\n",
            "sweep.yaml:10: search.space.bf16: bf16 needs a CUDA GPU, but resources.gpu is 0",
        ),
    ],
)
def test_mixed_precision_without_a_gpu_per_trial_is_refused_where_it_is_set(tmp_path, demo_data, extra, fragment):
    spec = load_spec(write_spec(tmp_path, demo_data, extra))
    with pytest.raises(SweeperError) as caught:
        check_devices(spec)
    assert fragment in str(caught.value)


def test_gpus_on_a_cluster_are_not_checked_here(tmp_path, demo_data):
    spec = load_spec(write_spec(tmp_path, demo_data, "train:\n  bf16: true\nresources:\n  gpu: 1\n"))
    check_devices(spec, local=False)  # the driver of a cluster may have no GPU; its workers do


def test_results_folder_under_a_file_is_refused_and_nothing_is_created(tmp_path, demo_data):
    blocker = tmp_path / "results"
    blocker.write_text("")
    spec = load_spec(write_spec(tmp_path, demo_data))
    with pytest.raises(SweeperError, match=r"sweep.yaml:2: storage: .*results is a file"):
        check_storage(spec)
    ok = load_spec(write_spec(tmp_path, demo_data), [f"storage={tmp_path / 'new' / 'deeper'}"])
    check_storage(ok)
    assert not (tmp_path / "new").exists()  # validate changes nothing


def test_missing_data_file_names_the_spec_line_and_key(tmp_path, demo_data):
    spec = load_spec(write_spec(tmp_path, demo_data), ["dataset.eval=nowhere/eval.jsonl"])
    with pytest.raises(SweeperError, match=r"^--set dataset.eval=nowhere/eval.jsonl: dataset.eval: no such file"):
        preflight(spec)
    text = write_spec(tmp_path, demo_data).read_text().replace(str(demo_data / "train.jsonl"), "nowhere.jsonl")
    (tmp_path / "sweep.yaml").write_text(text)
    with pytest.raises(SweeperError, match=r"sweep.yaml:4: dataset.train: no such file nowhere.jsonl"):
        preflight(load_spec(tmp_path / "sweep.yaml"))


def test_a_spec_built_in_code_names_the_key_without_a_file(tmp_path, demo_data):
    data = spec_dict(demo_data, tmp_path)
    data["model"] = str(tmp_path / "no-model")
    with pytest.raises(SweeperError, match=r"^model: no such local model folder"):
        preflight(validate_spec(data))


def test_a_local_model_is_counted_with_its_own_tokenizer(tmp_path, demo_data):
    """A saved copy of the builtin model, read back as a local folder, gives the same counts."""
    from sweeper.data.examples import load_examples
    from sweeper.trial.model import tiny_llama

    data = spec_dict(demo_data, tmp_path, cutoff_len=24)
    builtin = validate_spec(data)
    loaded = load_examples(builtin.dataset)
    texts = [ex.text for ex in loaded.train + loaded.eval] + [ex.explanation for ex in loaded.train + loaded.eval]
    model, tokenizer = tiny_llama(texts + LABELS + ["Text", "Label", "Explanation", ":"], seed=0)
    folder = tmp_path / "tiny-local"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)

    local = validate_spec({**data, "model": str(folder)})
    counts = [(e.cutoff_len, e.include_explanation, e.count) for e in preflight(local).overlength]
    assert counts == [(e.cutoff_len, e.include_explanation, e.count) for e in preflight(builtin).overlength]
    assert any(count for _, _, count in counts)


def test_gpu_check_counts_a_gpu_per_data_parallel_worker(demo_data, tmp_path):
    import torch

    data = spec_dict(demo_data, tmp_path)
    data["resources"] = {"gpu": 0.5, "workers_per_trial": 2}
    spec = validate_spec(data)
    if torch.cuda.device_count() >= 2:
        check_devices(spec)  # two GPUs: one per worker
        return
    with pytest.raises(SweeperError, match=r"resources\.gpu: each trial asks for 0\.5 GPU x 2 workers \(a GPU per worker: 2\)"):
        check_devices(spec)
