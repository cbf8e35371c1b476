import json

import pytest

from sweeper.data.demo import DEMO_LABELS, demo_records
from sweeper.spec.schema import DatasetSpec, TrainSettings

LABELS = list(DEMO_LABELS)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.fixture(scope="session")
def small_data_dir(tmp_path_factory):
    """48 train and 24 eval demo examples: 6 steps an epoch at batch 8."""
    train, evals = demo_records(0)
    folder = tmp_path_factory.mktemp("small-demo")
    write_jsonl(folder / "train.jsonl", train[:48])
    write_jsonl(folder / "eval.jsonl", evals[:24])
    return folder


@pytest.fixture
def small_dataset(small_data_dir):
    return DatasetSpec(train=small_data_dir / "train.jsonl", eval=small_data_dir / "eval.jsonl", labels=LABELS)


def tiny_settings(**overrides):
    values = dict(
        learning_rate=3e-3,
        num_train_epochs=2,
        per_device_train_batch_size=8,
        gradient_accumulation_steps=1,
        logging_steps=2,
        eval_steps=None,
        save_steps=None,
        cutoff_len=64,
        per_device_eval_batch_size=32,
        lora_rank=4,
        lora_alpha=8,
        include_explanation=False,
    )
    values.update(overrides)
    return TrainSettings(**values)


@pytest.fixture
def make_settings():
    return tiny_settings
