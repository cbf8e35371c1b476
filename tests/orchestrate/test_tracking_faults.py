"""A tracker that cannot start is reported once and left out; the points still reach TensorBoard."""

from types import SimpleNamespace

from sweeper.adapters.ray_scheduler import ConvergenceScheduler
from sweeper.orchestrate.tracking import TrackingCallback
from sweeper.spec.schema import TrackingSpec


def test_an_unwritable_mlflow_store_leaves_tensorboard_tracking(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the MLflow store should go")
    tracking = TrackingSpec(mlflow=(blocker / "mlruns").as_uri())
    scheduler = ConvergenceScheduler()
    callback = TrackingCallback(tmp_path / "sweep", "s", ["learning_rate"], scheduler, tracking)
    trial = SimpleNamespace(trial_id="t1", config={"learning_rate": 1e-3}, status="TERMINATED")

    def report(iteration, result):  # as Ray's controller does: the scheduler sees a report before the callbacks
        scheduler.on_trial_result(None, trial, result)
        callback.log_trial_result(iteration, trial, result)

    callback.log_trial_start(trial)
    report(1, {"points": [{"step": 5, "loss": 2.0}, {"step": 10, "loss": 1.5, "eval_macro_f1": 0.4}]})
    report(2, {"step": 15, "loss": 1.25})
    callback.log_trial_end(trial)

    warnings = [line for line in capsys.readouterr().err.splitlines() if "MLflow" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: MLflow tracking is off for this sweep")
    events = EventAccumulator(str(tmp_path / "sweep" / "tensorboard" / "t1"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("loss")] == [(5, 2.0), (10, 1.5), (15, 1.25)]  # float32 in the event file: values exact in it
    assert [e.step for e in events.Scalars("eval_macro_f1")] == [10]
