"""The smoothed curves users are shown, against values computed by hand."""

from __future__ import annotations

import math

import pytest

from sweeper.rules import llamafactory_smooth, tensorboard_smooth
from sweeper.rules.smoothing import llamafactory_weight


@pytest.mark.parametrize(
    "n, weight",
    [
        (3, 0.0673737216),  # 1.8 * (1 / (1 + e^-0.15) - 0.5)
        (100, 0.8879528683),  # 1.8 * (1 / (1 + e^-5) - 0.5)
        (10_000, 0.9),  # the limit
    ],
)
def test_llamafactory_weight(n, weight):
    assert llamafactory_weight(n) == pytest.approx(weight, abs=1e-8)


def test_llamafactory_smooth_by_hand():
    # w = 0.0673737216 (N = 3); s0 = x0; s_i = w s_{i-1} + (1 - w) x_i
    w = 0.0673737216
    s1 = w * 1 + (1 - w) * 2  # 1.9326262784
    s2 = w * s1 + (1 - w) * 3  # 2.9280870600
    assert llamafactory_smooth([1.0, 2.0, 3.0]) == pytest.approx([1.0, 1.9326262784, 2.9280870600], abs=1e-9)
    assert llamafactory_smooth([1.0, 2.0, 3.0]) == pytest.approx([1.0, s1, s2], abs=1e-9)


def test_llamafactory_smooth_hides_a_cliff():
    # 100 points flat at 1.0 then a 30% cliff: 10 points later the smoothed curve has done only
    # 1 - 0.888^10 = 70% of the fall (w = 0.888 at N = 110).
    values = [1.0] * 100 + [0.7] * 10
    smoothed = llamafactory_smooth(values)
    assert smoothed[99] == pytest.approx(1.0)
    assert smoothed[-1] == pytest.approx(0.7 + 0.3 * llamafactory_weight(110) ** 10, abs=1e-12)


def test_tensorboard_smooth_by_hand():
    # bias-corrected EMA 0.9: s1 = (0.9*1 + 2) / 1.9, s2 = (0.81*1 + 0.9*2 + 3) / 2.71
    assert tensorboard_smooth([1.0, 2.0, 3.0]) == pytest.approx([1.0, 2.9 / 1.9, 5.61 / 2.71], abs=1e-12)
    assert tensorboard_smooth([1.0, 2.0, 3.0]) == pytest.approx([1.0, 1.526315789, 2.070110701], abs=1e-9)


@pytest.mark.parametrize("smooth", [llamafactory_smooth, tensorboard_smooth])
def test_constant_stays_constant(smooth):
    # TensorBoard's bias correction: no drag toward 0 at the start
    assert smooth([0.5] * 7) == pytest.approx([0.5] * 7)


@pytest.mark.parametrize("smooth", [llamafactory_smooth, tensorboard_smooth])
def test_empty(smooth):
    assert smooth([]) == []


def test_nan_propagates_like_the_originals():
    assert math.isnan(llamafactory_smooth([1.0, math.nan, 1.0])[-1])


@pytest.mark.parametrize("smoothing", [-0.1, 1.0])
def test_tensorboard_smoothing_range(smoothing):
    with pytest.raises(ValueError, match="smoothing must be in"):
        tensorboard_smooth([1.0], smoothing)
