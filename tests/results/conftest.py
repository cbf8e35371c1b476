"""Real sweep outputs shared by the results tests: two tiny sweeps, run once per session, that
differ only in `train.include_explanation` (one of them also tracked to MLflow and W&B offline)."""

from pathlib import Path

import pytest

from sweeper.orchestrate.sweep import run_sweep
from sweeper.spec import validate_spec

DEMO_DATA = Path(__file__).resolve().parents[2] / "data" / "explain-demo"
LEARNING_RATES = [3e-3, 1e-5, 3e-2]


def sweep_spec(storage: Path, name: str, include_explanation: bool, tracking: dict) -> dict:
    return {
        "name": name,
        "storage": str(storage),
        "model": "builtin:tiny-llama",
        "dataset": {
            "train": str(DEMO_DATA / "train.jsonl"),
            "eval": str(DEMO_DATA / "eval.jsonl"),
            "labels": ["positive", "negative", "neutral"],
        },
        "train": {
            "num_train_epochs": 2,
            "per_device_train_batch_size": 16,
            "gradient_accumulation_steps": 1,
            "logging_steps": 2,
            "save_steps": 1000,
            "max_eval_samples": 60,
            "cutoff_len": 96,
            "include_explanation": include_explanation,
        },
        "search": {"algorithm": "grid", "num_samples": 1, "space": {"learning_rate": {"grid": LEARNING_RATES}}},
        "resources": {"cpu": 1},
        # Only the per-trial rules: the completed trial (lr 3e-3) must not depend on which trial
        # finished first; lr 1e-5 is still stopped as too slow.
        "pruner": {"compare_to_best": False, "compare_to_precedent": False},
        "tracking": tracking,
    }


@pytest.fixture(scope="session")
def sweeps(tmp_path_factory) -> dict[str, Path]:
    """{"with": sweep folder, "without": sweep folder, "mlflow": the MLflow file store}."""
    import ray

    root = tmp_path_factory.mktemp("sweeps")
    store = root / "mlruns"
    folders = {}
    # One Ray for both sweeps (run_sweep leaves a Ray it did not start running): half the start-up.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        for name, include, tracking in (
            ("with", True, {"mlflow": store.as_uri(), "wandb": "offline"}),
            ("without", False, {}),
        ):
            spec = validate_spec(sweep_spec(root / "results", f"explain-{name}", include, tracking))
            folders[name] = run_sweep(spec, quiet=True).sweep_dir
    finally:
        ray.shutdown()
    folders["mlflow"] = store
    return folders
