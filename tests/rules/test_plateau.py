"""PlateauRule: stopped improving beyond its noise over the trailing third; stuck or converged.

Two tests: confidently flat (any level), and not improving (a stuck level, needs max_steps).
"""

from __future__ import annotations

import math
import random

import pytest

from sweeper.rules import PlateauRule, Point


def _curve(shape, n=150, noise=0.003, seed=0, label=False, lr=None, accuracy=None, eval_loss=None):
    """n points, a step every 5 steps; `accuracy` and `eval_loss` (numbers or functions of the index) every 10th."""
    rng = random.Random(seed)
    points = []
    for i in range(n):
        value = shape(i) * (1 + rng.gauss(0, noise))
        at_eval = i % 10 == 9
        points.append(
            Point(
                step=5 * (i + 1),
                epoch=(i + 1) / n,
                loss=2.0 if label else value,  # w-explain: the mean loss is dominated by explanation tokens
                label_loss=value if label else None,
                learning_rate=lr(i) if lr else None,
                eval_accuracy=(accuracy(i) if callable(accuracy) else accuracy) if accuracy is not None and at_eval else None,
                eval_loss=eval_loss(i) if eval_loss is not None and at_eval else None,
            )
        )
    return points


def _first(points, **kwargs):
    rule = PlateauRule(**kwargs)
    for index, point in enumerate(points):
        finding = rule.observe(point)
        if finding is not None:
            return index, finding
    return None, None


def flat(level):
    return lambda i: level


def decay_to(floor, start=2.0, tau=15):
    return lambda i: floor + (start - floor) * math.exp(-i / tau)


FIRES = [
    # (id, curve kwargs, rule kwargs, kind, index range it must fire in)
    # Learned nothing: flat at its start. Judged as soon as the rule may judge (3 x 20 points).
    ("flat_from_the_start_is_stuck", {"shape": flat(1.5)}, {}, "stuck", (59, 62)),
    # A quick fall to 80% of the start, then flat: stuck high.
    ("stuck_at_80_percent_of_start", {"shape": decay_to(1.6, tau=5)}, {}, "stuck", (59, 80)),
    # Down to 10% of the start, then flat: converged (once the fall left in the window is below noise).
    ("converged_low", {"shape": decay_to(0.2, tau=8)}, {}, "converged", (59, 150)),
    # Spikes every 10 points do not hide a plateau: medians ignore them.
    ("spiky_flat_is_still_stuck", {"shape": lambda i: 3.0 if i % 10 == 5 else 1.5}, {}, "stuck", (59, 70)),
    # Classification, C = 3: a label loss flat at 1.05 of ln 3 = 1.10 is chance level.
    ("label_loss_at_chance_c3", {"shape": flat(1.05), "label": True}, {"num_classes": 3}, "stuck", (59, 62)),
    # ... and flat at 0.2 (18% of ln 3) is a good fit.
    ("label_loss_good_fit_c3", {"shape": decay_to(0.2, start=1.1, tau=8), "label": True}, {"num_classes": 3}, "converged", (59, 150)),
    # A low loss but eval accuracy near chance (0.36 for C = 3): stuck whatever the loss says.
    ("accuracy_near_chance", {"shape": decay_to(0.2, start=1.1, tau=8), "label": True, "accuracy": 0.36}, {"num_classes": 3}, "stuck", (59, 150)),
    # Warm-up: the learning rate rises for 60 points and the loss is flat meanwhile (and after):
    # judged only once the trailing third is past the warm-up (n - 60 >= n / 3 at n = 90).
    ("flat_after_warmup", {"shape": flat(1.5), "lr": lambda i: min(i + 1, 60) * 1e-6}, {}, "stuck", (89, 92)),
]


@pytest.mark.parametrize("curve, rule, kind, window", [c[1:] for c in FIRES], ids=[c[0] for c in FIRES])
def test_plateau_fires(curve, rule, kind, window):
    index, finding = _first(_curve(**curve), **rule)
    assert finding is not None
    assert (finding.verdict, finding.kind) == ("plateau", kind)
    assert window[0] <= index <= window[1]
    assert finding.evidence["improvement_upper"] < 0.02
    assert finding.evidence["test"] == "flat"


QUIET = [
    # (id, curve kwargs, rule kwargs) -- WHY each must not fire
    # Steady decay: 30% over the run is far beyond noise in every trailing third.
    ("linear_decay_30_percent", {"shape": lambda i: 2.0 - 0.6 * i / 150}, {}),
    # Still decaying at the end (tau = 150 points).
    ("slow_exponential_decay", {"shape": decay_to(0.2, tau=150)}, {}),
    # 10% point noise cannot resolve a 2% trend from a 50-point window, and without max_steps the
    # not-improving test is off (early in a long run a trailing third is too short to tell): it waits.
    ("noisy_flat_unresolvable", {"shape": flat(1.5), "noise": 0.10}, {}),
    # Fewer than 3 x min_points points: too early to judge.
    ("too_short", {"shape": flat(1.5), "n": 59}, {}),
    # Warm-up over the whole run: the loss is not expected to fall while the LR rises.
    ("all_warmup", {"shape": flat(1.5), "lr": lambda i: (i + 1) * 1e-6}, {}),
    # label_loss falls steadily: the flat mean loss (explanation tokens) is not what we judge.
    ("label_loss_improving_loss_flat", {"shape": lambda i: 1.1 - 0.8 * i / 150, "label": True}, {"num_classes": 3}),
]


@pytest.mark.parametrize("curve, rule", [c[1:] for c in QUIET], ids=[c[0] for c in QUIET])
def test_plateau_stays_quiet(curve, rule):
    assert _first(_curve(**curve), **rule) == (None, None)


# The not-improving test: no significant downward trend and a point estimate under 2%, for a
# stuck level only, from pace_after (30%) of max_steps on, and only once the flat stretch covers
# stuck_span (45%) of max_steps. The curves have 150 points, step 5 each.
NOT_IMPROVING_FIRES = [
    # (id, curve kwargs, rule kwargs, index range it must fire in)
    # Hovering at 1.5 with 10% noise: never confidently flat, but not improving. Judged at the
    # first check with 60 points (step 300 > 30% of 750) when stuck_span is 0. Without num_classes
    # its eval loss must agree.
    ("noisy_flat_no_span", {"shape": flat(1.5), "noise": 0.10, "eval_loss": flat(1.6)}, {"max_steps": 750, "stuck_span": 0.0}, (59, 62)),
    # By default, not before the flat stretch covers 45% of 750 steps (step 342.5: index 68); the
    # 2% point estimate then has to hold over that span, which 10-20% noise delays.
    ("noisy_flat", {"shape": flat(1.5), "noise": 0.10, "eval_loss": flat(1.6)}, {"max_steps": 750}, (68, 115)),
    # The demo's collapsed run: a 3-class label loss at ln 3 with 20% noise and eval accuracy at chance.
    ("noisy_label_loss_at_chance", {"shape": flat(1.2), "noise": 0.20, "label": True, "accuracy": 0.35},
     {"num_classes": 3, "max_steps": 750}, (68, 115)),
    # Judged only from 30% of max_steps on: max_steps 2000, so from step 600 (index 119).
    ("noisy_flat_long_run", {"shape": flat(1.5), "noise": 0.10, "eval_loss": flat(1.6)}, {"max_steps": 2000, "stuck_span": 0.0}, (119, 125)),
]


@pytest.mark.parametrize("curve, rule, window", [c[1:] for c in NOT_IMPROVING_FIRES], ids=[c[0] for c in NOT_IMPROVING_FIRES])
def test_not_improving_fires_stuck(curve, rule, window):
    index, finding = _first(_curve(**curve), **rule)
    assert finding is not None and (finding.verdict, finding.kind) == ("plateau", "stuck")
    assert window[0] <= index <= window[1]
    evidence = finding.evidence
    assert evidence["test"] == "not_improving"
    assert evidence["improvement_upper"] >= 0.02  # never confidently flat: that is why this test exists
    assert evidence["improvement_lower"] <= 0 and evidence["improvement"] < 0.02
    assert "no significant downward trend" in finding.message


NOT_IMPROVING_QUIET = [
    # (id, curve kwargs, rule kwargs) -- WHY each must not fire
    # A noisy label loss flat at a good fit (0.2 = 18% of ln 3): not improving is not enough to call
    # a run converged; only the confident test may (and never stops it by default).
    ("noisy_good_fit", {"shape": flat(0.2), "noise": 0.20, "label": True}, {"num_classes": 3, "max_steps": 750}),
    # At ln 3 but eval accuracy climbs from 0.35 to 0.8: learning on held-out data.
    ("accuracy_learning", {"shape": flat(1.2), "noise": 0.20, "label": True, "accuracy": lambda i: 0.35 + 0.003 * i},
     {"num_classes": 3, "max_steps": 750}),
    # Without num_classes and without eval points, "60% of its start" is only a guess at a stuck
    # level (an LM loss over free text may converge at 70% of its start): the confident test alone.
    ("no_classes_no_evals", {"shape": flat(1.5), "noise": 0.10}, {"max_steps": 750}),
    # A linear fall to 30% of its start in 10% noise: a trailing third cannot resolve it, the latter
    # half of the run can.
    ("noisy_linear_fall", {"shape": lambda i: 2.0 - 1.4 * i / 150, "noise": 0.10, "eval_loss": flat(1.6)}, {"max_steps": 750}),
    # No accuracy, but the eval loss keeps falling (more than 2% below its first).
    ("eval_loss_learning", {"shape": flat(1.5), "noise": 0.10, "eval_loss": lambda i: 1.6 - 0.002 * i}, {"max_steps": 750}),
    # Before 30% of max_steps (7,500 here) nothing is judged not improving.
    ("before_pace_after", {"shape": flat(1.5), "noise": 0.10}, {"max_steps": 7500}),
]


@pytest.mark.parametrize("curve, rule", [c[1:] for c in NOT_IMPROVING_QUIET], ids=[c[0] for c in NOT_IMPROVING_QUIET])
def test_not_improving_stays_quiet(curve, rule):
    assert _first(_curve(**curve), **rule) == (None, None)


def test_signal_loss_sees_the_flat_mean_loss():
    # Same run as label_loss_improving_loss_flat, judged on the raw loss: it is flat at 2.0.
    index, finding = _first(_curve(shape=lambda i: 1.1 - 0.8 * i / 150, label=True), signal="loss")
    assert finding is not None and finding.evidence["signal"] == "loss"


def test_fires_once_per_plateau_and_rearms_after_real_improvement():
    # flat 150 points, a 50% fall, flat again: two plateaus, two findings
    shape = lambda i: 1.5 if i < 150 else (0.5 if i >= 200 else 1.5 - (i - 150) / 50)  # noqa: E731
    rule = PlateauRule()
    found = [i for i, p in enumerate(_curve(shape, n=600)) if rule.observe(p) is not None]
    assert len(found) == 2 and found[0] < 150 < 200 < found[1]
    assert rule.active is not None


def test_cost_stays_bounded_on_long_runs():
    rule = PlateauRule()
    for point in _curve(decay_to(0.2, tau=2000), n=20_000, noise=0.05):
        rule.observe(point)
    assert len(rule._blocks) < 2 * 64  # O(max_blocks) state, whatever the length


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_improvement": 0}, "min_improvement must be a number in (0, 1), got 0."),
        ({"window_fraction": 0}, "window_fraction must be a number in (0, 1], got 0."),
        ({"min_points": 5}, "min_points must be an int >= 6, got 5."),
        ({"z": -1}, "z must be a number >= 0, got -1."),
        ({"stuck_ratio": 1.0}, "stuck_ratio must be a number in (0, 1), got 1.0."),
        ({"stuck_fraction": 0}, "stuck_fraction must be a number in (0, 1), got 0."),
        ({"chance_margin": 1}, "chance_margin must be a number in [0, 1), got 1."),
        ({"accuracy_gain": 0}, "accuracy_gain must be a number in (0, 1), got 0."),
        ({"max_steps": 0}, "max_steps must be a number > 0 or None, got 0."),
        ({"pace_after": 1}, "pace_after must be a number in [0, 1), got 1."),
        ({"num_classes": 1}, "num_classes must be an int >= 2 or None, got 1."),
        ({"num_classes": True}, "num_classes must be an int >= 2 or None, got True."),
        ({"initial_points": 0}, "initial_points must be an int >= 1, got 0."),
        ({"max_blocks": 4}, "max_blocks must be an int >= 8, got 4."),
        ({"signal": "acc"}, "signal must be one of 'auto', 'label_loss', 'loss', 'eval_metric', got 'acc'."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        PlateauRule(**kwargs)
    assert str(error.value) == message


def _flat_at_chance(seed=0):
    import random

    from sweeper.rules import Point

    rng = random.Random(seed)
    points = []
    for step in range(2, 1001, 2):
        level = math.log(3) + 9 * math.exp(-step / 10)  # falls to ln 3 by step ~50, then flat at chance
        points.append(Point(step=step, label_loss=level * (1 + rng.gauss(0, 0.1))))
        if step % 50 == 0:
            points.append(Point(step=step, eval_accuracy=0.33 + rng.gauss(0, 0.01)))
    return points


@pytest.mark.parametrize("span, first", [(0.0, 300), (0.45, 528), (0.6, 608)])
def test_not_improving_waits_for_a_flat_stretch_of_stuck_span(span, first):
    # A late bloomer sits flat near chance for 35-60% of its run: the not-improving test calls a
    # run stuck only once it has been flat over `stuck_span` x max_steps (from step ~50 here).
    from sweeper.rules import diagnose

    found = [f for f in diagnose(_flat_at_chance(), num_classes=3, max_steps=1000, stuck_span=span).findings
             if f.evidence.get("test") == "not_improving"]
    assert found and found[0].kind == "stuck" and found[0].step == first


def test_stuck_span_is_validated():
    with pytest.raises(ValueError, match=r"stuck_span must be a number in \[0, 1\), got 1.0."):
        PlateauRule(stuck_span=1.0)
