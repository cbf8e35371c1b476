"""CollapseRule (sweeper.rules.collapse): tables of curves -> the index of the point it fires on."""

from __future__ import annotations

import math
import random

import pytest

from sweeper.rules import CurveMonitor, Point, PrunerSettings
from sweeper.rules.collapse import CollapseRule

NAN = math.nan


def _points(losses, every=5, label_losses=None):
    label_losses = label_losses or [None] * len(losses)
    return [Point(step=every * (i + 1), loss=loss, label_loss=label) for i, (loss, label) in enumerate(zip(losses, label_losses))]


def _first(rule, points):
    for index, point in enumerate(points):
        if (finding := rule.observe(point)) is not None:
            return finding, index
    return None, None


def _noisy_decay(n=200, seed=0):
    rng = random.Random(seed)
    return [round((0.5 + 1.5 * math.exp(-i / 40)) * (1 + rng.gauss(0, 0.02)), 4) for i in range(n)]


FIRES = [
    # (id, losses, rule kwargs, index of the point it fires on: the 10th equal log)
    # LF's fp16 overflow logged without grad_norm: 0.0 at every log after a normal start.
    ("zero_after_a_normal_start", [1.2, 0.9] + [0.0] * 20, {}, 11),
    # Any value repeated exactly is not a mean over noisy batches.
    ("the_same_nonzero_value", [3.1, 2.9] + [2.7725] * 20, {}, 11),
    ("min_logs_setting", [1.2] + [0.0] * 10, {"min_logs": 5}, 5),
    # A collapse jumps to its constant: from 0.9 to 0.0 is 75% of the start, far above 1%.
    ("after_a_healthy_stretch", _noisy_decay(50) + [0.0] * 12, {}, 59),
]

QUIET = [
    # (id, losses, rule kwargs) -- and WHY each must not fire
    # Nine equal logs are not the ten asked for.
    ("nine_logs_are_not_ten", [1.2, 0.9] + [0.0] * 9 + [0.8], {}),
    # Constant from the first log: nothing normal before it to call a start (a log that cannot be judged).
    ("constant_from_the_start", [0.0] * 30, {}),
    # A converged loss logged to 4 decimals reaches its repeats gently (0.0001 -> 0.0 is 0.005% of the start).
    ("converged_rounding_approaches_gently", [2.0, 1.0, 0.5, 0.1, 0.01, 0.001, 0.0002, 0.0001] + [0.0] * 20, {}),
    ("converged_nonzero_rounding", [2.0, 1.0, 0.3, 0.0125, 0.0124] + [0.0123] * 20, {}),
    # The count starts again when the loss moves: two runs of 9 are not one of 10.
    ("moved_again_restarts_the_count", [1.2] + [0.0] * 9 + [0.5] + [0.0] * 9, {}),
    # A healthy noisy decay never repeats 10 times.
    ("healthy_noisy_decay", _noisy_decay(), {}),
    # NaN never equals itself: a broken value is the divergence rule's to report.
    ("nan_is_the_divergence_rules", [1.2] + [NAN] * 20, {}),
    # Eval-only points carry no training loss.
    ("no_training_loss", [None] * 20, {}),
]


@pytest.mark.parametrize("losses, kwargs, index", [c[1:] for c in FIRES], ids=[c[0] for c in FIRES])
def test_collapse_fires(losses, kwargs, index):
    finding, at = _first(CollapseRule(**kwargs), _points(losses))
    assert finding is not None
    assert (finding.verdict, finding.rule, finding.kind, at) == ("divergence", "collapse", "collapse", index)
    assert finding.evidence["logs"] == kwargs.get("min_logs", 10)
    assert finding.step == _points(losses)[index - finding.evidence["logs"] + 1].step  # where the constant began
    assert f"exactly {finding.evidence['value']:g} at all" in finding.message


@pytest.mark.parametrize("losses, kwargs", [c[1:] for c in QUIET], ids=[c[0] for c in QUIET])
def test_collapse_stays_quiet(losses, kwargs):
    assert _first(CollapseRule(**kwargs), _points(losses)) == (None, None)


def test_collapse_judges_the_label_loss_when_logged():
    # The mean token loss repeats 2.0 (a stub) while the label loss moves: the label loss is judged.
    losses, labels = [2.0] * 30, [1.0 - 0.01 * i for i in range(30)]
    assert _first(CollapseRule(), _points(losses, label_losses=labels)) == (None, None)
    finding, _ = _first(CollapseRule(), _points([2.0] * 30, label_losses=[1.0] + [0.0] * 29))
    assert finding is not None and "label loss is exactly 0" in finding.message


def test_monitor_stops_a_collapse_even_in_grace():
    points = _points([1.2, 0.9] + [0.0] * 30)
    monitor = CurveMonitor(PrunerSettings(), max_steps=10_000)  # grace: the first 1,000 steps
    stops = [i for i, p in enumerate(points) if monitor.observe(p).stop]
    assert stops[0] == 11 and monitor.stopped_by == "collapsed" and monitor.verdict == "divergence"
    assert monitor.reason.startswith("stopped: divergence (collapse) at step 15: the loss is exactly 0 at all 10 logs")


def test_collapse_logs_setting_reaches_the_rule():
    monitor = CurveMonitor(PrunerSettings(collapse_logs=20))
    stops = [i for i, p in enumerate(_points([1.2, 0.9] + [0.0] * 30)) if monitor.observe(p).stop]
    assert stops[0] == 21


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_logs": 1}, "min_logs must be an int >= 2, got 1."),
        ({"min_logs": 2.5}, "min_logs must be an int >= 2, got 2.5."),
        ({"min_jump": -0.1}, "min_jump must be a number >= 0, got -0.1."),
        ({"min_jump": NAN}, "min_jump must be a number >= 0, got nan."),
        ({"signal": "eval_loss"}, "signal must be one of 'auto', 'label_loss', 'loss', 'eval_metric', got 'eval_loss'."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        CollapseRule(**kwargs)
    assert str(error.value) == message
