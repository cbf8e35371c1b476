"""PaceRule: even an optimistic projection of the run's pace ends above the stuck line at max_steps."""

from __future__ import annotations

import math
import random

import pytest

from sweeper.rules import Point
from sweeper.rules.pace import PaceRule

LN3 = math.log(3)


def _curve(shape, n=40, noise=0.03, seed=0, label=True, lr=None, accuracy=None, eval_loss=None, every=5):
    """n points, a step every 2 steps (max_steps = 2 n unless a test says otherwise)."""
    rng = random.Random(seed)
    points = []
    for i in range(n):
        value = shape(i / n) * (1 + rng.gauss(0, noise))
        at_eval = (i + 1) % every == 0
        points.append(
            Point(
                step=2 * (i + 1),
                loss=value,
                label_loss=value if label else None,
                learning_rate=lr(i / n) if lr else None,
                eval_accuracy=accuracy(i / n) if accuracy and at_eval else None,
                eval_loss=eval_loss(i / n) if eval_loss and at_eval else None,
            )
        )
    return points


def _first(points, max_steps=None, **kwargs):
    rule = PaceRule(max_steps if max_steps is not None else points[-1].step, **kwargs)
    for index, point in enumerate(points):
        finding = rule.observe(point)
        if finding is not None:
            return index, finding
    return None, None


def linear(start, end):
    return lambda t: start + (end - start) * t


def flat(level):
    return lambda t: level


def bloom(start, end, middle, width):
    """A logistic drop from start to end, steepest at `middle` (fraction of the run)."""
    low, high = 1 / (1 + math.exp(middle / width)), 1 / (1 + math.exp(-(1 - middle) / width))
    return lambda t: start - (start - end) * (1 / (1 + math.exp(-(t - middle) / width)) - low) / (high - low)


def decay(start, end, tau):
    """An exponential decay in time that is at `end` on the last step (time constant tau of the run)."""
    floor = (end - start * math.exp(-1 / tau)) / (1 - math.exp(-1 / tau))
    return lambda t: floor + (start - floor) * math.exp(-t / tau)


FIRES = [
    # (id, curve kwargs, rule kwargs, kind, index range it must fire in)
    # The demo's too-slow runs: a 3-class label loss going 11 -> 9.5 in its only epoch, falling
    # significantly, but even at twice its fastest plausible pace it would end near 6, ten times the
    # stuck line (0.5 ln 3 = 0.55). Judged from 30% of max_steps on (index 11 is step 24 of 80).
    ("far_above_the_line_and_slow", {"shape": linear(11, 9.5)}, {"num_classes": 3}, "too_slow", (11, 14)),
    # Not falling at all, but still far above chance level (2 ln 3): learning rate too low to move it.
    ("flat_far_above_chance", {"shape": flat(10.5), "noise": 0.08}, {"num_classes": 3}, "too_slow", (11, 14)),
    # Collapsed to the class prior: hovering at ln 3 with 5% noise and eval accuracy at chance. Near
    # the line the noise keeps the optimistic projection below it for a while.
    ("at_chance_and_guessing", {"shape": flat(1.3), "noise": 0.05, "accuracy": flat(0.35), "n": 80}, {"num_classes": 3}, "stuck", (24, 50)),
    # Without num_classes the stuck line is 60% of the run's start: 2.0 -> 1.8 cannot get to 1.2.
    # That line is a guess, so it is judged only with eval points that agree (an eval loss that
    # has not fallen 2% below its first).
    ("no_classes_slow", {"shape": linear(2.0, 1.8), "noise": 0.005, "label": False, "eval_loss": flat(2.1)}, {}, "too_slow", (11, 14)),
    ("no_classes_flat", {"shape": flat(2.0), "noise": 0.01, "label": False, "eval_loss": flat(2.1)}, {}, "stuck", (11, 14)),
]


@pytest.mark.parametrize("curve, rule, kind, window", [c[1:] for c in FIRES], ids=[c[0] for c in FIRES])
def test_pace_fires(curve, rule, kind, window):
    index, finding = _first(_curve(**curve), **rule)
    assert finding is not None
    assert (finding.verdict, finding.kind) == ("plateau", kind)
    assert window[0] <= index <= window[1]
    evidence = finding.evidence
    assert evidence["test"] == "pace" and evidence["projected"] > evidence["stuck_line"]
    assert finding.message.startswith("too slow: " if kind == "too_slow" else "stuck: ")


QUIET = [
    # (id, curve kwargs, rule kwargs) -- WHY each must not fire
    # A convex decay that gets there: a straight line through any part of it undershoots its end.
    ("convex_decay_to_a_good_fit", {"shape": decay(11, 0.3, 0.3), "noise": 0.10}, {"num_classes": 3}),
    # Slow for its first quarter, then a bloom steepest at 35% of the run: the trailing span sees
    # the acceleration, and twice that pace reaches the line.
    ("late_bloomer", {"shape": bloom(11, 0.2, 0.35, 0.08), "noise": 0.05}, {"num_classes": 3}),
    # Far above the line, but held-out accuracy climbs from chance: it is learning.
    ("eval_accuracy_learning", {"shape": linear(11, 9.5), "accuracy": linear(0.34, 0.95), "every": 2}, {"num_classes": 3}),
    # Without num_classes and without eval points: an LM loss may converge at 70% of its start, and
    # nothing held out says otherwise.
    ("no_classes_no_evals", {"shape": linear(2.0, 1.8), "noise": 0.005, "label": False}, {}),
    # No accuracy logged, but the eval loss fell more than 2% since the first eval.
    ("eval_loss_learning", {"shape": linear(2.0, 1.8), "noise": 0.005, "label": False, "eval_loss": linear(2.0, 1.5)}, {}),
    # The run so far is only the first 25% of max_steps: the pace of a slow start is not judged yet.
    ("before_pace_after", {"shape": linear(11, 10.5), "n": 40}, {"num_classes": 3, "max_steps": 320}),
    # The learning rate rises on every point: all warm-up, no pace to judge.
    ("all_warmup", {"shape": flat(10.5), "lr": lambda t: 1e-4 * (t + 0.01)}, {"num_classes": 3}),
    # Fewer than 12 points: too few for a trend.
    ("too_few_points", {"shape": flat(10.5), "n": 11}, {"num_classes": 3}),
    # Already below the stuck line: a run that reached a good fit is never too slow.
    ("below_the_line", {"shape": flat(0.3), "noise": 0.2}, {"num_classes": 3}),
]


@pytest.mark.parametrize("curve, rule", [c[1:] for c in QUIET], ids=[c[0] for c in QUIET])
def test_pace_stays_quiet(curve, rule):
    assert _first(_curve(**curve), **rule) == (None, None)


def test_fires_once_and_active_follows_the_latest_check():
    # 11 -> 9.5 for 40 points, then a sudden fall to 0.2 that the projection can no longer rule out
    points = _curve(linear(11, 9.5), n=40) + [
        Point(step=82 + 2 * i, label_loss=0.2 * (1 + 0.01 * (i % 3)), loss=0.2) for i in range(40)
    ]
    rule = PaceRule(points[-1].step, num_classes=3)
    found = [(i, rule.observe(p)) for i, p in enumerate(points)]
    fired = [(i, f) for i, f in found if f is not None]
    assert len(fired) == 1 and fired[0][1].kind == "too_slow"
    assert rule.active is None  # the recent span now projects below the line


def test_margin_is_the_pace_it_would_need():
    # 2.0 -> 1.3 over the run, without classes (the stuck line is 1.2): at its own pace it ends
    # short of the line, at twice its pace it would cross it. Margin 1 calls it too slow in the first
    # half of the run; margin 2 only once too few steps are left even for twice the pace.
    points = _curve(linear(2.0, 1.3), noise=0.002, label=False, eval_loss=flat(2.1))
    index_1, finding_1 = _first(points, margin=1.0)
    index_2, finding_2 = _first(points, margin=2.0)
    assert (finding_1.kind, finding_2.kind) == ("too_slow", "too_slow")
    assert index_1 <= 0.5 * len(points) and index_2 >= 0.85 * len(points)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_steps": 0}, "max_steps must be a number > 0, got 0."),
        ({"max_steps": None}, "max_steps must be a number > 0, got None."),
        ({"margin": 0.5}, "margin must be a number >= 1, got 0.5."),
        ({"after": 1.0}, "after must be a number in [0, 1), got 1.0."),
        ({"z": -1}, "z must be a number >= 0, got -1."),
        ({"min_points": 5}, "min_points must be an int >= 6, got 5."),
        ({"recent_fraction": 0}, "recent_fraction must be a number in (0, 1], got 0."),
        ({"stuck_ratio": 1}, "stuck_ratio must be a number in (0, 1), got 1."),
        ({"stuck_fraction": 0}, "stuck_fraction must be a number in (0, 1), got 0."),
        ({"chance_margin": 1}, "chance_margin must be a number in [0, 1), got 1."),
        ({"accuracy_gain": 0}, "accuracy_gain must be a number in (0, 1), got 0."),
        ({"eval_loss_gain": 1}, "eval_loss_gain must be a number in (0, 1), got 1."),
        ({"num_classes": 1}, "num_classes must be an int >= 2 or None, got 1."),
        ({"initial_points": 0}, "initial_points must be an int >= 1, got 0."),
        ({"max_blocks": 4}, "max_blocks must be an int >= 8, got 4."),
        ({"signal": "acc"}, "signal must be one of 'auto', 'label_loss', 'loss', 'eval_metric', got 'acc'."),
    ],
)
def test_invalid_arguments(kwargs, message):
    kwargs = {"max_steps": 100, **kwargs}
    with pytest.raises(ValueError) as error:
        PaceRule(**kwargs)
    assert str(error.value) == message
