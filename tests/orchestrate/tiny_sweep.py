"""The spec of a tiny real sweep on the demo data: one short epoch, few eval rows, no checkpoints."""

from pathlib import Path
from typing import Any


def tiny_spec(tmp_path: Path, demo_data: Path, name: str, search: dict[str, Any], *,
              max_eval_samples: int = 20, **train: Any) -> dict[str, Any]:
    """A sweep spec dict named `name` under tmp_path/results; `train` adds or overrides train settings."""
    return {
        "name": name,
        "storage": str(tmp_path / "results"),
        "dataset": {"train": str(demo_data / "train.jsonl"), "eval": str(demo_data / "eval.jsonl"),
                    "labels": ["positive", "negative", "neutral"]},
        "train": {"num_train_epochs": 1, "per_device_train_batch_size": 32, "gradient_accumulation_steps": 1,
                  "learning_rate": 3e-3, "logging_steps": 2, "save_steps": 1000,
                  "max_eval_samples": max_eval_samples, "cutoff_len": 96, **train},
        "search": search,
        "resources": {"cpu": 1},
    }
