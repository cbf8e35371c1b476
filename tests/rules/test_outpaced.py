"""The outpaced rule: a run whose eval metric cannot reach the sweep's best, even optimistically."""

from __future__ import annotations

import pytest

from sweeper.rules import NO_SWEEP, CurveMonitor, FinishedRun, Point, PrunerSettings, Sweep, diagnose
from sweeper.rules.outpaced import OutpacedRule, optimistic_final

MAX = 300


def _evals(values, every=25):
    return [Point(step=(i + 1) * every, epoch=(i + 1) * every / 75, eval_macro_f1=v) for i, v in enumerate(values)]


def _best_only(final, curve=()):
    """A sweep whose one finished run ended at `final` (no sweep when None)."""
    return NO_SWEEP if final is None else Sweep().adding(FinishedRun(final, tuple(curve)))


def _first_fire(values, reference, **kwargs):
    rule = OutpacedRule(MAX, num_classes=3, **kwargs)
    for point in _evals(values):
        found = rule.observe(point, _best_only(reference))
        if found is not None:
            return found
    return None


CASES = [
    # (id, eval macro-F1 every 25 steps, reference, step of the stop or None, why)
    ("saturated_far_below_best", [0.5, 0.7, 0.76, 0.78, 0.77, 0.78, 0.78, 0.77, 0.78], 0.96, 200,
     "flat at 0.78 from step 75: by step 200 even 2x its fastest plausible pace ends below 0.96"),
    ("saturated_near_best", [0.5, 0.8, 0.9, 0.93, 0.93, 0.94, 0.93, 0.94], 0.96, None,
     "0.94 + the noise allowance reaches 0.96"),
    ("still_rising_fast", [0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8], 0.96, None,
     "rising 0.05 per eval: its projection passes 0.96"),
    ("late_bloomer_at_chance", [0.3, 0.31, 0.29, 0.3, 0.32, 0.3, 0.31, 0.3, 0.31, 0.29], 0.96, None,
     "still at chance: never judged, whatever the projection says (a late bloomer looks like this)"),
    ("no_reference", [0.5, 0.7, 0.76, 0.78, 0.77, 0.78, 0.78, 0.77, 0.78], None, None,
     "no completed trial yet: no peer to compare with"),
    ("worse_than_best_but_before_after", [0.5, 0.7, 0.76], 0.96, None, "3 evals (step 75): too few, too early"),
]


@pytest.mark.parametrize("values, reference, step, why", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_outpaced_fires_only_when_even_optimism_falls_short(values, reference, step, why):
    found = _first_fire(values, reference)
    assert (found.step if found is not None else None) == step, why
    if found is not None:
        assert (found.verdict, found.kind) == ("plateau", "outpaced")
        assert found.evidence["projected"] < reference
        assert "even optimistically" in found.message and f"the best finished trial reached {reference:.3g}" in found.message


def test_optimistic_final_is_at_least_the_current_level():
    outlook = optimistic_final([25, 50, 75, 100], [0.6, 0.5, 0.4, 0.3], 300)  # falling: pace clamped at 0
    assert outlook.pace_high == 0.0 or outlook.projected >= outlook.level
    assert outlook.projected >= outlook.level_high - 1e-12


def test_monitor_stops_outpaced_only_with_a_reference():
    points = _evals([0.5, 0.7, 0.76, 0.78, 0.77, 0.78, 0.78, 0.77, 0.78, 0.78, 0.77])
    monitor = CurveMonitor(PrunerSettings(num_classes=3), max_steps=MAX)
    stops = [p.step for p in points if monitor.observe(p, _best_only(0.96)).stop]
    assert stops and stops[0] == 200
    assert monitor.verdict == "plateau" and "outpaced" in monitor.reason
    # diagnose has no peers: the rule never fires on a log judged alone
    assert not [f for f in diagnose(points, num_classes=3, max_steps=MAX).findings if f.kind == "outpaced"]
    off = CurveMonitor(PrunerSettings(num_classes=3, compare_to_best=False), max_steps=MAX)
    assert not any(off.observe(p, _best_only(0.96)).stop for p in points)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_steps": 0}, "max_steps must be a number > 0, got 0."),
        ({"after": 1.0}, "after must be a number in [0, 1), got 1.0."),
        ({"margin": 0.5}, "margin must be a number >= 1, got 0.5."),
        ({"min_evals": 2}, "min_evals must be an int >= 3, got 2."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as info:
        OutpacedRule(**{"max_steps": MAX, **kwargs})
    assert str(info.value) == message


GOOD_CURVE = [((i + 1) * 25 / MAX, v) for i, v in enumerate([0.5, 0.8, 0.9, 0.93, 0.95, 0.96, 0.96, 0.95, 0.96, 0.96, 0.96, 0.96])]
NOISY_MEDIOCRE = [0.4, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6]


def _fire_step(values, reference, curve=None):
    rule = OutpacedRule(MAX, num_classes=3)
    for point in _evals(values):
        found = rule.observe(point, _best_only(reference, curve or ()))
        if found is not None:
            return found
    return None


def test_equal_progress_stops_a_noisy_run_far_behind_the_best():
    # Alone, the slope's standard error over a noisy run (0.5/0.6 alternating) leaves room for a
    # climb to 0.96 to the end. At equal progress the best trial gains nothing from two thirds of
    # its run on, and this run's own pace (2x, over all its evals) ends below 0.96: stopped at step 200.
    alone = _fire_step(NOISY_MEDIOCRE, 0.96)
    equal = _fire_step(NOISY_MEDIOCRE, 0.96, GOOD_CURVE)
    assert alone is None
    assert equal is not None and equal.step == 200 and equal.evidence["equal_progress"]
    assert equal.evidence["projected"] < 0.96 and equal.evidence["reference_there"] == pytest.approx(0.96)
    assert "where the best finished trial was at 0.96" in equal.message and "even optimistically" in equal.message


@pytest.mark.parametrize(
    "values",
    [
        [0.3, 0.31, 0.3, 0.32, 0.31, 0.45, 0.65, 0.8, 0.9, 0.95, 0.97, 0.97],  # blooms mid-run
        [0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97],  # behind all along, steady
        [0.4, 0.42, 0.41, 0.6, 0.61, 0.6, 0.8, 0.81, 0.8, 0.95, 0.96, 0.97],  # a staircase: flat within epochs
    ],
    ids=["late_bloomer", "steady_climber", "staircase"],
)
def test_equal_progress_spares_runs_that_end_best(values):
    # Behind the best at the same progress, but their own pace (2x, over all their evals) carries
    # them past it: never stopped.
    assert _fire_step(values, 0.96, GOOD_CURVE) is None


def test_a_finished_run_carries_its_curve_through_the_monitor():
    from sweeper.rules.outpaced import curve_level

    finished = CurveMonitor(PrunerSettings(num_classes=3), max_steps=MAX)
    for point in _evals([v for _, v in GOOD_CURVE]):
        finished.observe(point)
    run = finished.finished_run
    assert run.final == pytest.approx(0.96) and run.curve == tuple(GOOD_CURVE)
    assert curve_level(run.curve, 1 / 3) == pytest.approx(0.9) and curve_level(run.curve, 1.0) == pytest.approx(0.96)
    sweep = Sweep().adding(run)  # what the scheduler keeps of it
    monitor = CurveMonitor(PrunerSettings(num_classes=3), max_steps=MAX)
    stops = [p.step for p in _evals(NOISY_MEDIOCRE) if monitor.observe(p, sweep).stop]
    assert stops and stops[0] == 200 and monitor.stopped_by == "outpaced"
    off = CurveMonitor(PrunerSettings(num_classes=3, compare_at_equal_progress=False), max_steps=MAX)
    assert not any(off.observe(p, sweep).stop for p in _evals(NOISY_MEDIOCRE))
