"""EvalRiseRule (sweeper.rules.eval_rise): tables of runs -> the index of the eval it fires on."""

from __future__ import annotations

import math

import pytest

from sweeper.rules import CurveMonitor, Point, PrunerSettings
from sweeper.rules.eval_rise import EvalRiseRule

NAN = math.nan


def _run(evals, train=None, accuracy=None, per_eval=5):
    """`per_eval` training points (loss falling 2.0 -> ... by default), then one eval point, per eval."""
    points = []
    for k, value in enumerate(evals):
        for j in range(per_eval):
            i = k * per_eval + j
            loss = train(i) if train else 2.0 * 0.98 ** i
            points.append(Point(step=10 * (i + 1), loss=loss))
        extra = {"eval_accuracy": accuracy[k]} if accuracy else {}
        points.append(Point(step=10 * (k + 1) * max(per_eval, 1), eval_loss=value, **extra))
    return points


def _first_eval(rule, points):
    evals = 0
    for point in points:
        finding = rule.observe(point)
        if point.is_eval:
            evals += 1
        if finding is not None:
            return finding, evals - 1
    return None, None


FIRES = [
    # (id, run points, rule kwargs, index of the eval it fires on)
    # Best 0.8 at eval 1, then three evals in a row >= 1.2 while the training loss falls.
    ("three_evals_up_while_train_falls", _run([1.0, 0.8, 1.3, 1.4, 1.5]), {}, 4),
    # Six named eval losses averaged: all rose 2-3x from their best (the aigoncharov run's shape).
    ("two_to_three_x", _run([1.0, 0.9, 0.8, 1.7, 2.0, 2.4, 2.6]), {}, 5),
    # The accuracy is below its best too: worse on what it is measured on.
    ("accuracy_below_its_best", _run([1.0, 0.8, 1.3, 1.4, 1.5], accuracy=[0.5, 0.7, 0.66, 0.64, 0.6]), {}, 4),
    ("consecutive_setting", _run([1.0, 0.8, 1.3, 1.4]), {"consecutive": 2}, 3),
    ("rise_setting", _run([1.0, 0.8, 1.0, 1.05, 1.1]), {"rise": 0.2}, 4),
]

QUIET = [
    # (id, run points, rule kwargs) -- and WHY each must not fire
    # Two evals up are the offline judgment's evidence for a whole log; online a stop needs three.
    ("two_evals_up_only", _run([1.0, 0.8, 1.3, 1.4]), {}),
    # Back under 1.5x between: the count starts again.
    ("came_back_down_between", _run([1.0, 0.8, 1.3, 1.4, 1.0, 1.3, 1.4]), {}),
    # Up 1.19x at most: under the rise of 50%.
    ("under_the_rise", _run([1.0, 0.8, 0.9, 0.93, 0.95, 0.95]), {}),
    # The training loss rose too: a broken run, the divergence rules' to judge, not memorising.
    ("train_rising_too", _run([1.0, 0.8, 1.3, 1.4, 1.5], train=lambda i: 1.0 + 0.05 * i), {}),
    # The accuracy is at its best: a worse cross-entropy, a better classifier. Kept.
    ("accuracy_at_its_best", _run([1.0, 0.8, 1.3, 1.4, 1.5], accuracy=[0.5, 0.6, 0.7, 0.75, 0.8]), {}),
    # A healthy run: the eval loss falls with the training loss.
    ("healthy", _run([1.0, 0.9, 0.8, 0.75, 0.7, 0.68]), {}),
    # Evals without a training point before them: no memorising evidence.
    ("no_training_points", _run([1.0, 0.8, 1.3, 1.4, 1.5], per_eval=0), {}),
    # A non-finite eval loss says nothing (NaN never counts as up).
    ("nan_evals", _run([1.0, 0.8, NAN, NAN, NAN]), {}),
]


@pytest.mark.parametrize("points, kwargs, index", [c[1:] for c in FIRES], ids=[c[0] for c in FIRES])
def test_eval_rise_fires(points, kwargs, index):
    finding, at = _first_eval(EvalRiseRule(**kwargs), points)
    assert finding is not None
    assert (finding.verdict, finding.rule, finding.kind, at) == ("divergence", "eval_rise", "eval_rising", index)
    assert finding.evidence["train_now"] < finding.evidence["train_at_best"]
    assert "memorising" in finding.message and "eval loss rose from its best" in finding.message


@pytest.mark.parametrize("points, kwargs", [c[1:] for c in QUIET], ids=[c[0] for c in QUIET])
def test_eval_rise_stays_quiet(points, kwargs):
    assert _first_eval(EvalRiseRule(**kwargs), points) == (None, None)


def test_fires_once_and_stays_active():
    rule = EvalRiseRule()
    found = [f for p in _run([1.0, 0.8, 1.3, 1.4, 1.5, 1.6, 0.7]) if (f := rule.observe(p)) is not None]
    assert len(found) == 1 and rule.active is found[0]


POLICY = [
    # (id, points, settings, monitor kwargs, stopped_by or "", verdict)
    ("stops_as_eval_rising", _run([1.0, 0.8, 1.3, 1.4, 1.5, 1.6]), {}, {}, "eval_rising", "divergence"),
    ("kept_when_told", _run([1.0, 0.8, 1.3, 1.4, 1.5, 1.6]), {"stop_on_eval_rise": False}, {}, "", "divergence"),
    # Found at step 250, inside a grace of 1,000 steps: not stopped there (the run has no point after it).
    ("waits_for_grace", _run([1.0, 0.8, 1.3, 1.4, 1.5]), {"grace_steps": 1000}, {}, "", "divergence"),
    ("settings_reach_the_rule", _run([1.0, 0.8, 1.3, 1.4, 1.5]), {"eval_rise_evals": 4}, {}, "", "healthy"),
]


@pytest.mark.parametrize("points, settings, kwargs, stopped_by, verdict", [c[1:] for c in POLICY], ids=[c[0] for c in POLICY])
def test_policy(points, settings, kwargs, stopped_by, verdict):
    monitor = CurveMonitor(PrunerSettings(**settings), **kwargs)
    for point in points:
        monitor.observe(point)
    assert (monitor.stopped_by, monitor.verdict) == (stopped_by, verdict)


def test_a_staircase_explains_a_rising_eval():
    # Flat epochs with 20% cliffs and the eval loss up 5% an epoch: memorising, judged by the
    # staircase policy across the cliffs; then the eval loss 1.6x its best for 3 evals. The verdict
    # stays the staircase's and the stop is the staircase's (memorising), not eval_rising.
    points, level = [], 1.0
    for i in range(200):
        if i and i % 50 == 0:
            level *= 0.8
        k = i // 50
        ev = (1.0 + 0.05 * k if i < 150 else 1.6) if (i + 1) % 10 == 0 else None
        points.append(Point(step=10 * (i + 1), epoch=(i + 1) / 50, loss=level * (1 + 0.005 * ((-1) ** i)), eval_loss=ev))
    monitor = CurveMonitor(PrunerSettings(enabled=False))
    for point in points:
        monitor.observe(point)
    assert monitor.verdict == "staircase"
    assert any(f.rule == "eval_rise" for f in monitor.findings)
    stopping = CurveMonitor()
    for point in points:
        if stopping.observe(point).stop:
            break
    assert stopping.stopped_by == "memorising"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rise": 0}, "rise must be a number > 0, got 0."),
        ({"rise": -1}, "rise must be a number > 0, got -1."),
        ({"consecutive": 1}, "consecutive must be an int >= 2, got 1."),
        ({"consecutive": 3.0}, "consecutive must be an int >= 2, got 3.0."),
        ({"signal": "eval_loss"}, "signal must be one of 'auto', 'label_loss', 'loss', 'eval_metric', got 'eval_loss'."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        EvalRiseRule(**kwargs)
    assert str(error.value) == message
