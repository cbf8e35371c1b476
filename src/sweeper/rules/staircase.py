"""Staircase: flat within epochs, a cliff at each epoch boundary.

The model meets the same samples again and the training loss drops at once. Harmless when
eval metrics improve with it ("improving"), memorisation when they stall or eval loss rises
("memorising", confirmed by a second eval of the new epoch when one comes); without eval points
around the boundary the kind is "unjudged".

How a boundary is judged (all on raw values, no smoothing):

- `W` = 10% of the points of the epoch that just ended (5 to 50 points: a median of 5 shrugs
  off two spikes, a median of 3 does not); an epoch needs at least 4 W points (20) to be judged.
  A coarse log's epoch of 10-19 points (logging every 5-10 steps of a small dataset) is judged
  with W = 3 (3 windows and a point before the boundary) and 1.5x the ratio (its within-epoch
  change comes from a handful of medians of 3): cliffs a median of 3 can resolve are found, the
  rest stay quiet.
- The drop is median(last W points before) - median(first W points after).
- The within-epoch change over the same span is measured the same way, between adjacent
  W-point chunks that do not straddle a boundary: the median |change| over up to 8 chunks
  before the boundary and the first 3 chunks after it ("flat within", pooled). It is floored by
  the change that point noise alone would make (noise from the median absolute first difference).
- It fires when the drop is at least `min_rel_drop` of the level AND at least `min_ratio` times
  the within-epoch change. A healthy fast decay drops at the boundary at the same rate as just
  before it (ratio ~1), so it does not fire; a staircase drops many times faster.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

from sweeper.rules import _check
from sweeper.rules._stats import median, median_sd, sigma_from_diffs
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal
from sweeper.rules.sweep import NO_SWEEP, Sweep

_EPOCH_EPS = 1e-6
_COARSE_WINDOW = 3  # the window of an epoch too short for 4 windows of min_window (10-19 points)
_COARSE_RATIO = 1.5  # ... whose boundary drop must be 1.5 x min_ratio times the within-epoch change


def epoch_index(epoch: float) -> int:
    """0-based index of the epoch a point belongs to.

    The boundary is where floor(epoch) increments, except that a point logged at exactly
    epoch k (HF logs the last step of an epoch as k.0, rounded logs too) closes epoch k rather
    than opening epoch k+1: its loss was averaged over steps of epoch k.
    """
    return max(0, math.ceil(epoch - _EPOCH_EPS) - 1)


def boundary_window(points_before: int, fraction: float = 0.1, min_window: int = 5, max_window: int = 50) -> int:
    """Points compared on each side of a boundary: `fraction` of the epoch that just ended."""
    return max(min_window, min(max_window, int(round(points_before * fraction))))


def boundary_change(before: Sequence[float], after: Sequence[float], window: int, chunks: int = 8) -> dict[str, float]:
    """The boundary drop and the within-epoch change over the same span, from raw values.

    `before`: values of the epoch that ended (oldest first); `after`: values of the new epoch.
    Needs len(before) >= window and len(after) >= window. Returns plain floats:
    level_before, level_after, drop (positive = the loss fell), rel_drop, within_before,
    within_after, noise_floor, within (max of the pooled median |change| and the noise floor),
    trend_before (median signed fall per span before the boundary), ratio (drop / within).
    """
    w = window
    level_before = median(before[-w:])
    level_after = median(after[:w])
    drop = level_before - level_after
    rel_drop = drop / abs(level_before) if level_before else (math.inf if drop > 0 else 0.0)

    tail = before[-chunks * w :]
    n_before = len(tail) // w
    start = len(tail) - n_before * w
    meds_before = [median(tail[start + i * w : start + (i + 1) * w]) for i in range(n_before)]
    falls_before = [meds_before[i] - meds_before[i + 1] for i in range(n_before - 1)]
    n_after = min(len(after) // w, chunks)
    meds_after = [median(after[i * w : (i + 1) * w]) for i in range(n_after)]
    falls_after = [meds_after[i] - meds_after[i + 1] for i in range(n_after - 1)]

    within_before = median([abs(f) for f in falls_before]) if falls_before else 0.0
    within_after = median([abs(f) for f in falls_after]) if falls_after else 0.0
    # One pooled median over both sides: a max of two small-sample medians would mostly measure
    # the luck of the side with two chunks, not the within-epoch change.
    pooled = [abs(f) for f in falls_before + falls_after]
    # Point noise from first differences on both sides, never across the boundary: more samples
    # than one side alone, which matters for short epochs.
    steps_within = [tail[i] - tail[i - 1] for i in range(1, len(tail))]
    steps_within += [after[i] - after[i - 1] for i in range(1, min(len(after), chunks * w))]
    sigma = sigma_from_diffs(steps_within) if len(steps_within) >= 2 else 0.0
    noise_floor = math.sqrt(2.0) * median_sd(sigma, w)
    within = max(median(pooled) if pooled else 0.0, noise_floor)
    ratio = drop / within if within > 0 else (math.inf if drop > 0 else 0.0)
    return {
        "level_before": level_before,
        "level_after": level_after,
        "drop": drop,
        "rel_drop": rel_drop,
        "within_before": within_before,
        "within_after": within_after,
        "noise_floor": noise_floor,
        "noise_sigma": sigma,
        "within": within,
        "trend_before": median(falls_before) if falls_before else 0.0,
        "ratio": ratio,
    }


@dataclass(frozen=True, slots=True)
class EvalSnapshot:
    """The eval metrics of one eval point (None = not logged or not finite)."""

    step: int
    loss: float | None
    loss_name: str
    accuracy: float | None
    macro_f1: float | None


_EVAL_BEFORE = 3  # eval points of the epoch before a boundary compared with the ones after it


def _as_list(snapshots: "EvalSnapshot | Sequence[EvalSnapshot]") -> list[EvalSnapshot]:
    return [snapshots] if isinstance(snapshots, EvalSnapshot) else list(snapshots)


def _noise(before: list[float], after: list[float]) -> float:
    """Eval-to-eval noise (std) of one metric from its successive differences within each side
    (never across the boundary, whose change is what is judged); 0.0 with no such difference."""
    return sigma_from_diffs(side[i] - side[i - 1] for side in (before, after) for i in range(1, len(side)))


def _gain(before: list[float], after: list[float], floor: float) -> tuple[float, float]:
    """(gain, tolerance): median after - median before, and the change noise alone would make
    (2 standard errors of that difference from the metric's eval-to-eval noise, at least `floor`)."""
    noise = _noise(before, after)
    se = noise * math.sqrt(1.0 / len(before) + 1.0 / len(after))
    return median(after) - median(before), max(floor, 2.0 * se)


def judge_eval(
    before: "EvalSnapshot | Sequence[EvalSnapshot]",
    after: "EvalSnapshot | Sequence[EvalSnapshot]",
    tolerance: float = 0.02,
) -> tuple[str, dict[str, Any], str]:
    """Kind of a staircase from the eval points either side of its boundary.

    `before`: the last eval points of the epoch before the boundary (up to 3), `after`: those
    after it so far. Each metric logged on both sides is compared median to median, against a
    tolerance scaled to its own eval-to-eval noise (at least `tolerance` absolute for accuracy /
    macro-F1, and relative for the eval loss): macro-F1 on 120 eval examples moves 0.02-0.08
    between evals, so one eval either side is no evidence. Returns (kind, evidence, words):
    "improving" when any metric improved by more than its tolerance; "memorising" when every
    metric stalled (improved by at most half its tolerance) or worsened; "unjudged" when a gain
    is in between, or no metric is logged on both sides.
    """
    before, after = _as_list(before), _as_list(after)
    evidence: dict[str, Any] = {"eval_step_before": before[-1].step, "eval_step_after": after[-1].step,
                                "eval_points_before": len(before), "eval_points_after": len(after)}
    words: list[str] = []
    gains: list[tuple[float, float]] = []  # (gain, tolerance), positive gain = better
    loss_name = after[-1].loss_name
    lb = [s.loss for s in before if s.loss is not None]
    la = [s.loss for s in after if s.loss is not None]
    if lb and la and median(lb) != 0:
        base = abs(median(lb))
        rise, tol = _gain([v / base for v in lb], [v / base for v in la], tolerance)
        evidence[f"{loss_name.replace(' ', '_')}_change"] = rise
        evidence["eval_loss_before"], evidence["eval_loss_after"] = median(lb), median(la)
        evidence["eval_loss_tolerance"] = tol
        verb = "rose" if rise > 0 else "fell"
        words.append(f"{loss_name} {verb} {abs(rise):.1%} ({median(lb):.4g} -> {median(la):.4g}, noise +-{tol:.1%})")
        gains.append((-rise, tol))
    for name, label in (("accuracy", "eval accuracy"), ("macro_f1", "eval macro-F1")):
        b = [getattr(s, name) for s in before if getattr(s, name) is not None]
        a = [getattr(s, name) for s in after if getattr(s, name) is not None]
        if not b or not a:
            continue
        rise, tol = _gain(b, a, tolerance)
        evidence[f"eval_{name}_change"] = rise
        evidence[f"eval_{name}_tolerance"] = tol
        verb = "rose" if rise > 0 else "fell" if rise < 0 else "held"
        words.append(f"{label} {verb} {abs(rise) * 100:.1f} points (noise +-{tol * 100:.1f})")
        gains.append((rise, tol))
    if not gains:
        return "unjudged", evidence, "no eval metric on both sides of the boundary"
    if any(gain > tol for gain, tol in gains):
        kind = "improving"
    elif all(gain <= 0.5 * tol for gain, tol in gains):
        kind = "memorising"
    else:
        kind = "unjudged"  # a gain within the noise but not clearly stalled: no verdict either way
    return kind, evidence, "; ".join(words)


_MEMORISING_EVALS = 2  # evals of the new epoch a "memorising" verdict needs (unless no more come)


class _Boundary:
    """A boundary being judged: the epoch that ended, the points after it, the evals around it."""

    __slots__ = ("index", "step", "epoch", "last_step_before", "before", "window", "after", "eval_before", "eval_after", "held")

    def __init__(self, index: int, step: int, epoch: float, last_step_before: int, before: list[float], window: int, eval_before: list[EvalSnapshot] | None) -> None:
        self.index = index
        self.step = step
        self.epoch = epoch
        self.last_step_before = last_step_before
        self.before = before
        self.window = window
        self.after: list[float] = []
        self.eval_before = eval_before
        self.eval_after: list[EvalSnapshot] | None = None  # the new epoch's evals so far
        self.held: Finding | None = None  # fired on training evidence, waiting for the first eval after


class StaircaseRule:
    """Find epoch boundaries where the loss falls off a cliff (see the module docstring).

    `observe` returns a finding when its evidence is complete: at `3 W` points into the new
    epoch if no eval was logged in the epoch before (kind "unjudged"), otherwise when the first
    eval point of the new epoch arrives (kind "improving" or "unjudged"), or, for "memorising",
    when the second one agrees (one eval of a small eval set moves as much as a staircase gains
    in an epoch; with one eval in the epoch, memorising is called at the next boundary or at
    `finish()`). If no eval comes before the next boundary, or before `finish()`, the finding is
    emitted "unjudged".
    `held` shows a finding fired on training evidence that still waits for its eval point;
    `active` is the last finding (a staircase, once seen, stays part of the run).
    Without `epoch` on the points there is no staircase judgement at all.
    """

    name = verdict = "staircase"

    def __init__(
        self,
        min_rel_drop: float = 0.05,
        min_ratio: float = 4.0,
        window_fraction: float = 0.1,
        min_window: int = 5,
        max_window: int = 50,
        chunks: int = 8,
        eval_tolerance: float = 0.02,
        buffer_size: int = 1024,
        signal: str = "auto",
    ) -> None:
        self._min_rel_drop = _check.fraction("min_rel_drop", min_rel_drop, low_open=True)
        self._min_ratio = _check.number("min_ratio", min_ratio, 1)
        self._window_fraction = _check.number("window_fraction", window_fraction, 0, 0.5, low_open=True)
        self._min_window = _check.integer("min_window", min_window, 2)
        self._max_window = _check.integer("max_window", max_window, min_window, minimum_is="min_window")
        self._chunks = _check.integer("chunks", chunks, 2)
        self._eval_tolerance = _check.fraction("eval_tolerance", eval_tolerance)
        _check.integer("buffer_size", buffer_size, chunks * max_window, minimum_is="chunks * max_window")
        self._signal = Signal(signal)
        self._epoch: int | None = None
        self._values: deque[float] = deque(maxlen=buffer_size)  # raw values of the current epoch
        self._last_step: int | None = None
        self._boundary: _Boundary | None = None
        self._last_eval: tuple[int, EvalSnapshot] | None = None  # (epoch index, snapshot)
        self._epoch_evals: deque[EvalSnapshot] = deque(maxlen=_EVAL_BEFORE)  # last evals of epoch self._last_eval[0]
        self.active: Finding | None = None

    @property
    def held(self) -> Finding | None:
        boundary = self._boundary
        return boundary.held if boundary is not None else None

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        found = self._observe(point)
        if found is not None:
            self.active = found
        return found

    def _observe(self, point: Point) -> Finding | None:
        epoch = point.epoch
        if epoch is None or not math.isfinite(epoch):
            return None  # no epochs, no boundaries: no staircase judgement
        index = epoch_index(epoch)
        found = None
        value = self._signal.finite_value(point)
        if value is not None:
            found = self._train(point, index, value)
        if point.is_eval:
            later = self._eval(point, index)
            found = found or later
        return found

    def finish(self) -> Finding | None:
        """End of the run: judge a boundary whose after-window is incomplete, release a held finding."""
        found = self._release("the run ended before an eval point in the new epoch")
        if found is not None:
            self.active = found
        return found

    # -- training points -------------------------------------------------------------------

    def _train(self, point: Point, index: int, value: float) -> Finding | None:
        found = None
        current = self._epoch
        if current is None or index < current:
            # First point, or the epoch went backwards (a second run appended): start afresh.
            self._epoch, self._boundary = index, None
            self._values.clear()
        elif index > current:
            found = self._close_boundary()
            self._open_boundary(point, index)
        self._values.append(value)
        self._last_step = point.step
        boundary = self._boundary
        if boundary is not None and boundary.held is None and boundary.before:
            boundary.after.append(value)
            if len(boundary.after) >= 3 * boundary.window:
                found = self._judge(boundary) or found
        return found

    def _open_boundary(self, point: Point, index: int) -> None:
        before = list(self._values)
        self._epoch = index
        self._values.clear()
        window = boundary_window(len(before), self._window_fraction, self._min_window, self._max_window)
        if len(before) < 4 * window:
            # A coarse log (10-19 points an epoch: logging every 5-10 steps of a small dataset):
            # medians of 3 and 3 chunks before the boundary; fewer is too few to tell a cliff from noise.
            window = min(window, _COARSE_WINDOW)
            if len(before) < 3 * window + 1:
                self._boundary = None
                return
        last_eval = self._last_eval
        eval_before = list(self._epoch_evals) if last_eval is not None and last_eval[0] == index - 1 else None
        self._boundary = _Boundary(index, point.step, point.epoch, self._last_step, before, window, eval_before)

    def _close_boundary(self) -> Finding | None:
        """A new boundary arrives: finish the previous one with the points it got."""
        return self._release("no eval point in the epoch after the boundary")

    def _release(self, why_no_eval: str) -> Finding | None:
        """No more points will come for the open boundary: decide it on what it got."""
        boundary, self._boundary = self._boundary, None
        if boundary is None:
            return None
        if boundary.held is not None:
            if boundary.eval_after:
                return self._decide(boundary, final=True)  # memorising on the evals it got
            return self._unjudged(boundary, why_no_eval)
        if boundary.before and len(boundary.after) >= boundary.window:
            return self._judge(boundary, final=why_no_eval)
        return None

    def _judge(self, boundary: _Boundary, final: str | None = None) -> Finding | None:
        """Fire or not on the training evidence. `final`: no more points will come for this
        boundary (the reason why), so a finding that would wait for its eval is released unjudged."""
        change = boundary_change(boundary.before, boundary.after, boundary.window, self._chunks)
        boundary.before = []  # judged: no more points needed, free the memory
        # A coarse window's within-epoch change comes from a handful of medians of 3: ask more of the ratio.
        min_ratio = self._min_ratio * (_COARSE_RATIO if boundary.window < self._min_window else 1.0)
        if not (change["drop"] > 0 and change["rel_drop"] >= self._min_rel_drop and change["ratio"] >= min_ratio):
            if boundary is self._boundary:
                self._boundary = None
            return None
        boundary.held = self._train_finding(boundary, change)
        if boundary.eval_before is None:
            if boundary is self._boundary:
                self._boundary = None
            why = "no eval point in the epoch before the boundary" if self._last_eval else "no eval points logged"
            return self._unjudged(boundary, why)
        if boundary.eval_after:
            return self._decide(boundary, final=final is not None)
        if final is not None:
            return self._unjudged(boundary, final)
        return None  # held until the first eval point of the new epoch

    # -- eval points -----------------------------------------------------------------------

    def _eval(self, point: Point, index: int) -> Finding | None:
        loss = self._signal.eval_value(point)
        snapshot = EvalSnapshot(
            step=point.step,
            loss=loss if loss is not None and math.isfinite(loss) else None,
            loss_name=self._signal.eval_name(point),
            accuracy=point.eval_accuracy if point.eval_accuracy is not None and math.isfinite(point.eval_accuracy) else None,
            macro_f1=point.eval_macro_f1 if point.eval_macro_f1 is not None and math.isfinite(point.eval_macro_f1) else None,
        )
        if self._last_eval is None or self._last_eval[0] != index:
            self._epoch_evals.clear()
        self._epoch_evals.append(snapshot)
        self._last_eval = (index, snapshot)
        boundary = self._boundary
        if boundary is None or index < boundary.index:
            return None
        if index > boundary.index:
            if boundary.held is not None:
                self._boundary = None
                if boundary.eval_after:
                    return self._decide(boundary, final=True)  # the epoch ended: judge on the evals it got
                return self._unjudged(boundary, "no eval point in the epoch after the boundary")
            return None
        boundary.eval_after = (boundary.eval_after or []) + [snapshot]
        if boundary.held is not None:
            return self._decide(boundary)
        return None

    # -- findings --------------------------------------------------------------------------

    def _train_finding(self, boundary: _Boundary, change: dict[str, float]) -> Finding:
        name = self._signal.name
        ordinal = boundary.index + 1
        if math.isfinite(change["ratio"]):
            versus = f"{change['ratio']:.1f}x the typical within-epoch change over the same span ({change['within']:.3g})"
        else:
            versus = "while it did not change at all within the epoch"
        message = (
            f"{name} fell {change['rel_drop']:.0%} across the boundary into epoch {ordinal} "
            f"(step {boundary.last_step_before} -> {boundary.step}; median of {boundary.window} points either side "
            f"{change['level_before']:.4g} -> {change['level_after']:.4g}), {versus}"
        )
        evidence = {
            "signal": self._signal.field or "loss",
            "epoch_boundary": boundary.index,
            "step_before": boundary.last_step_before,
            "step_after": boundary.step,
            "window_points": boundary.window,
            **{k: change[k] for k in ("level_before", "level_after", "rel_drop", "within", "ratio", "trend_before", "noise_sigma")},
            "judged_at_step": self._last_step,
        }
        return Finding(self.verdict, self.name, boundary.step, boundary.epoch, "unjudged", message, evidence)

    # The two below are only called once `held` is set (and, for _with_eval, both evals are).
    def _unjudged(self, boundary: _Boundary, why: str) -> Finding:
        held = boundary.held
        return Finding(held.verdict, held.rule, held.step, held.epoch, "unjudged", f"{held.message}; eval not judged: {why}", dict(held.evidence))

    def _decide(self, boundary: _Boundary, final: bool = False) -> Finding | None:
        """Judge a held boundary on the new epoch's evals so far. "improving" (or "unjudged") at the
        first of them; "memorising" only once `_MEMORISING_EVALS` of them agree, or when no more
        will come (`final`): one eval of 120 examples moves 0.02-0.08, as much as a staircase gains."""
        kind, _, _ = judge_eval(boundary.eval_before, boundary.eval_after, self._eval_tolerance)
        if kind == "memorising" and not final and len(boundary.eval_after) < _MEMORISING_EVALS:
            return None  # wait for the next eval of the new epoch
        if boundary is self._boundary:
            self._boundary = None
        return self._with_eval(boundary)

    def _with_eval(self, boundary: _Boundary) -> Finding:
        held = boundary.held
        after = boundary.eval_after
        kind, evidence, words = judge_eval(boundary.eval_before, after[:1], self._eval_tolerance)
        if len(after) > 1:
            # judged at the first eval of the new epoch (its words), confirmed by all of them so far
            kind_all, evidence_all, words_all = judge_eval(boundary.eval_before, after, self._eval_tolerance)
            if kind_all != "memorising" or kind != "memorising":
                kind, evidence, words = kind_all, evidence_all, words_all
            else:
                words += f"; still memorising over the new epoch's first {len(after)} evals"
                evidence = {**evidence, "confirmed_by_evals": len(after)}
        return Finding(held.verdict, held.rule, held.step, held.epoch, kind, f"{held.message}; {words}", {**held.evidence, **evidence})
