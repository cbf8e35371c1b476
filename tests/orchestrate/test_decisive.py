"""DecisivePoints: which of a trial's reports end a batch, so that a stop lands where it was decided.

The reports are built as a trial builds them (sweeper.trial.reporting): a train point, an eval
point, a checkpoint's report of only a step, each with the trial's facts.
"""

import math

import pytest

from sweeper.orchestrate.decisive import DecisivePoints
from sweeper.orchestrate.trainable import RayReporter
from sweeper.rules import PrunerSettings

MAX_STEPS = 100  # grace: 10% of it, steps 0-9
FACTS = {"max_steps": MAX_STEPS, "steps_per_epoch": 50, "samples_truncated": 0, "samples_dropped": 0, "num_eval": 60}
SETTINGS = PrunerSettings(num_classes=3)


def train(step, loss):
    return {"step": step, "epoch": step / 50, "loss": loss, "label_loss": loss, "learning_rate": 1e-3,
            "grad_norm": 1.0, "tokens_per_second": 900.0, **FACTS}


def evaluation(step, f1):
    return {"step": step, "epoch": step / 50, "eval_loss": 1.0, "eval_label_loss": 1.0, "eval_accuracy": f1,
            "eval_macro_f1": f1, "eval_seconds": 0.1, **FACTS}


def saved(step):
    return {"step": step, **FACTS}  # a checkpoint with nothing else to say


def sent(reports, settings=SETTINGS):
    decisive = DecisivePoints(settings)
    return [report["step"] for report in reports if decisive.send_now(report)]


FALLING = [train(step, 1.2 * 0.98**step) for step in range(2, MAX_STEPS + 1, 2)]
NAN_AT_6 = [train(step, 1.2 if step < 6 else math.nan) for step in range(2, 31, 2)]
NAN_AT_14 = [train(step, 1.2 if step < 14 else math.nan) for step in range(2, 31, 2)]
# best 0.1 at step 30, then rising (below the stuck line, 0.5 x ln 3): the rising median of the last
# 5 points stays 50% above its best from step 56 on
RISING = [train(step, 0.4 - 0.01 * step if step <= 30 else 0.1 + 0.01 * (step - 30)) for step in range(2, 71, 2)]


@pytest.mark.parametrize(
    "reports, expected",
    [
        # a healthy run: only its first point past grace (a cross-trial finding made during grace
        # would stop it there); its other train points wait for the batch's time limit
        (FALLING, [10]),
        # a non-finite loss stops a run at once, even in grace
        (NAN_AT_6, [6, 10]),
        (NAN_AT_14, [10, 14]),
        # a sustained rise: sent where the divergence rule fires, not before
        (RISING, [10, 56]),
        # every eval point (where the cross-trial rules fire); a checkpoint's bare step is not one
        ([train(2, 1.0), evaluation(2, 0.3), train(4, 0.9), saved(4), train(6, 0.8)], [2]),
        ([*FALLING[:10], evaluation(20, 0.5), *FALLING[10:20], evaluation(40, 0.6)], [10, 20, 40]),
        # a report of facts alone carries no point
        ([dict(FACTS)], []),
    ],
    ids=["healthy", "nan-in-grace", "nan-after-grace", "rising", "evals", "evals-among-train", "facts-only"],
)
def test_sent_at_once(reports, expected):
    assert sent(reports) == expected


def test_a_stop_is_sent_once():
    # A restarted trial's monitor here may stop where the driver's did not (it judges fewer
    # points): the trial goes on, and its later points are batched again.
    assert sent(NAN_AT_6 + [train(step, math.nan) for step in range(32, 41, 2)]) == [6, 10]


def test_disabled_pruner_sends_only_evals():
    settings = PrunerSettings(num_classes=3, enabled=False)
    assert sent([*NAN_AT_14, evaluation(30, 0.4)], settings) == [30]


def test_explanation_first_trial_is_judged_on_its_eval_metrics():
    # Its label loss follows the gold explanation (signal eval_metric): a NaN training loss is not
    # its stop, as the driver judges it (CurveMonitor.for_run applies the stated signal).
    reports = [{**report, "signal": "eval_metric"} for report in NAN_AT_14]
    assert sent(reports) == [10]


def test_settings_must_be_pruner_settings():
    with pytest.raises(ValueError, match="settings must be a PrunerSettings, got dict"):
        DecisivePoints({})


class _Batches(RayReporter):
    """A reporter whose sends go to a list, as `tune.report` would take them."""

    def __init__(self, decisive):
        super().__init__("eval_macro_f1", "max", flush_seconds=3600.0, decisive=decisive)
        self.sent = []

    def _send(self, result, checkpoint):
        self.sent.append(result)


@pytest.mark.parametrize("reports", [NAN_AT_14, RISING], ids=["nan", "rising"])
def test_the_driver_stops_the_trial_at_the_last_point_of_a_batch(reports):
    from types import SimpleNamespace

    from ray.tune.schedulers import TrialScheduler

    from sweeper.adapters.ray_scheduler import ConvergenceScheduler

    reporter = _Batches(DecisivePoints(SETTINGS))
    scheduler = ConvergenceScheduler(SETTINGS)
    trial = SimpleNamespace(trial_id="t")
    for report in reports:
        reporter.report(report)
        if reporter.sent and scheduler.on_trial_result(None, trial, reporter.sent.pop()) == TrialScheduler.STOP:
            break
    else:
        pytest.fail("the driver never stopped the trial")
    # The trial waits at each send for the driver: it trained to the batch's last point, the one the driver stopped it at.
    verdict, stopped_by, reason = scheduler.verdict("t")
    assert (verdict, stopped_by) == ("divergence", "diverged")
    assert f"at step {report['step']}:" in reason, reason
    # Without the decisive points nothing would have been sent yet (the batch's time limit is an hour).
    batched = _Batches(None)
    for report in reports:
        batched.report(report)
    assert batched.sent == []
