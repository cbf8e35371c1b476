"""BlowUpRule (sweeper.rules.blowup): tables of curves -> the index of the point it fires on."""

from __future__ import annotations

import math
import random

import pytest

from sweeper.rules import CurveMonitor, Point, PrunerSettings
from sweeper.rules.blowup import BlowUpRule

NAN = math.nan
BLOW_UP = [1.45 ** i for i in range(10)]  # 1 -> 28 over 10 logs (constant lr 5e-3)


def _points(losses, every=10):
    return [Point(step=every * (i + 1), loss=loss) for i, loss in enumerate(losses)]


def _first(rule, points):
    for index, point in enumerate(points):
        if (finding := rule.observe(point)) is not None:
            return finding, index
    return None, None


def _decay(n=400, start=0.6, floor=0.3, noise=0.005, seed=0):
    rng = random.Random(seed)
    return [floor + (start - floor) * math.exp(-i / (n * 0.3)) + rng.gauss(0, noise) for i in range(n)]


def _spike(at=20, values=(1.5, 4.0, 12.0, 8.0, 3.0, 1.0)):
    losses = _decay()
    losses[at : at + len(values)] = values  # lr too high without warm-up, then recovered: 60 of 4,000 steps
    return losses


FIRES = [
    # (id, losses, rule kwargs, index of the point it fires on)
    # 4 rises in 4 logs to 4.4x its start: caught at the 5th log (no max_steps: no span to wait for).
    ("1_to_30_over_10_logs", BLOW_UP, {}, 4),
    # With max_steps 1,000 the loss must stay 3x above its best for 5% = 50 steps: from step 40 (3.05) to step 90.
    ("1_to_30_with_max_steps", BLOW_UP, {"max_steps": 1000}, 8),
    # A short run: 5% of 100 steps is 5, already met at the 5th log.
    ("short_run_with_max_steps", BLOW_UP, {"max_steps": 100}, 4),
    # Rising at 3 of 5 logs (60%), noisy, its last two at 3.1x and 3.5x: still a blow-up.
    ("noisy_climb_at_60_percent", [1.0, 1.5, 1.4, 3.2, 3.1, 3.5], {}, 5),
    # After a healthy start: from its best (0.307, 8 logs before the climb) to 1.2 (step 1030), over 3x
    # it and above the start 0.6, and up for 50 steps (5% of 1,000) at step 1080.
    ("after_a_healthy_stretch", _decay(100) + [0.5, 0.8, 1.2, 1.6, 2.0, 2.5, 3.0, 3.6, 4.2], {"max_steps": 1000}, 107),
    ("factor_setting", [1.0, 1.3, 1.6, 2.0, 2.2], {"factor": 2.0}, 4),
]

QUIET = [
    # (id, losses, rule kwargs) -- and WHY each must not fire
    # A spike the run comes back from: 4 logs up to 12, then falling; never climbing at 5 logs.
    ("recovered_spike", _spike(), {}),
    ("recovered_spike_with_max_steps", _spike(), {"max_steps": 4000}),
    # A longer spike (7 logs up, 40x) in a run of 4,000 steps: 70 steps are under 5% (200 steps).
    ("longer_spike_shorter_than_5_percent", _spike(values=(0.6, 1.0, 1.8, 3.0, 5.0, 8.0, 12.0, 4.0, 1.0, 0.5)), {"max_steps": 4000}),
    # The same blow-up in a run of 10,000 steps: 100 steps are 1% of it, too short to tell from a spike.
    ("too_short_for_its_run", BLOW_UP, {"max_steps": 10_000}),
    # Turned before the 5th log: falling again when there would be enough logs.
    ("turned_before_enough_logs", [1.0, 1.5, 2.5, 3.5, 3.4, 3.0, 2.0, 1.0], {}),
    # A label loss falls from a high start (10); a rise to 4x its best that stays below the start
    # is the divergence rule's to judge (sustained, on a median), not a blow-up.
    ("below_the_start", [10.0, 5.0, 1.0, 0.5, 0.7, 1.0, 1.4, 2.0, 2.5], {}),
    # Only the last log is 3x up (2.1 before it): one spike on a noisy climb is not a blow-up.
    ("one_spike_on_a_climb", [1.0, 1.5, 1.4, 2.2, 2.1, 3.5], {}),
    # Up 2.5x only: under the factor of 3.
    ("under_the_factor", [1.0, 1.2, 1.5, 1.9, 2.2, 2.5], {}),
    # Rising at only 2 of 6 logs (under 60%), though to 4x.
    ("rarely_rising", [1.0, 0.9, 0.8, 4.0, 3.9, 3.8, 3.7, 4.1][1:], {}),
    # A healthy noisy decay never climbs above its start.
    ("healthy_noisy_decay", _decay(noise=0.05), {}),
    # NaN and eval-only points are not judged here.
    ("nan_is_the_divergence_rules", [1.0, NAN, NAN, NAN, NAN, NAN], {}),
    ("no_training_loss", [None] * 10, {}),
]


@pytest.mark.parametrize("losses, kwargs, index", [c[1:] for c in FIRES], ids=[c[0] for c in FIRES])
def test_blow_up_fires(losses, kwargs, index):
    finding, at = _first(BlowUpRule(**kwargs), _points(losses))
    assert finding is not None
    assert (finding.verdict, finding.rule, finding.kind, at) == ("divergence", "blow_up", "blow_up", index)
    assert finding.evidence["end"] >= kwargs.get("factor", 3.0) * finding.evidence["best"]
    assert "logs since its best" in finding.message


@pytest.mark.parametrize("losses, kwargs", [c[1:] for c in QUIET], ids=[c[0] for c in QUIET])
def test_blow_up_stays_quiet(losses, kwargs):
    assert _first(BlowUpRule(**kwargs), _points(losses)) == (None, None)


def test_monitor_stops_a_blow_up_even_in_grace_and_before_the_rising_median():
    # A 10-log run (max_steps 100, grace the first 10 steps): the blow-up rule stops it at its 5th log,
    # before the rising median (a median of 5 that must turn, then 5 points of patience).
    monitor = CurveMonitor(PrunerSettings(), max_steps=100)
    stops = [i for i, p in enumerate(_points(BLOW_UP)) if monitor.observe(p).stop]
    assert stops[0] == 4 and monitor.stopped_by == "blew_up"
    monitor = CurveMonitor(PrunerSettings(), max_steps=1000)  # grace: the first 100 steps
    stops = [i for i, p in enumerate(_points(BLOW_UP)) if monitor.observe(p).stop]
    assert stops[0] == 8 and monitor.stopped_by == "blew_up"
    assert (monitor.stopped.rule, monitor.verdict) == ("blow_up", "divergence")


def test_monitor_never_stops_a_short_recovered_spike():
    # The online rule: no stop for a spike shorter than a small share of the run's steps.
    monitor = CurveMonitor(PrunerSettings(), max_steps=4000)
    assert not any(monitor.observe(p).stop for p in _points(_spike()))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"factor": 1}, "factor must be a number > 1, got 1."),
        ({"rising_share": 0}, "rising_share must be a number in (0, 1], got 0."),
        ({"rising_share": 1.5}, "rising_share must be a number in (0, 1], got 1.5."),
        ({"min_logs": 2}, "min_logs must be an int >= 3, got 2."),
        ({"spike_share": 1.0}, "spike_share must be a number in [0, 1), got 1.0."),
        ({"max_steps": 0}, "max_steps must be a number > 0 or None, got 0."),
        ({"signal": "eval_loss"}, "signal must be one of 'auto', 'label_loss', 'loss', 'eval_metric', got 'eval_loss'."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        BlowUpRule(**kwargs)
    assert str(error.value) == message
