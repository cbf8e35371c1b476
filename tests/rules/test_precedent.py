"""The precedent rule: a run still at chance where the sweep's finished runs were at chance too and
none of them came near the best."""

from __future__ import annotations

import pytest

from sweeper.rules import CurveMonitor, FinishedRun, Point, PrunerSettings, Sweep, diagnose
from sweeper.rules.precedent import PrecedentRule

MAX = 300
CHANCE = [0.31, 0.28, 0.33, 0.30, 0.29, 0.32, 0.30, 0.31, 0.29, 0.30, 0.31, 0.30]
BLOOMER = [0.30, 0.31, 0.29, 0.30, 0.32, 0.55, 0.80, 0.92, 0.95, 0.96, 0.97, 0.97]
GOOD = [0.50, 0.80, 0.90, 0.93, 0.95, 0.96, 0.96, 0.95, 0.96, 0.96, 0.96, 0.96]


def _evals(values, every=25):
    return [Point(step=(i + 1) * every, epoch=(i + 1) * every / 75, eval_macro_f1=v) for i, v in enumerate(values)]


def _finished(values):
    """A finished run as the scheduler keeps it: final metric + eval curve by fraction of max_steps."""
    return FinishedRun(values[-1], tuple(((i + 1) * 25 / MAX, v) for i, v in enumerate(values)))


def _sweep(runs):
    sweep = Sweep()
    for run in runs:
        sweep = sweep.adding(run)
    return sweep


def _first_fire(values, precedents, **kwargs):
    rule = PrecedentRule(MAX, 3, **kwargs)
    for point in _evals(values):
        found = rule.observe(point, _sweep(precedents))
        if found is not None:
            return found
    return None


STUCK_PAIR = [_finished(CHANCE), _finished([0.30, 0.33, 0.29, 0.31, 0.35, 0.38, 0.41, 0.45, 0.48, 0.50, 0.52, 0.52])]

CASES = [
    # (id, the run's evals, the sweep's finished runs, step of the stop or None, why)
    ("two_stuck_precedents", CHANCE, [_finished(GOOD), *STUCK_PAIR], 100,
     "from 30% of its steps (the first eval at or after step 90): two finished runs were at chance at "
     "33% and ended at 0.30 and 0.52, far from the best 0.96"),
    ("a_bloomer_finished", CHANCE[:6], [_finished(GOOD), *STUCK_PAIR, _finished(BLOOMER)], None,
     "a finished run at chance at the same point (up to 50%) ended at 0.97: runs here can still bloom"),
    ("later_than_the_bloomer", CHANCE, [_finished(GOOD), *STUCK_PAIR, _finished(BLOOMER)], 175,
     "at 58% the finished bloomer had left chance: a run still at chance there is later than any precedent"),
    ("one_precedent_only", CHANCE, [_finished(GOOD), STUCK_PAIR[0]], 100,
     "one finished run at chance that ended far from the best is evidence enough (min_peers = 1)"),
    ("no_precedents", CHANCE, [], None, "nothing finished yet"),
    ("only_runs_that_left_chance_early", CHANCE, [_finished(GOOD), _finished(GOOD)], None,
     "no finished run was at chance at this point: nothing to compare with"),
    ("leaving_chance", [0.30, 0.50, 0.30, 0.55, 0.62, 0.70, 0.75], [_finished(GOOD), *STUCK_PAIR], None,
     "one of its last two evals is always above the chance line (0.433) from step 50: it is leaving "
     "chance, and the outpaced rule judges such a run"),
]


@pytest.mark.parametrize("values, precedents, step, why", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_precedent_fires_only_on_evidence_from_the_sweep(values, precedents, step, why):
    found = _first_fire(values, precedents)
    assert (found.step if found is not None else None) == step, why
    if found is not None:
        assert (found.verdict, found.kind) == ("plateau", "precedent")
        assert found.evidence["peers"] >= 1 and found.evidence["best_of_peers"] < found.evidence["best"] - 0.05
        assert "no precedent" in found.message and "finished trials of this sweep were at chance" in found.message


def test_it_waits_for_after_and_min_evals_and_never_judges_the_last_step():
    precedents = [_finished(GOOD), *STUCK_PAIR]
    assert _first_fire(CHANCE, precedents, after=0.5).step == 150  # 50% of 300 steps
    assert _first_fire(CHANCE, precedents, after=0.1).step == 50
    assert _first_fire(CHANCE, precedents, after=0.1, min_evals=6).step == 150
    assert _first_fire(CHANCE, [_finished(GOOD), STUCK_PAIR[0]], min_peers=2) is None  # one peer of the two asked for
    assert _first_fire(CHANCE[:1] + [0.3], precedents, after=0.9) is None
    rule = PrecedentRule(MAX, 3)
    assert rule.observe(Point(step=MAX, eval_macro_f1=0.3), _sweep(precedents)) is None


def test_margin_counts_a_near_best_precedent_as_a_bloomer():
    near = _finished(CHANCE[:6] + [0.8, 0.9, 0.92, 0.93, 0.93, 0.93])  # ended 0.03 below the best
    precedents = [_finished(GOOD), *STUCK_PAIR, near]
    assert _first_fire(CHANCE[:6], precedents) is None  # within the default margin 0.05 of 0.96
    assert _first_fire(CHANCE[:6], precedents, margin=0.02).step == 100


@pytest.mark.parametrize("kwargs", [
    {"max_steps": 0}, {"num_classes": 1}, {"num_classes": True}, {"after": 1.0}, {"min_peers": 0},
    {"margin": 1.0}, {"chance_margin": -0.1}, {"min_evals": 1},
])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        PrecedentRule(**{"max_steps": MAX, "num_classes": 3, **kwargs})


def test_monitor_stops_on_precedent_only_when_the_scheduler_gave_precedents():
    precedents = _sweep([_finished(GOOD), *STUCK_PAIR])
    # the forecast rule would stop this run at chance as well (tests/rules/test_forecast.py): off here
    monitor = CurveMonitor(PrunerSettings(num_classes=3, compare_to_forecast=False), max_steps=MAX)
    stops = [p.step for p in _evals(CHANCE) if monitor.observe(p, precedents).stop]
    assert stops and stops[0] == 100 and monitor.stopped.kind == "precedent" and monitor.stopped_by == "precedent"
    assert monitor.verdict == "plateau" and "no precedent" in monitor.reason
    off = CurveMonitor(PrunerSettings(num_classes=3, compare_to_precedent=False, compare_to_forecast=False), max_steps=MAX)
    assert not any(off.observe(p, precedents).stop for p in _evals(CHANCE))
    # a log judged alone has no sweep behind it
    assert not [f for f in diagnose(_evals(CHANCE), num_classes=3, max_steps=MAX).findings if f.kind == "precedent"]
    # without num_classes there is no chance line to judge against
    blind = CurveMonitor(PrunerSettings(compare_to_forecast=False), max_steps=MAX)
    assert not any(blind.observe(p, precedents).stop for p in _evals(CHANCE))


@pytest.mark.parametrize("kwargs", [{"precedent_after": 1.0}, {"precedent_min_peers": 0}, {"compare_to_precedent": 1}])
def test_settings_are_validated(kwargs):
    with pytest.raises(ValueError):
        PrunerSettings(**kwargs)
