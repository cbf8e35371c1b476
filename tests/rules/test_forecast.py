"""The forecast rule: a run whose forecast final eval metric reaches the sweep's best finished run
only with a small chance, calibrated on the sweep's own finished runs."""

from __future__ import annotations

import pytest

from sweeper.rules import NO_SWEEP, CurveMonitor, FinishedRun, Point, PrunerSettings, Sweep
from sweeper.rules.forecast import ForecastRule

MAX = 300
GOOD = [0.50, 0.80, 0.90, 0.93, 0.95, 0.96, 0.96, 0.95, 0.96, 0.96, 0.96, 0.96]
MEDIOCRE = [0.40, 0.55, 0.60, 0.62, 0.63, 0.62, 0.64, 0.63, 0.64, 0.65, 0.64, 0.65]
CHANCE = [0.31, 0.28, 0.33, 0.30, 0.29, 0.32, 0.30, 0.31, 0.29, 0.30, 0.31, 0.30]
BLOOMER = [0.30, 0.31, 0.29, 0.30, 0.32, 0.55, 0.80, 0.92, 0.95, 0.96, 0.97, 0.97]
STEEP = [0.35, 0.40, 0.48, 0.55, 0.62, 0.70, 0.78, 0.85, 0.90, 0.94, 0.96, 0.97]


def _evals(values, every=25):
    return [Point(step=(i + 1) * every, epoch=(i + 1) * every / 75, eval_macro_f1=v) for i, v in enumerate(values)]


def _run(values):
    return FinishedRun(values[-1], tuple(((i + 1) * 25 / MAX, v) for i, v in enumerate(values)))


def _sweep(*curves):
    sweep = Sweep()
    for values in curves:
        sweep = sweep.adding(_run(values))
    return sweep


def _first_fire(values, sweep, **kwargs):
    rule = ForecastRule(MAX, num_classes=3, **{"eval_rows": 120, **kwargs})
    for point in _evals(values):
        found = rule.observe(point, sweep)
        if found is not None:
            return found
    return None


def test_a_run_where_finished_runs_at_its_level_ended_far_below_the_best_is_stopped():
    # A finished mediocre run was where this one is and ended at 0.65; the best ended at 0.96.
    found = _first_fire(MEDIOCRE, _sweep(GOOD, MEDIOCRE))
    assert found is not None and (found.verdict, found.rule, found.kind) == ("plateau", "forecast", "unlikely")
    assert found.step >= 0.2 * MAX  # never before forecast_after
    assert found.evidence["chance"] < 0.05 and "unlikely to reach the best" in found.message


def test_never_without_finished_runs_nor_past_the_last_step():
    assert _first_fire(MEDIOCRE, NO_SWEEP) is None
    rule = ForecastRule(MAX, num_classes=3, eval_rows=120)
    assert rule.observe(Point(step=MAX, eval_macro_f1=0.3), _sweep(GOOD, MEDIOCRE)) is None


def test_a_finished_late_bloomer_keeps_the_runs_at_chance():
    # Runs at chance are judged against finished runs that were at chance at the same fraction:
    # one of them bloomed to the top, so a run at chance keeps a real chance of doing the same.
    # Only once the run is past the point where the bloomer had bloomed (step 150) does it look
    # like the finished run that stayed at chance.
    with_bloomer = _first_fire(CHANCE, _sweep(GOOD, BLOOMER, CHANCE))
    assert with_bloomer is None or with_bloomer.step > 150
    # without that bloomer the finished run at chance is the whole evidence, from the first judged eval on
    alone = _first_fire(CHANCE, _sweep(GOOD, CHANCE))
    assert alone is not None and alone.step < 150


def test_a_run_faster_than_the_finished_ones_keeps_its_own_pace():
    # Behind at 20-40%, but rising 0.07 per eval: twice that pace carries it past the best.
    assert _first_fire(STEEP, _sweep(GOOD, MEDIOCRE)) is None


def test_a_noisier_eval_set_asks_for_more_evidence():
    near = [0.50, 0.80, 0.88, 0.89, 0.90, 0.90, 0.91, 0.90, 0.91, 0.91, 0.90, 0.91]
    sweep = _sweep(GOOD, near)
    assert _first_fire(near, sweep, eval_rows=10000) is not None  # 0.91 vs 0.96 on a huge eval set: clear
    assert _first_fire(near, sweep, eval_rows=60) is None  # on 60 rows the 0.05 gap is within the noise


def test_the_monitor_stops_by_forecast_only_when_enabled():
    sweep = _sweep(GOOD, MEDIOCRE)
    monitor = CurveMonitor(PrunerSettings(num_classes=3, eval_rows=120, compare_to_forecast=True), max_steps=MAX)
    stops = [p.step for p in _evals(MEDIOCRE) if monitor.observe(p, sweep).stop]
    assert stops and monitor.stopped_by in ("forecast", "outpaced")
    off = CurveMonitor(PrunerSettings(num_classes=3, eval_rows=120, compare_to_forecast=False, compare_to_best=False),
                       max_steps=MAX)
    assert not any(off.observe(p, sweep).stop for p in _evals(MEDIOCRE))


@pytest.mark.parametrize("kwargs", [
    {"max_steps": 0}, {"num_classes": 1}, {"eval_rows": 0}, {"after": 1.0}, {"tolerance": -0.1},
    {"max_chance": 1.0}, {"min_runs": 0}, {"bandwidth": 0}, {"margin": 0.5}, {"min_evals": 2},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        ForecastRule(**{"max_steps": MAX, **kwargs})


@pytest.mark.parametrize("kwargs", [{"forecast_after": 1.0}, {"forecast_min_runs": 0}, {"compare_to_forecast": 1},
                                    {"eval_rows": 0}, {"forecast_max_chance": -0.1}])
def test_settings_are_validated(kwargs):
    with pytest.raises(ValueError):
        PrunerSettings(**kwargs)
