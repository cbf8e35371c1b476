"""CurveMonitor: the pruning policy over the composed rules; PrunerSettings validation; diagnose()."""

from __future__ import annotations

import math
import random

import pytest

from sweeper.rules import CONTINUE, CurveMonitor, Point, PrunerSettings, diagnose

PER_EPOCH = 50


def _flat(n=150, level=1.5, noise=0.003, seed=0, **extra):
    rng = random.Random(seed)
    return [Point(step=10 * (i + 1), epoch=(i + 1) / PER_EPOCH, loss=level * (1 + rng.gauss(0, noise)), **extra) for i in range(n)]


def _decay(n=150, start=2.0, floor=0.2, tau=8, noise=0.003, seed=0):
    rng = random.Random(seed)
    return [
        Point(step=10 * (i + 1), epoch=(i + 1) / PER_EPOCH, loss=(floor + (start - floor) * math.exp(-i / tau)) * (1 + rng.gauss(0, noise)))
        for i in range(n)
    ]


def _healthy(n=150, noise=0.01, seed=0):
    # still falling at the end: no plateau, no staircase
    rng = random.Random(seed)
    return [Point(step=10 * (i + 1), epoch=(i + 1) / PER_EPOCH, loss=(2.0 - 1.5 * i / n) * (1 + rng.gauss(0, noise))) for i in range(n)]


def _with_nan(points, index):
    points = list(points)
    p = points[index]
    points[index] = Point(step=p.step, epoch=p.epoch, loss=math.nan)
    return points


def _staircase(eval_of=None, n_epochs=3, seed=0):
    """Flat epochs, 20% cliffs; evals every 10 points with eval_of(epoch index)."""
    rng = random.Random(seed)
    points, level = [], 1.0
    for i in range(n_epochs * PER_EPOCH):
        if i and i % PER_EPOCH == 0:
            level *= 0.8
        k = i // PER_EPOCH
        ev = eval_of(k) if eval_of and (i + 1) % 10 == 0 else None
        points.append(Point(step=10 * (i + 1), epoch=(i + 1) / PER_EPOCH, loss=level * (1 + rng.gauss(0, 0.01)), eval_loss=ev))
    return points


def _slow_label(n=40, seed=0):
    """A 3-class label loss going 11 -> 9.5 over 80 steps: far too slow to reach 0.5 ln 3 by its end."""
    rng = random.Random(seed)
    return [Point(step=2 * (i + 1), label_loss=(11 - 1.5 * i / n) * (1 + rng.gauss(0, 0.03)), loss=2.0) for i in range(n)]


def memorising():
    return _staircase(lambda k: 1.0 + 0.05 * k)


def improving():
    return _staircase(lambda k: 1.0 - 0.05 * k)


def unjudged():
    return _staircase()


def _run(points, settings=None, **monitor_kwargs):
    monitor = CurveMonitor(settings or PrunerSettings(), **monitor_kwargs)
    stop_at = None
    for index, point in enumerate(points):
        decision = monitor.observe(point)
        if decision.action == "stop" and stop_at is None:
            stop_at = (index, decision.finding)
    return monitor, stop_at


POLICY = [
    # (id, points, settings, monitor kwargs, stop index or None, (rule, kind) of the stop, verdict)
    ("divergence_stops_at_once_even_in_grace", _with_nan(_healthy(), 5), {}, {"max_steps": 1500}, 5, ("divergence", "non_finite"), "divergence"),
    ("divergence_with_enabled_false_never_stops", _with_nan(_healthy(), 5), {"enabled": False}, {}, None, None, "divergence"),
    ("stuck_plateau_stops", _flat(), {}, {}, 59, ("plateau", "stuck"), "plateau"),
    # found at index 59 (step 600) inside grace (10% of 10,000 = step 1000): stops at step 1000
    ("stuck_plateau_found_in_grace_stops_after_it", _flat(), {}, {"max_steps": 10_000}, 99, ("plateau", "stuck"), "plateau"),
    ("grace_steps_setting", _flat(), {"grace_steps": 800}, {}, 79, ("plateau", "stuck"), "plateau"),
    ("stuck_plateau_kept_when_told", _flat(), {"stop_on_stuck_plateau": False}, {}, None, None, "plateau"),
    ("converged_plateau_kept_by_default", _decay(), {}, {}, None, None, "plateau"),
    ("converged_plateau_stopped_when_told", _decay(), {"stop_when_converged": True}, {}, 83, ("plateau", "converged"), "plateau"),
    # memorising needs two evals of the new epoch (the first is at index 59, the second at 69)
    ("memorising_staircase_stops_in_auto", memorising(), {}, {}, 69, ("staircase", "memorising"), "staircase"),
    ("memorising_staircase_flag_only", memorising(), {"staircase": "flag"}, {}, None, None, "staircase"),
    # judged memorising at step 650, inside a grace of 1000 steps: stopped at step 1000
    ("memorising_staircase_found_in_grace", memorising(), {"grace_steps": 1000}, {}, 99, ("staircase", "memorising"), "staircase"),
    ("improving_staircase_kept_in_auto", improving(), {}, {}, None, None, "staircase"),
    ("improving_staircase_stopped_with_stop", improving(), {"staircase": "stop"}, {}, 64, ("staircase", "improving"), "staircase"),
    ("unjudged_staircase_kept_in_auto", unjudged(), {}, {}, None, None, "staircase"),
    # too slow: judged from 30% of max_steps (step 24, index 11), with num_classes
    ("too_slow_stops", _slow_label(), {"num_classes": 3}, {"max_steps": 80}, 11, ("plateau", "too_slow"), "plateau"),
    ("too_slow_kept_when_told", _slow_label(), {"num_classes": 3, "stop_when_too_slow": False}, {"max_steps": 80}, None, None, "plateau"),
    # without max_steps there is no budget to judge a pace against
    ("too_slow_needs_max_steps", _slow_label(), {"num_classes": 3}, {}, None, None, "healthy"),
    # found at step 24, inside a grace of 40 steps: stopped at step 40 (index 19), still too slow
    ("too_slow_found_in_grace_stops_after_it", _slow_label(), {"num_classes": 3, "grace_steps": 40}, {"max_steps": 80}, 19, ("plateau", "too_slow"), "plateau"),
    ("healthy_runs_to_the_end", _healthy(), {}, {}, None, None, "healthy"),
    ("nan_grad_norm_is_a_warning_only", _healthy(), {}, {}, None, None, "healthy"),
]


@pytest.mark.parametrize(
    "points, settings, monitor_kwargs, stop_index, stop, verdict",
    [c[1:] for c in POLICY],
    ids=[c[0] for c in POLICY],
)
def test_policy(points, settings, monitor_kwargs, stop_index, stop, verdict):
    monitor, stop_at = _run(points, PrunerSettings(**settings), **monitor_kwargs)
    if stop_index is None:
        assert stop_at is None
        assert monitor.stopped is None
    else:
        index, finding = stop_at
        assert index == stop_index
        assert (finding.verdict, finding.kind) == stop
        assert monitor.stopped is finding
        assert monitor.reason.startswith(f"stopped: {stop[0]} ({stop[1]}) at step {finding.step}: ")
    assert monitor.verdict == verdict


def test_stop_is_sticky():
    monitor = CurveMonitor()
    decisions = [monitor.observe(p) for p in _with_nan(_healthy(20), 3)]
    assert [d.action for d in decisions[:3]] == ["continue"] * 3
    assert all(d.action == "stop" and d.finding.verdict == "divergence" for d in decisions[3:])


def test_precedence_staircase_over_plateau():
    # the last epoch of a staircase is flat for long enough to be a plateau too
    points = _staircase(n_epochs=3) + [
        Point(step=10 * (150 + i + 1), epoch=3 + (i + 1) / PER_EPOCH * 0.999, loss=0.64 * (1 + 0.002 * (i % 3))) for i in range(150)
    ]
    result = diagnose(points)
    assert {f.verdict for f in result.findings} >= {"staircase", "plateau"}
    assert result.verdict == "staircase"


def test_held_staircase_counts_for_the_verdict_before_its_eval():
    monitor = CurveMonitor()
    points = [
        p if p.step in (500, 800, 900) else Point(step=p.step, epoch=p.epoch, loss=p.loss)
        for p in _staircase(lambda k: 1.0 + 0.05 * k)
    ]  # evals at the 50th, 80th and 90th points: those after the boundary come after the train evidence (65th)
    for point in points[: PER_EPOCH + 16]:
        monitor.observe(point)
    assert monitor.findings == []
    assert (monitor.verdict, monitor.stopped) == ("staircase", None)
    decisions = [monitor.observe(p) for p in points[PER_EPOCH + 16 : 80]]
    assert decisions[-1].action == "continue" and monitor.verdict == "staircase"  # one eval after: not yet memorising
    decisions = [monitor.observe(p) for p in points[80:90]]
    assert decisions[-1].action == "stop" and decisions[-1].finding.kind == "memorising"


def test_plateau_within_epochs_of_a_staircase_does_not_stop_it():
    # An improving staircase: its last epoch is flat long enough to be a plateau, but the
    # staircase policy ("keep when improving") decides for a staircase run.
    monitor, stop_at = _run(improving())
    assert stop_at is None
    assert [f.verdict for f in monitor.findings] == ["staircase", "staircase", "plateau"]
    assert monitor.verdict == "staircase"


def test_warning_never_changes_the_verdict_and_is_summarised():
    points = [Point(step=i + 1, epoch=(i + 1) / 50, loss=2.0 - i / 200, grad_norm=math.nan if i % 10 == 0 else 1.0) for i in range(100)]
    result = diagnose(points)
    assert result.verdict == "healthy"
    (warning,) = result.findings
    assert (warning.verdict, warning.kind, warning.evidence["count"]) == ("warning", "non_finite_grad_norm", 10)


def test_steps_per_epoch_gives_epochs_to_points_without_them():
    points = [Point(step=p.step, loss=p.loss) for p in unjudged()]
    assert "staircase" not in {f.verdict for f in diagnose(points).findings}  # no epochs: no staircase judgement
    assert diagnose(points, steps_per_epoch=10 * PER_EPOCH).verdict == "staircase"


def test_w_explain_and_wo_explain_judged_the_same():
    # Same label loss (a good 3-class fit); w-explain adds explanation tokens that keep the mean loss at 1.8.
    rng = random.Random(0)
    label = [(0.15 + 0.95 * math.exp(-i / 8)) * (1 + rng.gauss(0, 0.003)) for i in range(150)]
    wo = [Point(step=10 * (i + 1), loss=v, label_loss=v) for i, v in enumerate(label)]
    w = [Point(step=10 * (i + 1), loss=1.8 + 0.01 * (i % 2), label_loss=v, explanation_loss=1.9) for i, v in enumerate(label)]
    for points in (wo, w):
        result = diagnose(points, num_classes=3)
        assert [(f.verdict, f.kind) for f in result.findings] == [("plateau", "converged")]
    # judged on the mean loss instead, w-explain would look stuck
    assert diagnose(w, signal="loss").findings[0].kind == "stuck"


def test_healthy_reason_and_continue_singleton():
    monitor = CurveMonitor()
    assert monitor.observe(Point(step=1, loss=1.0)) is CONTINUE
    assert monitor.verdict == "healthy"
    assert monitor.reason == "healthy: no divergence, staircase or plateau in 1 points"


def test_diagnose_counts_points_and_rejects_unknown_settings():
    result = diagnose(_healthy(30))
    assert (result.verdict, result.points_count, result.findings) == ("healthy", 30, [])
    with pytest.raises(ValueError, match="unknown setting"):
        diagnose([], patience=3)


def test_grace_from_fraction_and_steps():
    assert PrunerSettings().grace(None) == 0
    assert PrunerSettings().grace(1000) == 100
    assert PrunerSettings(grace_steps=300).grace(1000) == 300
    assert PrunerSettings(grace_fraction=0.0).grace(1000) == 0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"enabled": 1}, "enabled must be a bool, got 1."),
        ({"grace_steps": -1}, "grace_steps must be an int >= 0, got -1."),
        ({"grace_steps": 1.5}, "grace_steps must be an int >= 0, got 1.5."),
        ({"grace_fraction": 1.0}, "grace_fraction must be a number in [0, 1), got 1.0."),
        ({"stop_on_stuck_plateau": "yes"}, "stop_on_stuck_plateau must be a bool, got 'yes'."),
        ({"stop_when_converged": None}, "stop_when_converged must be a bool, got None."),
        ({"staircase": "always"}, "staircase must be one of 'auto', 'stop', 'flag', got 'always'."),
        ({"num_classes": 1}, "num_classes must be an int >= 2 or None, got 1."),
        ({"signal": "eval_loss"}, "signal must be one of 'auto', 'label_loss', 'loss', 'eval_metric', got 'eval_loss'."),
        ({"divergence_rise_ratio": 0}, "divergence_rise_ratio must be a number > 0, got 0."),
        ({"divergence_patience": 0}, "divergence_patience must be an int >= 1, got 0."),
        ({"staircase_min_drop": 0}, "staircase_min_drop must be a number in (0, 1), got 0."),
        ({"staircase_min_ratio": 0.5}, "staircase_min_ratio must be a number >= 1, got 0.5."),
        ({"staircase_eval_tolerance": -1}, "staircase_eval_tolerance must be a number in [0, 1), got -1."),
        ({"plateau_min_improvement": 2}, "plateau_min_improvement must be a number in (0, 1), got 2."),
        ({"plateau_window_fraction": 0}, "plateau_window_fraction must be a number in (0, 1], got 0."),
        ({"plateau_min_points": 2}, "plateau_min_points must be an int >= 6, got 2."),
        ({"stuck_ratio": 1}, "stuck_ratio must be a number in (0, 1), got 1."),
        ({"stuck_fraction": math.nan}, "stuck_fraction must be a number in (0, 1), got nan."),
        ({"stop_when_too_slow": 0}, "stop_when_too_slow must be a bool, got 0."),
        ({"too_slow_margin": 0.9}, "too_slow_margin must be a number >= 1, got 0.9."),
        ({"too_slow_margin": math.inf}, "too_slow_margin must be a number >= 1, got inf."),
        ({"pace_after": 1.0}, "pace_after must be a number in [0, 1), got 1.0."),
        ({"pace_after": -0.1}, "pace_after must be a number in [0, 1), got -0.1."),
        ({"collapse_logs": 1}, "collapse_logs must be an int >= 2, got 1."),
        ({"blow_up_factor": 1.0}, "blow_up_factor must be a number > 1, got 1.0."),
        ({"stop_on_eval_rise": "no"}, "stop_on_eval_rise must be a bool, got 'no'."),
        ({"eval_rise": 0}, "eval_rise must be a number > 0, got 0."),
        ({"eval_rise_evals": 1}, "eval_rise_evals must be an int >= 2, got 1."),
    ],
)
def test_invalid_settings(kwargs, message):
    with pytest.raises(ValueError) as error:
        PrunerSettings(**kwargs)
    assert str(error.value) == message


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"settings": {"grace_steps": 1}}, "settings must be a PrunerSettings, got dict."),
        ({"max_steps": 0}, "max_steps must be a number > 0 or None, got 0."),
        ({"steps_per_epoch": -5}, "steps_per_epoch must be a number > 0 or None, got -5."),
    ],
)
def test_invalid_monitor_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        CurveMonitor(**kwargs)
    assert str(error.value) == message


def test_a_coarse_memorising_staircase_is_stopped_online():
    # Issue 11, point 1: 10 points an epoch (logging every 5 steps of a small dataset), 20% cliffs,
    # the eval loss up 5% at each epoch end. The pruner, as a sweep runs it, stops it as memorising
    # at the first point of epoch 3 (step 105: the one eval of epoch 2, at step 100, is all that
    # epoch brings); the whole-log judgment agrees.
    from sweeper.rules.judgment import judge

    rng = random.Random(0)
    points, level = [], 1.0
    for i in range(30):
        if i and i % 10 == 0:
            level *= 0.8
        ev = 1.0 + 0.05 * (i // 10) if (i + 1) % 10 == 0 else None
        points.append(Point(step=5 * (i + 1), epoch=(i + 1) / 10, loss=level * (1 + rng.gauss(0, 0.01)), eval_loss=ev))
    monitor = CurveMonitor(PrunerSettings(), max_steps=150, steps_per_epoch=50)
    stopped = next((point.step for point in points if monitor.observe(point).stop), None)
    assert monitor.stopped_by == "memorising" and stopped == 105
    result = judge(points, max_steps=150, steps_per_epoch=50)
    assert (result.verdict, result.kind) == ("staircase", "memorising")
