"""The recorder and the scheduler together, driven the way Ray's controller drives them."""

import csv
from types import SimpleNamespace

from ray.tune.schedulers import TrialScheduler

from sweeper.adapters.ray_scheduler import ConvergenceScheduler
from sweeper.orchestrate.recorder import OOM_HINT, SweepRecorder, error_line
from sweeper.orchestrate.space import OBJECTIVE
from sweeper.rules import PrunerSettings


def trial(trial_id, **config):
    return SimpleNamespace(trial_id=trial_id, config=config, error_file=None)


def feed(scheduler, recorder, t, result):
    decision = scheduler.on_trial_result(None, t, result)
    recorder.on_trial_result(0, [], t, result)
    return decision


def test_nan_loss_trial_is_pruned_as_divergence_and_tells_the_searcher(tmp_path):
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    recorder = SweepRecorder(tmp_path, ["learning_rate"], "eval_macro_f1", "max", scheduler)
    bad, good = trial("bad", learning_rate=1e30), trial("good", learning_rate=3e-3)
    for t in (bad, good):
        recorder.on_trial_start(0, [], t)
    facts = {"max_steps": 100, "steps_per_epoch": 50, "samples_truncated": 0, "samples_dropped": 3}
    assert feed(scheduler, recorder, bad, {"step": 2, "epoch": 0.04, "loss": 2.0, "label_loss": 1.0, **facts}) == TrialScheduler.CONTINUE
    result = {"step": 4, "epoch": 0.08, "loss": float("nan"), "label_loss": float("nan"), **facts}
    assert feed(scheduler, recorder, bad, result) == TrialScheduler.STOP
    # Ray hands this same dict to the searcher: a trial pruned before any eval reads as worst
    assert result[OBJECTIVE] == 0.0
    scheduler.on_trial_complete(None, bad, result)
    recorder.on_trial_complete(0, [], bad)
    for step in range(2, 12, 2):
        feed(scheduler, recorder, good, {"step": step, "epoch": step / 50, "loss": 1.0 / step, "label_loss": 1.0 / step, **facts})
    scheduler.on_trial_complete(None, good, {})
    recorder.on_trial_complete(0, [], good)
    recorder.flush()

    rows = {r["trial_id"]: r for r in csv.DictReader(open(tmp_path / "leaderboard.csv"))}
    assert rows["bad"]["status"] == "pruned"
    assert rows["bad"]["verdict"] == "divergence"
    assert "step 4" in rows["bad"]["reason"] and "nan" in rows["bad"]["reason"]
    assert rows["bad"]["samples_dropped"] == "3"
    assert rows["good"]["status"] == "completed"
    assert rows["good"]["steps_done"] == "10"


def test_error_line_is_last_line_with_oom_hint(tmp_path):
    crash = tmp_path / "error.txt"
    crash.write_text("Traceback (most recent call last):\n  File x\nRuntimeError: CUDA error: device-side assert\n\n")
    assert error_line(SimpleNamespace(error_file=str(crash))) == "RuntimeError: CUDA error: device-side assert"
    crash.write_text("Traceback...\ntorch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n")
    line = error_line(SimpleNamespace(error_file=str(crash)))
    assert line.startswith(OOM_HINT) and "Tried to allocate 2.00 GiB" in line
    assert error_line(SimpleNamespace(error_file=None)) == "the trial failed (no error text)"


def test_a_batch_of_points_is_judged_point_by_point(tmp_path):
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    recorder = SweepRecorder(tmp_path, [], "eval_macro_f1", "max", scheduler)
    t = trial("batched")
    recorder.on_trial_start(0, [], t)
    facts = {"max_steps": 100, "steps_per_epoch": 50}
    batch = [
        {"step": 2, "epoch": 0.04, "loss": 2.0, "label_loss": 1.0, **facts},
        {"step": 4, "epoch": 0.08, "loss": float("inf"), "label_loss": float("inf"), **facts},
        {"step": 6, "epoch": 0.12, "loss": 2.0, "label_loss": 1.0, **facts},
    ]
    result = {**batch[-1], "points": batch}
    assert feed(scheduler, recorder, t, result) == TrialScheduler.STOP
    assert "at step 4" in scheduler.verdict("batched")[2]  # the point that fired, not the batch's last
    assert [p["step"] for p in recorder.records["batched"].points] == [2, 4, 6]


class _Registry:
    """The duplicates registry's actor handle, as the recorder calls it (`.finish.remote(...)`)."""

    def __init__(self):
        self.calls = []
        self.finish = SimpleNamespace(remote=lambda *args: self.calls.append(("finish", *args)))
        self.release = SimpleNamespace(remote=lambda *args: self.calls.append(("release", *args)))


def test_duplicates_are_recorded_as_such_and_originals_reported_to_the_registry(tmp_path):
    from functools import partial

    from sweeper.orchestrate.space import effective_params
    from sweeper.spec.schema import SearchSpec

    search = SearchSpec(space={"include_explanation": {"choice": [True, False]},
                               "explanation_position": {"choice": ["after", "before"]}})
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    registry = _Registry()
    recorder = SweepRecorder(tmp_path, list(search.space), "eval_macro_f1", "max", scheduler,
                             effective=partial(effective_params, search), duplicates=registry)
    original = trial("a", include_explanation=False, explanation_position="after")
    repeat = trial("b", include_explanation=False, explanation_position="before")
    failing, failing_repeat = trial("c", include_explanation=True, explanation_position="after"), trial("d", include_explanation=True, explanation_position="after")
    for t in (original, repeat, failing, failing_repeat):
        recorder.on_trial_start(0, [], t)
    feed(scheduler, recorder, repeat, {"points": [], "duplicate_of": "a"})  # waiting for it
    assert "waiting for trial a" in recorder.records["b"].reason
    facts = {"max_steps": 10, "steps_per_epoch": 10}
    feed(scheduler, recorder, original, {"step": 10, "loss": 1.0, "label_loss": 0.5, "eval_macro_f1": 0.7, OBJECTIVE: 0.7, **facts})
    scheduler.on_trial_complete(None, original, {})
    recorder.on_trial_complete(0, [], original)
    assert registry.calls == [("finish", "a", "completed", 0.7, "")]
    feed(scheduler, recorder, repeat, {"points": [], "duplicate_of": "a", "duplicate_status": "completed", OBJECTIVE: 0.7})
    scheduler.on_trial_complete(None, repeat, {})
    recorder.on_trial_complete(0, [], repeat)
    recorder.on_trial_recover(0, [], failing)  # its process died; Ray retries it
    assert registry.calls[-1] == ("release", "c")
    recorder.on_trial_error(0, [], failing)
    feed(scheduler, recorder, failing_repeat, {"points": [], "duplicate_of": "c"})
    recorder.on_trial_error(0, [], failing_repeat)
    assert [call[1] for call in registry.calls if call[0] == "finish"] == ["a", "c"]  # never a duplicate
    recorder.flush()

    rows = {r["trial_id"]: r for r in csv.DictReader(open(tmp_path / "leaderboard.csv"))}
    assert rows["a"]["status"] == "completed" and rows["a"]["duplicate_of"] == ""
    assert rows["b"]["status"] == "duplicate" and rows["b"]["duplicate_of"] == "a" and rows["b"]["steps_done"] == "0"
    assert "the same settings as trial a (completed)" in rows["b"]["reason"]
    # Without explanations the position is unused: blank, as TPE's define-by-run space leaves it.
    assert rows["a"]["explanation_position"] == rows["b"]["explanation_position"] == ""
    assert rows["d"]["status"] == "errored" and rows["d"]["duplicate_of"] == "c"
    assert list(rows)[-1] == "b"  # a duplicate ranks after every trial that ran
    assert recorder.records["b"].objective == 0.7  # replayed to the searcher on a resume
