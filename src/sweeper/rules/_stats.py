"""Robust statistics over plain floats (stdlib only), shared by the rules.

Everything here is O(n log n) at worst over a bounded window; the rules call it rarely
(at an epoch boundary, when a block of points closes), never on every point of a long run.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

# median(|x_i - x_{i-1}|) of i.i.d. Gaussian noise with std s is 0.6745 * sqrt(2) * s.
_DIFF_MAD_TO_SIGMA = 1.0 / (0.6744897501960817 * math.sqrt(2.0))
# sd(median of k i.i.d. Gaussian values with std s) = MEDIAN_SD * s / sqrt(k) (large-k approximation)
MEDIAN_SD = 1.2533141373155001


def median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence of finite floats."""
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    if n % 2:
        return ordered[mid]
    return 0.5 * (ordered[mid - 1] + ordered[mid])


def sigma_from_diffs(diffs: Iterable[float]) -> float:
    """Std of i.i.d. point noise from first differences (signed or not): the median absolute
    difference, scaled. 0.0 without any difference."""
    absolute = [abs(d) for d in diffs]
    return median(absolute) * _DIFF_MAD_TO_SIGMA if absolute else 0.0


def noise_sigma(values: Sequence[float]) -> float:
    """Std of the point-to-point noise, from the median absolute first difference.

    Differencing removes a slow trend, and the median ignores the odd spike, so this measures
    the jitter of raw logged values, not the decay of the curve. 0.0 for fewer than 3 values.
    """
    if len(values) < 3:
        return 0.0
    return sigma_from_diffs(values[i] - values[i - 1] for i in range(1, len(values)))


def median_sd(sigma: float, n: int) -> float:
    """Std of the median of n i.i.d. Gaussian values with std sigma (large-n approximation)."""
    return MEDIAN_SD * sigma / math.sqrt(max(n, 1))
