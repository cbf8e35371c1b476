"""The embedded demo dataset: reproducible byte for byte, and built as its docstring promises."""

import json
from collections import Counter

from sweeper.data.demo import (
    CUES,
    DEMO_LABELS,
    EXPLANATION_VOCAB,
    EXPLANATION_WORDS,
    NUM_EVAL,
    NUM_TRAIN,
    demo_records,
    write_demo_dataset,
)


def majority_cue_label(text):
    counts = Counter(label for word in text.split() for label, cues in CUES.items() if word in cues)
    return counts.most_common(1)[0][0]


def test_generator_reproduces_committed_files(tmp_path, demo_data):
    paths = write_demo_dataset(tmp_path, seed=0)
    assert paths.train.read_bytes() == (demo_data / "train.jsonl").read_bytes()
    assert paths.eval.read_bytes() == (demo_data / "eval.jsonl").read_bytes()


def test_other_seed_gives_other_data():
    assert demo_records(1)[0] != demo_records(0)[0]


def test_sizes_labels_and_fields():
    train, evals = demo_records(0)
    assert (len(train), len(evals)) == (NUM_TRAIN, NUM_EVAL)
    for rec in train + evals:
        assert list(rec) == ["text", "label", "explanation"]
        assert rec["label"] in DEMO_LABELS
    counts = Counter(rec["label"] for rec in train)
    assert min(counts.values()) > NUM_TRAIN / 3 * 0.8  # roughly balanced


def test_train_has_some_label_noise_and_eval_none():
    train, evals = demo_records(0)
    noisy_train = sum(1 for rec in train if majority_cue_label(rec["text"]) != rec["label"])
    noisy_eval = sum(1 for rec in evals if majority_cue_label(rec["text"]) != rec["label"])
    assert 0.02 * NUM_TRAIN <= noisy_train <= 0.08 * NUM_TRAIN
    assert noisy_eval == 0


def test_explanations_draw_from_class_vocabularies():
    train, _ = demo_records(0)
    for rec in train:
        head, tail = rec["explanation"].split(" : ")
        assert head.endswith("set the tone")
        assert not any(label in rec["explanation"].split() for label in DEMO_LABELS)  # never names a label
        words = tail.split()
        assert 5 <= len(words) <= 8
        assert set(words) <= set(EXPLANATION_WORDS[rec["label"]])
    assert all(len(set(words)) == EXPLANATION_VOCAB for words in EXPLANATION_WORDS.values())


def test_records_are_json_lines(demo_data):
    for line in (demo_data / "eval.jsonl").read_text().splitlines():
        assert json.loads(line)["text"]
