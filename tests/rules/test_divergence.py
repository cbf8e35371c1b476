"""DivergenceRule and GradNormWarningRule: tables of curves -> (kind, index of the point it fires on)."""

from __future__ import annotations

import math

import pytest

from sweeper.rules import CurveMonitor, DivergenceRule, GradNormWarningRule, Point, PrunerSettings, diagnose

NAN, INF = math.nan, math.inf


def _points(losses, grads=None, label_losses=None):
    grads = grads or [1.0] * len(losses)
    label_losses = label_losses or [None] * len(losses)
    return [
        Point(step=10 * (i + 1), epoch=0.01 * (i + 1), loss=loss, grad_norm=grad, label_loss=label)
        for i, (loss, grad, label) in enumerate(zip(losses, grads, label_losses))
    ]


def _first_finding(rule, points):
    for index, point in enumerate(points):
        finding = rule.observe(point)
        if finding is not None:
            return finding, index
    return None, None


def _decay(n, start=2.0, end=0.5):
    return [end + (start - end) * math.exp(-i / (n / 5)) for i in range(n)]


FLAT = [1.0] * 20

DIVERGENCE_CASES = [
    # (id, losses, grads, label_losses, expected kind, expected index)
    ("nan_fires_on_its_point", FLAT[:7] + [NAN] + FLAT[:5], None, None, "non_finite", 7),
    ("inf_on_first_point", [INF] + FLAT, None, None, "non_finite", 0),
    ("minus_inf", FLAT[:3] + [-INF], None, None, "non_finite", 3),
    ("fp16_overflow_zero_loss_nan_grad", FLAT[:10] + [0.0] + FLAT[:3], [1.0] * 10 + [NAN] + [1.0] * 3, None, "fp16_overflow", 10),
    ("fp16_overflow_zero_loss_inf_grad", FLAT[:4] + [0.0], [1.0] * 4 + [INF], None, "fp16_overflow", 4),
    # sustained doubling: the median of 5 reaches 2.0 at the 3rd high point (index 22), then 5 points of patience
    ("sustained_rise_to_2x_best", FLAT + [2.0] * 10, None, None, "rising", 26),
    ("nan_label_loss_with_finite_loss", FLAT[:5] + [1.0], None, [0.3] * 5 + [NAN], "non_finite", 5),
    ("nan_loss_with_finite_label_loss", FLAT[:5] + [NAN], None, [0.3] * 6, "non_finite", 5),
]

QUIET_CASES = [
    # (id, losses, grads, label_losses) -- and WHY each must not fire
    # A healthy decay only ever sets new bests.
    ("healthy_decay", _decay(200), None, None),
    # One spike is not divergence: a median of 5 does not move.
    ("one_spike_10x", FLAT + [10.0] + FLAT, None, None),
    # Two spikes in a row still leave 3 of 5 at the level.
    ("two_spikes", FLAT + [10.0, 10.0] + FLAT, None, None),
    # A 30% sustained rise is below the 50% "well above its best".
    ("rise_of_30_percent", FLAT + [1.3] * 30, None, None),
    # A 4-point rise keeps the median of 5 up for 3 points only: shorter than the patience of 5.
    ("short_rise", FLAT + [3.0] * 4 + FLAT, None, None),
    # NaN grad_norm with a finite loss is an fp16 skipped step: a warning, not divergence.
    ("nan_grad_finite_loss", FLAT, [NAN] * 20, None),
    # A loss of exactly 0 with finite gradients is a perfect fit, not an overflow.
    ("zero_loss_finite_grad", FLAT[:5] + [0.0] * 3, None, None),
    # Near 0 a doubling (0.01 -> 0.02) is within 3 noise sigmas of jitter 0.01: not divergence.
    ("tiny_level_jitter", [0.01, 0.02, 0.005, 0.015] * 10, None, None),
    # Eval-only points carry no training loss: nothing to judge.
    ("no_training_loss", [None] * 10, None, None),
]


@pytest.mark.parametrize(
    "losses, grads, labels, kind, index",
    [case[1:] for case in DIVERGENCE_CASES],
    ids=[case[0] for case in DIVERGENCE_CASES],
)
def test_divergence_fires(losses, grads, labels, kind, index):
    finding, at = _first_finding(DivergenceRule(), _points(losses, grads, labels))
    assert finding is not None
    assert (finding.verdict, finding.kind, at) == ("divergence", kind, index)
    assert finding.step == 10 * (index + 1)
    assert finding.message and finding.evidence


@pytest.mark.parametrize("losses, grads, labels", [case[1:] for case in QUIET_CASES], ids=[case[0] for case in QUIET_CASES])
def test_divergence_stays_quiet(losses, grads, labels):
    finding, _ = _first_finding(DivergenceRule(), _points(losses, grads, labels))
    assert finding is None


def test_divergence_fires_once():
    rule = DivergenceRule()
    findings = [rule.observe(p) for p in _points([NAN, NAN, INF])]
    assert [f is not None for f in findings] == [True, False, False]


def test_rising_evidence_names_best_and_level():
    finding, _ = _first_finding(DivergenceRule(), _points(FLAT + [2.0] * 10))
    assert finding.evidence["best"] == pytest.approx(1.0)
    assert finding.evidence["level"] == pytest.approx(2.0)
    assert finding.evidence["rise"] == pytest.approx(1.0)
    assert "100% above its best" in finding.message


def test_signal_loss_ignores_label_loss():
    # signal="loss": a NaN label loss is not what we judge (the raw loss is finite).
    rule = DivergenceRule(signal="loss")
    finding, _ = _first_finding(rule, _points(FLAT[:5], None, [0.3] * 4 + [NAN]))
    assert finding is None


WARNING_CASES = [
    # (id, losses, grads, expected count, expected first index or None)
    ("gemma_like_skipped_steps", [4.3, 4.6, 4.3, 4.2, 4.0, 2.5], [NAN, NAN, 8.0, 8.1, 5.7, NAN], 3, 0),
    ("inf_grad", [1.0, 1.0], [1.0, INF], 1, 1),
    # A zero loss with a NaN grad is divergence (fp16 overflow), not a warning.
    ("zero_loss_nan_grad_is_not_a_warning", [1.0, 0.0], [1.0, NAN], 0, None),
    # A NaN loss is divergence, not a warning.
    ("nan_loss_nan_grad_is_not_a_warning", [1.0, NAN], [1.0, NAN], 0, None),
    ("finite_grads", [1.0, 0.9], [1.0, 2.0], 0, None),
]


@pytest.mark.parametrize("losses, grads, count, index", [c[1:] for c in WARNING_CASES], ids=[c[0] for c in WARNING_CASES])
def test_grad_norm_warning(losses, grads, count, index):
    rule = GradNormWarningRule()
    fired = [i for i, p in enumerate(_points(losses, grads)) if rule.observe(p) is not None]
    assert fired == ([] if index is None else [index])  # warns once, at the first
    assert rule.count == count
    summary = rule.summary()
    if count:
        assert (summary.verdict, summary.kind, summary.evidence["count"]) == ("warning", "non_finite_grad_norm", count)
    else:
        assert summary is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rise_ratio": 0}, "rise_ratio must be a number > 0, got 0."),
        ({"rise_ratio": NAN}, "rise_ratio must be a number > 0"),
        ({"patience": 0}, "patience must be an int >= 1, got 0."),
        ({"window": 0}, "window must be an int >= 1, got 0."),
        ({"noise_mult": -1}, "noise_mult must be a number >= 0, got -1."),
        ({"signal": "eval_loss"}, "signal must be one of 'auto', 'label_loss', 'loss', 'eval_metric', got 'eval_loss'."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        DivergenceRule(**kwargs)


def test_near_zero_losses_need_a_rise_on_the_runs_own_scale():
    # A full fine-tune bouncing between 1e-4 and 0.03 after starting at 1.5: "300x its best" is nothing.
    losses = [1.5, 1.0, 0.6, 0.3, 0.1] + [0.0001 if i % 3 else 0.03 for i in range(200)]
    rule = DivergenceRule()
    assert [f for i, v in enumerate(losses) if (f := rule.observe(Point(step=i + 1, loss=v)))] == []
    # the same rise on a run that started near it is a divergence
    rule = DivergenceRule()
    flat = [0.0002] * 20 + [0.03] * 20
    assert any(rule.observe(Point(step=i + 1, loss=v)) for i, v in enumerate(flat))


def test_online_a_spike_shorter_than_a_share_of_the_steps_does_not_stop():
    # 0.3 -> 12 over 5 logs early in a 2000-step run (lr 2e-3 without warm-up), then recovered.
    losses = [0.2 + 0.4 * math.exp(-i / 60) for i in range(200)]
    losses[20:27] = [4.0, 12.0, 9.0, 6.0, 3.0, 1.5, 0.6]
    points = [Point(step=(i + 1) * 10, loss=v) for i, v in enumerate(losses)]
    monitor = CurveMonitor(PrunerSettings(), max_steps=2000)
    assert not any(monitor.observe(p).stop for p in points)
    # without max_steps there is no share to wait for: the old patience alone stops it
    assert diagnose(points).verdict == "divergence"
    # a rise that stays is still stopped, within the share (5% of 2000 steps = 100 steps) plus patience
    stays = [0.2 + 0.4 * math.exp(-i / 60) for i in range(20)] + [3.0] * 30
    monitor = CurveMonitor(PrunerSettings(), max_steps=2000)
    stops = [p.step for p in (Point(step=(i + 1) * 10, loss=v) for i, v in enumerate(stays)) if monitor.observe(p).stop]
    assert stops and stops[0] <= 210 + 100 + 50
