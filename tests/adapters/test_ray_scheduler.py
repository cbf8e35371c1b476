"""ConvergenceScheduler: the cross-trial reference comes from the trials it let finish."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("ray")

from ray.tune.schedulers import TrialScheduler  # noqa: E402

from sweeper.adapters.ray_scheduler import ConvergenceScheduler  # noqa: E402
from sweeper.rules import PrunerSettings  # noqa: E402

MAX = 300


def _results(f1s, every=25):
    return [{"step": (i + 1) * every, "eval_macro_f1": v, "max_steps": MAX, "steps_per_epoch": 75} for i, v in enumerate(f1s)]


GOOD = [0.5, 0.8, 0.9, 0.93, 0.95, 0.96, 0.96, 0.95, 0.96, 0.96, 0.96, 0.96]
MEDIOCRE = [0.5, 0.7, 0.76, 0.78, 0.77, 0.78, 0.78, 0.77, 0.78, 0.78, 0.77, 0.78]


def _feed(scheduler, trial, results):
    for result in results:
        if scheduler.on_trial_result(None, trial, result) == TrialScheduler.STOP:
            return result["step"]
    scheduler.on_trial_complete(None, trial, results[-1])
    return None


def test_a_mediocre_trial_is_outpaced_once_a_good_one_finished():
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    good, mediocre = SimpleNamespace(trial_id="good"), SimpleNamespace(trial_id="mediocre")
    assert _feed(scheduler, good, _results(GOOD)) is None
    assert scheduler.sweep.best.final == pytest.approx(0.96)
    assert _feed(scheduler, mediocre, _results(MEDIOCRE)) == 200
    assert scheduler.was_pruned("mediocre") and not scheduler.was_pruned("good")
    verdict, stopped_by, reason = scheduler.verdict("mediocre")
    assert (verdict, stopped_by) == ("plateau", "outpaced") and "outpaced" in reason and "the best finished trial reached 0.96" in reason


def test_no_peer_finished_no_outpacing():
    # the mediocre trial runs first: nothing finished yet to compare it with, so it runs to its end
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    assert _feed(scheduler, SimpleNamespace(trial_id="mediocre"), _results(MEDIOCRE)) is None
    assert scheduler.sweep.best.final == pytest.approx(0.78)
    # and a pruned trial never sets the bar
    assert _feed(scheduler, SimpleNamespace(trial_id="worse"), _results([0.5, 0.6, 0.62, 0.63, 0.62, 0.63, 0.62, 0.63, 0.62, 0.63, 0.62, 0.63])) is not None
    scheduler.on_trial_complete(None, SimpleNamespace(trial_id="worse"), {})
    assert scheduler.sweep.best.final == pytest.approx(0.78) and len(scheduler.sweep.finished) == 1


def test_the_best_trial_curve_gives_the_equal_progress_comparison():
    # The sweep the scheduler keeps holds the best trial's eval curve, so a noisy mediocre trial is
    # compared with it at equal progress.
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    assert _feed(scheduler, SimpleNamespace(trial_id="good"), _results(GOOD)) is None
    assert len(scheduler.sweep.best.curve) == len(GOOD)
    noisy = [0.4, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6, 0.5, 0.6]
    assert _feed(scheduler, SimpleNamespace(trial_id="noisy"), _results(noisy)) == 200
    assert "where the best finished trial was at" in scheduler.verdict("noisy")[2]
    off = ConvergenceScheduler(PrunerSettings(num_classes=3, compare_at_equal_progress=False))
    assert _feed(off, SimpleNamespace(trial_id="good"), _results(GOOD)) is None
    assert _feed(off, SimpleNamespace(trial_id="noisy"), _results(noisy)) is None


def test_a_trial_at_chance_is_stopped_only_once_finished_trials_show_chance_leads_nowhere():
    # The per-run rules wait for a run at chance (a late bloomer looks the same); the scheduler's
    # finished trials are the precedents: one was at chance at 33% and ended far below the best,
    # so the next run at chance is stopped there. Before that it ran to its end.
    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3, compare_to_forecast=False))  # the precedent rule alone
    chance = [0.31, 0.28, 0.33, 0.30, 0.29, 0.32, 0.30, 0.31, 0.29, 0.30, 0.31, 0.30]
    assert _feed(scheduler, SimpleNamespace(trial_id="good"), _results(GOOD)) is None
    assert _feed(scheduler, SimpleNamespace(trial_id="stuck-1"), _results(chance)) is None
    assert _feed(scheduler, SimpleNamespace(trial_id="stuck-2"), _results(chance[::-1])) == 100
    verdict, stopped_by, reason = scheduler.verdict("stuck-2")
    assert (verdict, stopped_by) == ("plateau", "precedent") and "no precedent" in reason and "1 finished trials" in reason
    # a pruned trial is no precedent: the third run at chance still sees the one
    scheduler.on_trial_complete(None, SimpleNamespace(trial_id="stuck-2"), {})
    assert _feed(scheduler, SimpleNamespace(trial_id="stuck-3"), _results(chance)) == 100
    assert "1 finished trials" in scheduler.verdict("stuck-3")[2]
    # two precedents asked for: the second run at chance runs to its end too
    two = ConvergenceScheduler(PrunerSettings(num_classes=3, compare_to_forecast=False, precedent_min_peers=2))
    for name, curve in (("good", GOOD), ("stuck-1", chance), ("stuck-2", chance[::-1])):
        assert _feed(two, SimpleNamespace(trial_id=name), _results(curve)) is None
    assert _feed(two, SimpleNamespace(trial_id="stuck-3"), _results(chance)) == 100
    assert "2 finished trials" in two.verdict("stuck-3")[2]
    off = ConvergenceScheduler(PrunerSettings(num_classes=3, compare_to_precedent=False, compare_to_forecast=False))
    for name, curve in (("good", GOOD), ("stuck-1", chance), ("stuck-2", chance[::-1])):
        _feed(off, SimpleNamespace(trial_id=name), _results(curve))
    assert _feed(off, SimpleNamespace(trial_id="stuck-3"), _results(chance)) is None


def test_an_explanation_first_trial_is_judged_on_its_eval_metric_not_its_label_loss():
    # Its label loss rises (it would be stopped as diverged if judged on it); it states
    # `signal: eval_metric` (sweeper.trial.train), so only its eval macro-F1 counts: it is stopped
    # as outpaced by the good trial, at the same step as a label-first mediocre trial.
    def reports(f1s, facts):
        out = []
        for i, f1 in enumerate(f1s):
            step = (i + 1) * 25
            # not exactly constant (that would be a collapse): a sustained rise of the label loss
            train = [{"step": s, "loss": 2.0 + 0.01 * (s % 3), "label_loss": (0.3 if s <= 40 else 1.0) + 0.01 * (s % 3), **facts}
                     for s in range(step - 24, step + 1)]
            out.append({"points": [*train, {"step": step, "eval_macro_f1": f1, **facts}], "step": step, **facts})
        return out

    facts = {"max_steps": MAX, "steps_per_epoch": 75}
    label_first = ConvergenceScheduler(PrunerSettings(num_classes=3))
    assert _feed(label_first, SimpleNamespace(trial_id="lf"), reports(MEDIOCRE, facts)) is not None
    assert label_first.verdict("lf")[1] in ("diverged", "blew_up")  # the rules that see a rise

    scheduler = ConvergenceScheduler(PrunerSettings(num_classes=3))
    assert _feed(scheduler, SimpleNamespace(trial_id="good"), _results(GOOD)) is None
    assert _feed(scheduler, SimpleNamespace(trial_id="first"), reports(MEDIOCRE, {**facts, "signal": "eval_metric"})) == 200
    assert scheduler.verdict("first")[1] == "outpaced"
