"""StaircaseRule: flat within epochs, a cliff at each boundary; and its pure helpers."""

from __future__ import annotations

import math
import random
import re

import pytest

from sweeper.rules import Point, StaircaseRule, epoch_index
from sweeper.rules.staircase import EvalSnapshot, boundary_change, boundary_window, judge_eval

PER_EPOCH = 50  # points per epoch in the tables below; W = 5, the finding needs 3W = 15 points after
INTERVAL = 10


def _boundary_step(k: int, per_epoch: int = PER_EPOCH) -> int:
    """Step of the first point of epoch index k."""
    return (k * per_epoch + 1) * INTERVAL


def _curve(
    epochs=3,
    per_epoch=PER_EPOCH,
    level=1.0,
    drop=0.2,
    noise=0.01,
    trend=0.0,
    seed=0,
    eval_every=None,
    eval_of=None,
    accuracy_of=None,
    round_epoch=None,
    with_epoch=True,
    shape=None,
):
    """Points of a synthetic run. `shape(i)` overrides the level at point i; eval_of(epoch index)."""
    rng = random.Random(seed)
    points, current = [], level
    for i in range(epochs * per_epoch):
        k = i // per_epoch
        if i and i % per_epoch == 0:
            current *= 1 - drop
        base = shape(i) if shape else current * (1 - trend * (i % per_epoch) / per_epoch)
        epoch = (i + 1) / per_epoch
        if round_epoch is not None:
            epoch = round(epoch, round_epoch)
        is_eval = eval_every is not None and (i + 1) % eval_every == 0
        points.append(
            Point(
                step=(i + 1) * INTERVAL,
                epoch=epoch if with_epoch else None,
                loss=base * (1 + rng.gauss(0, noise)),
                eval_loss=eval_of(k) if is_eval and eval_of else None,
                eval_accuracy=accuracy_of(k) if is_eval and accuracy_of else None,
            )
        )
    return points


def _run(points, rule=None):
    rule = rule or StaircaseRule()
    found = [(i, f) for i, p in enumerate(points) if (f := rule.observe(p)) is not None]
    last = rule.finish()
    if last is not None:
        found.append((len(points), last))
    return found


FIRES = [
    # (id, curve kwargs, expected kinds in order)
    ("clean_cliffs_no_eval", {}, ["unjudged", "unjudged"]),
    ("cliffs_of_8_percent", {"drop": 0.08, "noise": 0.005}, ["unjudged", "unjudged"]),
    ("cliffs_with_slow_within_trend", {"trend": 0.02}, ["unjudged", "unjudged"]),
    ("eval_loss_rises_memorising", {"eval_every": 10, "eval_of": lambda k: 1.0 + 0.05 * k}, ["memorising", "memorising"]),
    ("eval_loss_falls_improving", {"eval_every": 10, "eval_of": lambda k: 1.0 - 0.05 * k}, ["improving", "improving"]),
    # eval loss falls while accuracy does not move: one held-out signal improved clearly, so the
    # cliff is not memorisation (memorising needs every signal stalled or worse)
    (
        "accuracy_stalls_loss_falls_improving",
        {"eval_every": 10, "eval_of": lambda k: 1.0 - 0.05 * k, "accuracy_of": lambda k: 0.8},
        ["improving", "improving"],
    ),
    ("accuracy_and_loss_stall_memorising", {"eval_every": 10, "eval_of": lambda k: 1.0, "accuracy_of": lambda k: 0.8},
     ["memorising", "memorising"]),
    ("accuracy_rises_improving", {"eval_every": 10, "accuracy_of": lambda k: 0.6 + 0.1 * k}, ["improving", "improving"]),
    # eval once per epoch, at its last step (epoch k.0): judged at the next epoch's end
    ("eval_at_epoch_ends", {"eval_every": PER_EPOCH, "eval_of": lambda k: 1.0 + 0.05 * k}, ["memorising", "memorising"]),
    # old ms-swift rounds epochs to 2 decimals
    ("epochs_rounded_to_2_decimals", {"round_epoch": 2}, ["unjudged", "unjudged"]),
    ("five_epochs", {"epochs": 5}, ["unjudged"] * 4),
    # Coarse logs (issue 11, point 1: logging every 5-10 steps of a small dataset, 10-19 points an
    # epoch): too short for 4 windows of 5, judged with medians of 3 (3 chunks before the boundary).
    ("coarse_15_points_an_epoch", {"per_epoch": 15, "epochs": 4}, ["unjudged"] * 3),
    ("coarse_11_points_an_epoch", {"per_epoch": 11, "epochs": 4}, ["unjudged"] * 3),
    ("coarse_with_eval_rising", {"per_epoch": 11, "epochs": 3, "eval_every": 11, "eval_of": lambda k: 1.0 + 0.05 * k},
     ["memorising", "memorising"]),
]


@pytest.mark.parametrize("kwargs, kinds", [c[1:] for c in FIRES], ids=[c[0] for c in FIRES])
def test_staircase_found_at_each_boundary(kwargs, kinds):
    found = _run(_curve(**kwargs))
    epochs = kwargs.get("epochs", 3)
    assert [f.kind for _, f in found] == kinds
    assert [f.step for _, f in found] == [_boundary_step(k, kwargs.get("per_epoch", PER_EPOCH)) for k in range(1, epochs)]
    assert all(f.verdict == "staircase" for _, f in found)


QUIET = [
    # (id, curve kwargs) -- WHY each must not fire
    # A healthy decay falls at the boundary at the rate it fell just before it.
    ("healthy_fast_decay", {"drop": 0.0, "shape": lambda i: 0.3 + 2.0 * math.exp(-i / 20)}),
    ("healthy_slow_decay", {"drop": 0.0, "shape": lambda i: 0.3 + 2.0 * math.exp(-i / 80)}),
    # 3% is below the 5% a staircase drop needs, however clean.
    ("cliff_of_3_percent", {"drop": 0.03, "noise": 0.001}),
    # Without epochs there are no boundaries to judge.
    ("no_epochs", {"with_epoch": False}),
    # A cliff inside an epoch (an LR change, a data shift) is not a staircase.
    ("cliff_mid_epoch", {"drop": 0.0, "shape": lambda i: 1.0 if i < 75 else 0.7}),
    # One low point right after the boundary: the median of W points ignores it.
    ("one_low_point_at_boundary", {"drop": 0.0, "shape": lambda i: 0.5 if i == PER_EPOCH else 1.0}),
    # The loss rises at the boundary: a staircase is a drop.
    ("rise_at_boundary", {"drop": -0.2}),
    # 20% cliffs buried in 30% point noise are not resolvable from 5-point medians.
    ("cliff_in_heavy_noise", {"drop": 0.2, "noise": 0.3}),
    # 9 points per epoch are too few to measure the within-epoch change (3 x 3 + 1 are needed).
    ("short_epochs", {"per_epoch": 9, "epochs": 4}),
    # A coarse healthy decay (11 points an epoch) falls at the boundary as it fell just before it.
    ("coarse_healthy_decay", {"per_epoch": 11, "epochs": 4, "drop": 0.0, "shape": lambda i: 0.3 + 2.0 * math.exp(-i / 15)}),
    # A coarse log whose 10% cliffs are buried in 10% point noise: medians of 3 cannot resolve them.
    ("coarse_cliff_in_noise", {"per_epoch": 11, "epochs": 4, "drop": 0.1, "noise": 0.1}),
]


@pytest.mark.parametrize("kwargs", [c[1] for c in QUIET], ids=[c[0] for c in QUIET])
def test_staircase_stays_quiet(kwargs):
    assert _run(_curve(**kwargs)) == []


def test_unjudged_finding_waits_for_three_windows_after_the_boundary():
    found = _run(_curve())
    index, finding = found[0]
    assert index == PER_EPOCH + 3 * boundary_window(PER_EPOCH) - 1  # the 15th point of epoch 2
    assert finding.evidence["judged_at_step"] == (index + 1) * INTERVAL
    assert finding.evidence["rel_drop"] == pytest.approx(0.2, abs=0.02)
    assert finding.evidence["ratio"] >= 4
    assert re.search(r"fell (19|20|21)% across the boundary into epoch 2 \(step 500 -> 510", finding.message)


def test_held_until_the_first_eval_after_the_boundary():
    # eval every 25 points: one at the end of epoch 1 (index 49), the next at index 74, after 3W.
    # A memorising verdict needs two evals of the new epoch (one moves as much as a staircase
    # gains): the second comes at index 99, still in epoch 2.
    rule = StaircaseRule()
    points = _curve(eval_every=25, eval_of=lambda k: 1.0 + 0.05 * k)
    found = []
    for i, point in enumerate(points[:100]):
        finding = rule.observe(point)
        if i in (PER_EPOCH + 14, 74):
            assert finding is None and rule.held is not None and rule.held.kind == "unjudged"
        if finding is not None:
            found.append((i, finding))
    assert [(i, f.kind) for i, f in found] == [(99, "memorising")]
    assert rule.held is None


def test_held_finding_released_unjudged_at_finish():
    # evals only in epoch 1: the finding waits for an eval that never comes
    rule = StaircaseRule()
    points = _curve(epochs=2, eval_every=10, eval_of=lambda k: 1.0)
    points = [p if p.epoch <= 1 else Point(step=p.step, epoch=p.epoch, loss=p.loss) for p in points]
    assert [rule.observe(p) for p in points] == [None] * len(points)
    finding = rule.finish()
    assert finding.kind == "unjudged" and "ended before an eval point" in finding.message


def test_label_loss_is_judged_when_present():
    # The mean loss is flat (explanation tokens dominate); the label loss has the cliffs.
    points = [
        Point(step=p.step, epoch=p.epoch, loss=2.0, label_loss=p.loss) for p in _curve()
    ]
    assert [f.kind for _, f in _run(points)] == ["unjudged", "unjudged"]
    assert _run(points, StaircaseRule(signal="loss")) == []


@pytest.mark.parametrize(
    "epoch, index",
    [(0.0, 0), (0.004, 0), (0.5, 0), (1.0, 0), (1.0000001, 0), (1.0023, 1), (1.01, 1), (2.0, 1), (2.5, 2), (4.0, 3)],
)
def test_epoch_index(epoch, index):
    # A point at exactly epoch k closes epoch k: HF logs the last step of an epoch as k.0.
    assert epoch_index(epoch) == index


@pytest.mark.parametrize("points, window", [(5, 5), (30, 5), (50, 5), (80, 8), (216, 22), (2000, 50)])
def test_boundary_window(points, window):
    assert boundary_window(points) == window


def test_boundary_change_by_hand():
    # before: 4 chunks of 3 falling 0.1 per chunk; after: 0.5 lower, flat
    before = [2.0] * 3 + [1.9] * 3 + [1.8] * 3 + [1.7] * 3
    after = [1.2] * 9
    change = boundary_change(before, after, window=3)  # a window of 3 only to keep the arithmetic short
    assert change["level_before"] == pytest.approx(1.7)
    assert change["level_after"] == pytest.approx(1.2)
    assert change["drop"] == pytest.approx(0.5)
    assert change["rel_drop"] == pytest.approx(0.5 / 1.7)
    # pooled |changes|: 0.1, 0.1, 0.1 before and 0, 0 after -> median 0.1; no noise
    assert change["within"] == pytest.approx(0.1)
    assert change["ratio"] == pytest.approx(5.0)
    assert change["trend_before"] == pytest.approx(0.1)


def _snap(step, loss=None, accuracy=None, f1=None):
    return EvalSnapshot(step, loss, "eval loss", accuracy, f1)


@pytest.mark.parametrize(
    "before, after, kind",
    [
        (_snap(1, loss=1.0), _snap(2, loss=1.02), "memorising"),  # eval loss rose 2%
        (_snap(1, loss=1.0), _snap(2, loss=1.002), "memorising"),  # stalled within 0.5%
        (_snap(1, loss=1.0), _snap(2, loss=0.97), "improving"),  # fell 3%: beyond the 2% floor
        (_snap(1, loss=1.0), _snap(2, loss=0.985), "unjudged"),  # fell 1.5%: within the noise floor
        (_snap(1, accuracy=0.7), _snap(2, accuracy=0.73), "improving"),
        (_snap(1, accuracy=0.7), _snap(2, accuracy=0.702), "memorising"),  # +0.2 points: stalled
        # one signal improved clearly: not memorisation, whatever the other did
        (_snap(1, loss=1.0, accuracy=0.7), _snap(2, loss=0.9, accuracy=0.7), "improving"),
        (_snap(1, loss=1.0, f1=0.5), _snap(2, loss=0.99, f1=0.6), "improving"),
        # eval loss rose and accuracy only crept up (within noise): memorising
        (_snap(1, loss=1.0, accuracy=0.7), _snap(2, loss=1.05, accuracy=0.705), "memorising"),
        (_snap(1, loss=1.0), _snap(2, accuracy=0.7), "unjudged"),  # nothing on both sides
        # several evals before, macro-F1 jumping 0.04 between evals (tolerance ~0.1): +0.07 is neither
        # a clear gain nor a stall, +0.15 is a gain, -0.01 a stall
        ([_snap(1, f1=0.80), _snap(2, f1=0.84), _snap(3, f1=0.80)], [_snap(4, f1=0.87)], "unjudged"),
        ([_snap(1, f1=0.80), _snap(2, f1=0.84), _snap(3, f1=0.80)], [_snap(4, f1=0.95)], "improving"),
        ([_snap(1, f1=0.80), _snap(2, f1=0.84), _snap(3, f1=0.80)], [_snap(4, f1=0.79)], "memorising"),
    ],
)
def test_judge_eval(before, after, kind):
    assert judge_eval(before, after)[0] == kind


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_rel_drop": 0}, "min_rel_drop must be a number in (0, 1), got 0."),
        ({"min_rel_drop": 1.5}, "min_rel_drop must be a number in (0, 1), got 1.5."),
        ({"min_ratio": 0.5}, "min_ratio must be a number >= 1, got 0.5."),
        ({"window_fraction": 0}, "window_fraction must be a number in (0, 0.5], got 0."),
        ({"min_window": 1}, "min_window must be an int >= 2, got 1."),
        ({"max_window": 4}, "max_window must be an int >= min_window (5), got 4."),
        ({"chunks": 1}, "chunks must be an int >= 2, got 1."),
        ({"eval_tolerance": -0.1}, "eval_tolerance must be a number in [0, 1), got -0.1."),
        ({"buffer_size": 10}, "buffer_size must be an int >= chunks * max_window (400), got 10."),
        ({"signal": "x"}, "signal must be one of 'auto', 'label_loss', 'loss', 'eval_metric', got 'x'."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        StaircaseRule(**kwargs)
    assert str(error.value) == message


def test_short_epoch_after_the_cliff_is_judged_at_the_next_boundary():
    # epoch 2 has 10 points only (< 3W = 15): the boundary is judged when epoch 3 starts, and a
    # finding that would wait for an eval (there was one before) is released unjudged then.
    points = _curve(epochs=2, eval_every=PER_EPOCH, eval_of=lambda k: 1.0)[: PER_EPOCH + 10]
    points += [Point(step=p.step + 10 * INTERVAL, epoch=3 + (i + 1) / PER_EPOCH, loss=0.6) for i, p in enumerate(points[:30])]
    found = _run(points)
    assert [(i, f.step, f.kind) for i, f in found][:1] == [(PER_EPOCH + 10, _boundary_step(1), "unjudged")]
    assert "no eval point in the epoch after the boundary" in found[0][1].message


def test_run_ending_inside_the_after_window_is_judged_at_finish():
    points = _curve(epochs=2)[: PER_EPOCH + 8]  # 8 >= W = 5 points after the boundary
    rule = StaircaseRule()
    assert [rule.observe(p) for p in points] == [None] * len(points)
    finding = rule.finish()
    assert (finding.step, finding.kind) == (_boundary_step(1), "unjudged")
