"""The smoothed curves users are shown, reproduced exactly so we can show them BESIDE the raw one.

Judge raw values; smoothed curves hide staircases and make unconverged runs look converged.
"""

from __future__ import annotations

import math
from typing import Sequence


def llamafactory_weight(n: int) -> float:
    """The EMA weight LLaMA-Factory's `--plot_loss` uses for n logged points (-> 0.9 as n grows)."""
    return 1.8 * (1.0 / (1.0 + math.exp(-0.05 * n)) - 0.5)


def llamafactory_smooth(values: Sequence[float]) -> list[float]:
    """LLaMA-Factory `src/llamafactory/extras/ploting.py` `smooth()`: an EMA over point index.

    w = 1.8 * (1/(1+exp(-0.05 N)) - 0.5) with N = len(values); s_0 = x_0;
    s_i = w * s_{i-1} + (1 - w) * x_i. NaN propagates, as in the original.
    """
    if not values:
        return []
    weight = llamafactory_weight(len(values))
    last = float(values[0])
    smoothed = []
    for value in values:
        last = last * weight + (1.0 - weight) * value
        smoothed.append(last)
    return smoothed


def tensorboard_smooth(values: Sequence[float], smoothing: float = 0.9) -> list[float]:
    """Bias-corrected EMA, as TensorBoard draws it and ms-swift's `tensorboard_smoothing` plots it.

    m_i = smoothing * m_{i-1} + x_i (m_{-1} = 0), s_i = m_i / (1 + smoothing + ... + smoothing^i):
    a weighted mean of the values so far, so the first point is not dragged toward 0.
    """
    if not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}.")
    accumulated = 0.0
    norm = 0.0
    smoothed = []
    for value in values:
        accumulated = accumulated * smoothing + value
        norm = norm * smoothing + 1.0
        smoothed.append(accumulated / norm)
    return smoothed
