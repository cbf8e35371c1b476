"""Robust statistics over plain floats (stdlib only), shared by the rules.

Everything here is O(n log n) at worst over a bounded window; the rules call it rarely
(at an epoch boundary, when a block of points closes), never on every point of a long run.
"""

from __future__ import annotations

import math
from typing import Sequence

# median(|x_i - x_{i-1}|) of i.i.d. Gaussian noise with std s is 0.6745 * sqrt(2) * s.
_DIFF_MAD_TO_SIGMA = 1.0 / (0.6744897501960817 * math.sqrt(2.0))


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence of finite floats."""
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return 0.5 * (ordered[mid - 1] + ordered[mid])


def noise_sigma(values: Sequence[float]) -> float:
    """Std of the point-to-point noise, from the median absolute first difference.

    Differencing removes a slow trend, and the median ignores the odd spike, so this measures
    the jitter of raw logged values, not the decay of the curve. 0.0 for fewer than 3 values.
    """
    if len(values) < 3:
        return 0.0
    diffs = [abs(values[i] - values[i - 1]) for i in range(1, len(values))]
    return median(diffs) * _DIFF_MAD_TO_SIGMA


def median_sd(sigma: float, n: int) -> float:
    """Std of the median of n i.i.d. Gaussian values with std sigma (large-n approximation)."""
    return 1.2533141373155001 * sigma / math.sqrt(max(n, 1))


def is_finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)
