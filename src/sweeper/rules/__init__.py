"""Convergence rules: judge one run by the shape of its own raw loss curve.

Pure Python (stdlib only): no Ray, Optuna, torch or numpy. Each rule takes points one at a time
and keeps O(window) state; each is one `observe(point, sweep) -> Finding | None`. CurveMonitor
composes them with the pruning policy, applied in one place (its `stop_reason`).
"""

from sweeper.rules.divergence import DivergenceRule, GradNormWarningRule
from sweeper.rules.monitor import (
    CONTINUE,
    VERDICTS,
    CurveMonitor,
    Decision,
    Diagnosis,
    PrunerSettings,
    diagnose,
)
from sweeper.rules.pace import PaceRule
from sweeper.rules.plateau import PlateauRule
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal
from sweeper.rules.smoothing import llamafactory_smooth, tensorboard_smooth
from sweeper.rules.staircase import StaircaseRule, epoch_index
from sweeper.rules.sweep import NO_SWEEP, FinishedRun, Sweep

__all__ = [
    "CONTINUE",
    "VERDICTS",
    "CurveMonitor",
    "Decision",
    "Diagnosis",
    "DivergenceRule",
    "Finding",
    "FinishedRun",
    "GradNormWarningRule",
    "NO_SWEEP",
    "PaceRule",
    "PlateauRule",
    "Point",
    "PrunerSettings",
    "Signal",
    "StaircaseRule",
    "Sweep",
    "diagnose",
    "epoch_index",
    "llamafactory_smooth",
    "tensorboard_smooth",
]
