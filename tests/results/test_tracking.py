"""TensorBoard, MLflow and W&B (offline) hold every raw point of every trial at its step."""

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.slow

TRACKED = ("loss", "label_loss", "explanation_loss", "eval_macro_f1", "eval_label_loss")


def curves_by_trial(sweep_dir):
    by_trial = {}
    for row in pq.read_table(sweep_dir / "curves.parquet").to_pylist():
        for name in TRACKED:
            if row[name] is not None:
                by_trial.setdefault(row["trial_id"], {}).setdefault(name, []).append((row["step"], row[name]))
    return by_trial


@pytest.mark.parametrize("sweep", ["with", "without"])
def test_tensorboard_event_files_hold_every_point_at_its_step(sweeps, sweep):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    expected = curves_by_trial(sweeps[sweep])
    assert len(expected) == 3
    for trial_id, series in expected.items():
        events = EventAccumulator(str(sweeps[sweep] / "tensorboard" / trial_id), size_guidance={"scalars": 0})
        events.Reload()
        for name, points in series.items():
            logged = [(e.step, e.value) for e in events.Scalars(name)]
            assert [s for s, _ in logged] == [s for s, _ in points], (trial_id, name)
            assert [v for _, v in logged] == pytest.approx([v for _, v in points], rel=1e-6)
    # Ray's own batch-indexed event files are not written beside ours
    assert not list(sweeps[sweep].glob("trial_*/events.out.tfevents.*"))


def test_mlflow_store_holds_each_trials_full_history(sweeps):
    import os

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=sweeps["mlflow"].as_uri())
    experiment = client.get_experiment_by_name("explain-with")
    runs = {run.info.run_name: run for run in client.search_runs([experiment.experiment_id])}
    expected = curves_by_trial(sweeps["with"])
    assert set(runs) == set(expected)
    for trial_id, series in expected.items():
        run = runs[trial_id]
        assert run.data.tags["sweep"] == "explain-with"
        assert run.data.tags["status"] in ("completed", "pruned") and run.data.tags["verdict"]
        assert "learning_rate" in run.data.params
        assert run.info.status == ("KILLED" if run.data.tags["status"] == "pruned" else "FINISHED")
        for name, points in series.items():
            history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, name))
            assert [s for s, _ in history] == [s for s, _ in points]
            assert [v for _, v in history] == pytest.approx([v for _, v in points], rel=1e-6)


def test_wandb_offline_runs_one_per_trial(sweeps):
    runs = sorted((sweeps["with"] / "wandb").glob("offline-run-*"))
    assert len(runs) == 3
    for run in runs:
        assert list(run.glob("*.wandb")) and list(run.glob("*.wandb"))[0].stat().st_size > 1000
