"""Offline judgment: what `sweeper diagnose` says of a whole, finished log.

The online rules (CurveMonitor, the pruner's policy) decide with the points they have so far and
never revisit a decision: that is what a sweep's leaderboard records. A log on disk is seen whole,
so the offline judgment runs the same rules over it and then revises with the rest of the curve:

- too few training points to judge (fewer than MIN_POINTS) is `insufficient`, with the number
  needed, never "healthy" (a broken run is still called broken: divergence needs no history);
- breakage the online policy asks more of (sweeper.rules.collapse, .blowup, .eval_rise share the
  rule, each with a stricter online policy): the loss exactly constant over the run's tail (0.0
  for the rest of the run after a normal first value: the fp16/bf16 overflow failure) and a
  blow-up that rises at nearly every log to several times its best (both divergence). An online
  finding of these kinds that the whole log confirms is reported with the whole log's numbers;
  one it contradicts is a warning (the loss moved again, the eval loss came back down);
- a rising divergence or blow-up the run came back from (ending within SPIKE_BACK of its minimum
  or below its best before the rise, eval not worse) is a warning with its steps, not the verdict;
- a plateau found mid-run that the rest of the log contradicts (the loss kept falling) is dropped;
- an eval loss that ends well above its best (no staircase explains it) is a divergence too;
- a flat curve (its second half moving less than FLAT_CHANGE) is a plateau, reported with its
  numbers and whether it is high or only flat; an eval curve still falling says it is learning.

Verdicts: divergence > staircase > plateau > healthy, and insufficient.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from sweeper.rules._stats import median
from sweeper.rules.blowup import RiseTally
from sweeper.rules.collapse import ConstantRun
from sweeper.rules.eval_rise import EvalTally
from sweeper.rules.monitor import VERDICTS, Diagnosis, diagnose
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import Signal

OFFLINE_VERDICTS = VERDICTS + ("insufficient",)
RULE = "judgment"  # the `rule` of the findings only the whole curve shows
MIN_POINTS = 20  # fewer training points than this: no verdict but divergence
FLAT_CHANGE = 0.02  # a second half that moves less than 2% is flat
COLLAPSE_MIN_RUN = 5  # an exactly constant tail of at least this many logs ...
COLLAPSE_MIN_SHARE = 0.2  # ... and at least this share of the log (or COLLAPSE_LOGS logs) is not training,
COLLAPSE_LOGS = 10  # (the online policy's default: what it stops on, the whole log confirms)
COLLAPSE_MIN_JUMP = 0.01  # ... reached by a jump of more than 1% of the first value (not converged rounding)
BLOW_UP_FACTOR = 3.0  # a blow-up ends at least 3x its best ...
BLOW_UP_RISING_SHARE = 0.6  # ... after rising at >= 60% of the logs since the best
SPIKE_BACK = 0.2  # recovered: the run ends within 20% of its minimum (or below its best before the rise)
EVAL_RISE = 0.5  # eval loss ending >= 50% above its best (last 2 evals) is a divergence of what is measured
STILL_FALLING = 0.05  # a plateau is contradicted when the loss fell >= 5% more after it

_RANK = {name: rank for rank, name in enumerate(VERDICTS)}
ONLINE_BROKEN = ("collapse", "blow_up", "eval_rise")  # online rules whose kinds the whole log re-judges


def judge(
    points: Iterable[Point],
    num_classes: int | None = None,
    *,
    signal: str = "auto",
    max_steps: int | None = None,
    steps_per_epoch: float | None = None,
) -> Diagnosis:
    """The offline judgment of a whole log: the online rules' findings, revised with the whole curve."""
    ordered = sorted(points, key=lambda p: p.step)
    online = diagnose(ordered, num_classes, signal=signal, max_steps=max_steps, steps_per_epoch=steps_per_epoch)
    judged = Signal(signal)
    train = [(p, v) for p in ordered if (v := judged.value(p)) is not None]
    evals = [v for p in ordered if p.is_eval and (v := judged.eval_value(p)) is not None and math.isfinite(v)]
    values = [v for _, v in train]
    whole = {"collapse": _collapse(train), "blow_up": _blow_up(train), "eval_rising": _eval_rising(ordered, judged)}
    findings = [_revised(f, train, evals, num_classes, whole) for f in online.findings]
    findings = [f for f in findings if f is not None]
    if any(f.verdict == "staircase" for f in findings):
        # A staircase with eval points is judged by its eval across the cliffs: it explains a rising eval.
        findings = [f for f in findings if f.kind != "eval_rising"]
    broken = whole["collapse"] or whole["blow_up"]
    if broken is None and not any(f.verdict in ("divergence", "staircase") for f in findings):
        broken = whole["eval_rising"]
    if broken is not None and not any(f.verdict == "divergence" for f in findings):
        findings.append(broken)
    finite = [v for v in values if math.isfinite(v)]
    if not any(f.verdict == "divergence" for f in findings) and len(finite) < MIN_POINTS:
        return Diagnosis(
            "insufficient",
            findings,
            len(ordered),
            f"insufficient: {len(finite)} training points, judging a curve needs at least {MIN_POINTS}",
        )
    if not any(f.verdict in _RANK for f in findings):
        flat = _flat(train, evals, judged.name, num_classes)
        if flat is not None:
            findings.append(flat)
    worst = min((f for f in findings if f.verdict in _RANK), key=lambda f: _RANK[f.verdict], default=None)
    if worst is None:
        return Diagnosis("healthy", findings, len(ordered), f"healthy: no divergence, staircase or plateau in {len(ordered)} points")
    return Diagnosis(worst.verdict, findings, len(ordered), f"{worst.verdict} ({worst.kind}) at step {worst.step}: {worst.message}")


def _revised(finding: Finding, train: Sequence[tuple[Point, float]], evals: Sequence[float], num_classes: int | None,
             whole: dict[str, Finding | None]) -> Finding | None:
    """The finding as the whole curve shows it: kept, turned into a warning, or dropped (None).
    `whole` holds the whole-log findings of the rules the online policy shares (by kind)."""
    if finding.rule in ONLINE_BROKEN and whole.get(finding.kind) is not None:
        return whole[finding.kind]  # the whole log agrees: say it with the whole log's numbers
    if finding.rule == "collapse" and train and train[-1][1] == finding.evidence.get("value"):
        return finding  # still the constant at the end, a tail shorter than the whole-log rule asks: as found
    if finding.rule in ("collapse", "eval_rise"):
        what = "the loss moved again" if finding.rule == "collapse" else "the eval loss came back down"
        return Finding("warning", RULE, finding.step, finding.epoch, f"{finding.kind}_recovered",
                       f"{finding.message}; then {what} by the end of the log", dict(finding.evidence))
    after = [v for p, v in train if p.step > finding.step and math.isfinite(v)]
    if finding.verdict == "divergence" and finding.kind in ("rising", "blow_up") and len(after) >= 5:
        finite = [v for _, v in train if math.isfinite(v)]
        ends = median(after[-5:])
        evals_fine = len(evals) < 2 or evals[-1] <= min(evals) * 1.02
        back_to = finding.evidence.get("best")
        back = ends <= min(finite) * (1 + SPIKE_BACK) or (isinstance(back_to, (int, float)) and ends <= back_to)
        if back and evals_fine:
            peak = max(after[: max(1, len(after) // 2)] + [v for p, v in train if p.step == finding.step])
            return Finding(
                "warning", RULE, finding.step, finding.epoch, "recovered_spike",
                f"the loss rose at step {finding.step} ({finding.message}) and came back: up to {peak:.4g}, "
                f"the run ends at {ends:.4g} (median of its last 5 points; its minimum {min(finite):.4g})",
                {**finding.evidence, "recovered_to": ends},
            )
    if finding.verdict == "plateau" and finding.kind == "stuck" and num_classes is None:
        share = finding.evidence.get("level_of_initial")
        if isinstance(share, float) and share <= 0.9:
            # "stuck" says the run is not learning; without a known floor a run that fell to this
            # share of its start is only flat.
            finding = Finding(finding.verdict, finding.rule, finding.step, finding.epoch, "flat",
                              finding.message.removesuffix(": stuck") + ": flat (no known floor without --num-classes, not called stuck)",
                              finding.evidence)
    if finding.verdict == "plateau" and finding.rule in ("plateau", "pace") and len(after) >= 5:
        before = [v for p, v in train if p.step <= finding.step and math.isfinite(v)][-5:]
        if before and median(after[-max(3, len(after) // 10):]) <= median(before) * (1 - STILL_FALLING):
            return None  # the loss kept falling after the plateau was found: the whole curve says learning
    return finding


def _collapse(train: Sequence[tuple[Point, float]]) -> Finding | None:
    """The loss exactly the same number at every log of the run's tail, after a different value."""
    run = ConstantRun()
    for point, value in train:
        run.add(point.step, point.epoch, value)
    if not run.jumped(COLLAPSE_MIN_JUMP) or run.logs < max(COLLAPSE_MIN_RUN, min(COLLAPSE_MIN_SHARE * len(train), COLLAPSE_LOGS)):
        return None  # one constant from the start, approached gently (converged), or a tail too short to say
    return run.finding(RULE, "loss")


def _blow_up(train: Sequence[tuple[Point, float]]) -> Finding | None:
    """The loss rising at most logs since its best to several times that best, and ending above its start."""
    tally = RiseTally()
    last: Point | None = None
    for point, value in train:
        if math.isfinite(value):
            tally.add(point.step, value)
            last = point
    if last is None or not tally.blown_up(BLOW_UP_FACTOR, BLOW_UP_RISING_SHARE, 5):
        return None
    return tally.finding(RULE, "loss", last.step, last.epoch)


def _eval_rising(ordered: Sequence[Point], judged: Signal) -> Finding | None:
    """The eval loss ending EVAL_RISE above its best after at least 3 evals: the run got worse on what it is measured on."""
    tally = EvalTally(EVAL_RISE)
    last: Point | None = None
    for point in ordered:
        if point.is_eval and (value := judged.eval_value(point)) is not None and math.isfinite(value):
            tally.add(point.step, value)
            last = point
    if last is None or tally.count < 3 or not tally.risen(2):
        return None
    return tally.finding(RULE, judged.eval_name(last), last.step, last.epoch)


def _height(level: float, start: float, num_classes: int | None) -> str:
    """Whether a flat level is high, said only where a scale is known (ln C for a C-class label loss)."""
    if num_classes:
        chance = math.log(num_classes)
        verdict = "still high" if level > 0.5 * chance else "low"
        return f"{verdict}: {level:.4g} is {level / chance:.0%} of ln {num_classes} = {chance:.3g} (chance)"
    of_start = f"{level / start:.0%} of the start {start:.4g}" if start > 0 else "no start level"
    if start > 0 and level > 0.9 * start:
        return f"still high: {of_start}, it never learnt"
    return f"only flat, at {of_start}: an LM loss has no known floor, so high or converged is not for the curve to say"


def _flat(train: Sequence[tuple[Point, float]], evals: Sequence[float], name: str, num_classes: int | None) -> Finding | None:
    """A plateau when the second half of the run moves less than FLAT_CHANGE and eval (if any) agrees."""
    finite = [(p, v) for p, v in train if math.isfinite(v)]
    second = finite[len(finite) // 2 :]
    chunk = max(3, len(second) // 5)
    if len(second) < 2 * chunk:
        return None
    early = median(v for _, v in second[:chunk])
    late = median(v for _, v in second[-chunk:])
    if early <= 0 or (early - late) / early >= FLAT_CHANGE:
        return None
    half_evals = evals[len(evals) // 2 :]
    if len(half_evals) >= 2 and half_evals[0] > 0 and (half_evals[0] - half_evals[-1]) / half_evals[0] >= FLAT_CHANGE:
        return None  # eval still falls: the run learns what it is measured on
    start = median(v for _, v in finite[: max(1, min(5, len(finite) // 10))])
    change = (late - early) / early
    height = _height(late, start, num_classes)
    evals_said = f"; eval {half_evals[0]:.4g} -> {half_evals[-1]:.4g} over the same half" if len(half_evals) >= 2 else ""
    point = second[0][0]
    return Finding(
        "plateau", RULE, point.step, point.epoch, "flat",
        f"the {name} moved {early:.4g} -> {late:.4g} ({change:+.1%}) over the second half of the run "
        f"(steps {second[0][0].step}-{second[-1][0].step}, medians of {chunk} points); {height}{evals_said}",
        {"early": early, "late": late, "change": change, "start": start},
    )
