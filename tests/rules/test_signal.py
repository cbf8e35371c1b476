"""The judged signal: label loss, loss, or, for an explanation-first run, its eval metrics only."""

import pytest

from sweeper.rules import CurveMonitor, PrunerSettings
from sweeper.rules.monitor import run_settings
from sweeper.rules.point import Point
from sweeper.rules.signal import EVAL_METRIC, Signal

TRAIN = Point(step=5, loss=2.0, label_loss=0.01)
EVAL = Point(step=5, eval_loss=1.5, eval_label_loss=0.02, eval_accuracy=0.4, eval_macro_f1=0.3)


@pytest.mark.parametrize(
    "signal, value, eval_value, name",
    [
        ("auto", 0.01, 0.02, "label loss"),
        ("label_loss", 0.01, 0.02, "label loss"),
        ("loss", 2.0, 1.5, "loss"),
        # Explanation first: the label loss (and the eval losses) are teacher-forced after the gold
        # explanation and say nothing; no training-curve value at all.
        ("eval_metric", None, None, "eval metric"),
    ],
)
def test_signal_values(signal, value, eval_value, name):
    judged = Signal(signal)
    assert judged.value(TRAIN) == value
    assert judged.eval_value(EVAL) == eval_value
    assert judged.name == name


def test_unknown_signal():
    with pytest.raises(ValueError, match="signal"):
        Signal("eval_f1")


@pytest.mark.parametrize(
    "facts, expected",
    [
        ({}, "auto"),
        ({"max_steps": 100}, "auto"),
        ({"signal": EVAL_METRIC}, EVAL_METRIC),  # the trial knows its label follows the explanation
    ],
)
def test_run_settings_take_the_signal_a_run_states(facts, expected):
    settings = PrunerSettings(num_classes=3)
    assert run_settings(settings, facts).signal == expected
    assert run_settings(settings, facts).num_classes == 3


def _rising_label_loss(max_steps=300):
    """A label loss that triples after step 100 and stays up: divergence when judged on it."""
    for step in range(1, max_steps + 1):
        wobble = 0.01 * (step % 3)  # not exactly constant: that would be a collapse, not this rise
        yield Point(step=step, epoch=step / 100, loss=2.0 + wobble, label_loss=(0.3 if step <= 100 else 1.0) + wobble, learning_rate=1e-4)


def test_an_explanation_first_run_is_not_judged_on_its_label_loss():
    judged = CurveMonitor(PrunerSettings(num_classes=3), max_steps=300, steps_per_epoch=100)
    stops = [judged.observe(point).stop for point in _rising_label_loss()]
    assert any(stops) and judged.stopped_by in ("diverged", "blew_up")  # the rules that see a rise
    first = CurveMonitor(run_settings(PrunerSettings(num_classes=3), {"signal": EVAL_METRIC}), max_steps=300, steps_per_epoch=100)
    assert not any(first.observe(point).stop for point in _rising_label_loss())
    assert first.verdict == "healthy" and "judged on its eval metrics only" in first.reason
