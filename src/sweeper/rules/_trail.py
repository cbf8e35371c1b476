"""What the plateau and pace rules keep of a run's judged signal, in O(max_blocks) memory."""

from __future__ import annotations

import math
from collections import deque

from sweeper.rules._blocks import BlockBuffer
from sweeper.rules._heldout import HeldOut
from sweeper.rules.point import Point
from sweeper.rules.signal import Signal


class Trail:
    """The judged values of one run: their count, the first `initial_points` (the run's start),
    the last 64 (its noise), closed blocks for the trend fits, where warm-up ended (the learning
    rate last rose), and the eval points (held-out evidence)."""

    def __init__(self, signal: str = "auto", initial_points: int = 5, max_blocks: int = 64) -> None:
        self.signal = Signal(signal)
        self.initial_points = initial_points
        self.n = 0
        self.initial: list[float] = []
        self.recent: deque[float] = deque(maxlen=64)
        self.buffer = BlockBuffer(max_blocks)
        self.lr: float | None = None
        self.warmup_end = 0  # values seen when the learning rate last rose
        self.held_out = HeldOut()

    def add(self, point: Point) -> bool:
        """Take one point; True when its value closed a block (the moment a rule may judge)."""
        self.held_out.observe(point, self.signal)
        value = self.signal.value(point)
        if value is None or not math.isfinite(value):
            return False  # eval-only point, or a broken value (divergence judges those)
        self.n += 1
        lr = point.learning_rate
        if lr is not None and math.isfinite(lr):
            if self.lr is not None and lr > self.lr:
                self.warmup_end = self.n  # still warming up: the loss need not fall yet
            self.lr = lr
        if len(self.initial) < self.initial_points:
            self.initial.append(value)
        self.recent.append(value)
        return self.buffer.add(value, point.step)
