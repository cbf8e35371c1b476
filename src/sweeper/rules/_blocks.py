"""A run's values in O(max_blocks) memory, and the three-group resistant line over a trailing span.

Shared by the plateau and pace rules. Values are kept as at most 2 x `max_blocks` closed blocks
(count, median, first step, last step) whose size doubles as the run grows; two merged blocks keep
the count-weighted mean of their medians. A 10,000-point run costs the same per point as a
100-point one.

The resistant line (Tukey's three-group line) splits a span into thirds by point count and joins
the median of the first third to the median of the last: a spike moves neither median, so the
slope is as robust as the medians are. Over blocks, each third's median is the count-weighted
median of its blocks' medians.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from sweeper.rules._stats import median

# sd(median of k points) = 1.2533 sigma / sqrt(k) (large-k approximation for Gaussian noise)
MEDIAN_SD = 1.2533141373155001


class Block(NamedTuple):
    count: int
    center: float  # median of the block's values (a count-weighted mean of medians once merged)
    first_step: int
    last_step: int


class Thirds(NamedTuple):
    """The resistant line over a span: its first and last thirds."""

    covered: int  # points in the span
    third: float  # points per third (covered / 3)
    start_level: float  # median of the first third
    end_level: float  # median of the last third
    start_step: float  # median step of the first third
    end_step: float  # median step of the last third
    step_from: int  # first step of the span

    @property
    def slope(self) -> float:
        """Change of the level per step (negative: falling); 0.0 when the thirds share a step."""
        span = self.end_step - self.start_step
        return (self.end_level - self.start_level) / span if span > 0 else 0.0

    def slope_se(self, sigma: float) -> float:
        """Standard error of `slope` for i.i.d. point noise of std `sigma`."""
        span = self.end_step - self.start_step
        if span <= 0:
            return math.inf
        return math.sqrt(2.0) * MEDIAN_SD * sigma / math.sqrt(self.third) / span

    def level_se(self, sigma: float) -> float:
        """Standard error of each third's median."""
        return MEDIAN_SD * sigma / math.sqrt(self.third)


def weighted_median(pairs: list[tuple[float, int]]) -> float:
    """Median of values given as (value, weight) pairs."""
    ordered = sorted(pairs)
    half = sum(w for _, w in ordered) / 2.0
    acc = 0
    for value, weight in ordered:
        acc += weight
        if acc >= half:
            return value
    return ordered[-1][0]


class BlockBuffer:
    """Collects (value, step) pairs into blocks; see the module docstring."""

    __slots__ = ("blocks", "block_size", "max_blocks", "_open", "_open_step", "_last_step")

    def __init__(self, max_blocks: int = 64) -> None:
        self.blocks: list[Block] = []
        self.block_size = 1
        self.max_blocks = max_blocks
        self._open: list[float] = []
        self._open_step = 0
        self._last_step = 0

    def add(self, value: float, step: int) -> bool:
        """Add one value; True when it closed a block (the only time a window can change)."""
        if not self._open:
            self._open_step = step
        self._open.append(value)
        self._last_step = step
        if len(self._open) < self.block_size:
            return False
        values = self._open
        self.blocks.append(Block(len(values), median(values) if len(values) > 1 else value, self._open_step, step))
        self._open = []
        if len(self.blocks) >= 2 * self.max_blocks:
            blocks = self.blocks
            merged = []
            for i in range(0, len(blocks) - 1, 2):
                a, b = blocks[i], blocks[i + 1]
                count = a.count + b.count
                merged.append(Block(count, (a.count * a.center + b.count * b.center) / count, a.first_step, b.last_step))
            self.blocks = merged
            self.block_size *= 2
        return True

    def trailing(self, target: int) -> list[Block]:
        """The newest closed blocks that cover at least `target` points (all of them if fewer), oldest first."""
        chosen: list[Block] = []
        covered = 0
        for block in reversed(self.blocks):
            chosen.append(block)
            covered += block.count
            if covered >= target:
                break
        chosen.reverse()
        return chosen


def thirds(chosen: list[Block]) -> Thirds | None:
    """The resistant line over `chosen` blocks (oldest first); None when a third would be empty."""
    if len(chosen) < 3:
        return None
    covered = sum(block.count for block in chosen)
    third = covered / 3.0
    first: list[tuple[float, int]] = []
    last: list[tuple[float, int]] = []
    first_steps: list[tuple[float, int]] = []
    last_steps: list[tuple[float, int]] = []
    acc = 0
    for block in chosen:
        middle = acc + block.count / 2.0
        if middle <= third:
            first.append((block.center, block.count))
            first_steps.append((0.5 * (block.first_step + block.last_step), block.count))
        elif middle >= covered - third:
            last.append((block.center, block.count))
            last_steps.append((0.5 * (block.first_step + block.last_step), block.count))
        acc += block.count
    if not first or not last:
        return None
    return Thirds(
        covered,
        third,
        weighted_median(first),
        weighted_median(last),
        weighted_median(first_steps),
        weighted_median(last_steps),
        chosen[0].first_step,
    )

