"""Compose the rules over one run and decide: keep training, or stop.

The policy (PrunerSettings):
- divergence: stop at once, grace or not: a broken run only burns compute. A rise must have
  lasted 5% of max_steps (when known) first: online, a short spike is never a reason to kill.
  Two more rules find a broken run the rising median would be slow to: collapse
  (sweeper.rules.collapse: the loss exactly one value for `collapse_logs` logs in a row after a
  jump to it, the fp16/bf16 overflow logged without grad_norm) and blow-up (sweeper.rules.blowup:
  rising at most logs to `blow_up_factor` x its best, above its start, still climbing, and for
  5% of max_steps when known). Both stop at once, grace or not, like divergence.
- eval rising (sweeper.rules.eval_rise): the eval loss >= (1 + `eval_rise`) x its best at
  `eval_rise_evals` evals in a row while the training loss fell and the eval macro-F1/accuracy
  (where logged) is below its best: memorising. Stop if `stop_on_eval_rise` (after grace).
- plateau, stuck (high relative to ln C, eval accuracy near chance, or still > 60% of the
  run's start): stop if `stop_on_stuck_plateau`. Converged: stop only if `stop_when_converged`.
  Too slow (sweeper.rules.pace, needs max_steps: still learning, but even an optimistic
  projection of its pace ends above the stuck line at max_steps): stop if `stop_when_too_slow`
  (a run not falling at all whose projection fails is stuck, found by the same rule).
  None of these once the run has shown a staircase: flat within epochs is a staircase's own
  shape, and the staircase policy decides for such a run (the plateau finding is still recorded).
- outpaced (sweeper.rules.outpaced; needs max_steps and the sweep, `sweeper.rules.sweep.Sweep`,
  passed with each point by the sweep's scheduler): even an optimistic projection of the run's
  eval metric to max_steps stays below the best finished trial's. Stop if `compare_to_best`,
  staircase or not (it judges the eval metric, not the training curve's shape). Never fires
  without a finished trial (`diagnose`: a log has no peers).
- no precedent (sweeper.rules.precedent; needs max_steps, num_classes and the sweep): the run's
  eval metric is still at chance where at least `precedent_min_peers` finished runs of the sweep
  were at chance too, and none of those ended near the sweep's best. Stop if `compare_to_precedent`.
- forecast (sweeper.rules.forecast; needs max_steps and the sweep): the run's final eval metric,
  forecast from its level plus the gains the sweep's finished runs made from the same fraction of
  their steps (those that were at a similar level there), with the eval noise, reaches the best
  finished trial's only with a small chance. Stop if `compare_to_forecast`.
- staircase: "auto" stops when memorising (eval loss rose or accuracy/F1 stalled across the
  boundary), keeps training and flags when improving, flags only when unjudged; "stop" stops on
  any staircase; "flag" never stops.
- nothing but divergence, collapse and blow-up stops a run inside its grace period; a stuck plateau or memorising
  staircase found during grace stops it at the first point after grace if still true.
- `enabled=False` keeps judging (findings, verdict, reason) but never stops.

The policy as a table (`stop_reason`): the rule that fired and its kind -> what stopped the run.

    rule        kind                 stopped_by     when
    divergence  any                  diverged       always, even in grace
    collapse    collapse             collapsed      always, even in grace
    blow_up     blow_up              blew_up        always, even in grace
    eval_rise   eval_rising          eval_rising    stop_on_eval_rise
    staircase   memorising           memorising     staircase "auto" or "stop"
    staircase   improving, unjudged  staircase      staircase "stop"
    plateau     stuck                stuck          stop_on_stuck_plateau, no staircase seen
    plateau     converged            converged      stop_when_converged, no staircase seen
    pace        too_slow             too_slow       stop_when_too_slow, no staircase seen
    pace        stuck                stuck          stop_on_stuck_plateau, no staircase seen
    outpaced    outpaced             outpaced       compare_to_best (the rule runs only then)
    precedent   precedent            precedent      compare_to_precedent (likewise)
    forecast    unlikely             forecast       compare_to_forecast (likewise)

The verdict (the curve's shape) is the worst finding by precedence: divergence > staircase >
plateau > healthy; pace, outpaced, precedent and forecast findings are plateau findings; collapse,
blow-up and eval-rising findings are divergence findings. Warnings
(non-finite grad_norm with a finite loss) never change it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Iterable, Literal, Mapping

from sweeper.rules import _check
from sweeper.rules.blowup import BlowUpRule
from sweeper.rules.collapse import CollapseRule
from sweeper.rules.divergence import DivergenceRule, GradNormWarningRule
from sweeper.rules.eval_rise import EvalRiseRule
from sweeper.rules.forecast import ForecastRule
from sweeper.rules.outpaced import OutpacedRule
from sweeper.rules.pace import PaceRule
from sweeper.rules.plateau import PlateauRule
from sweeper.rules.point import Finding, Point
from sweeper.rules.precedent import PrecedentRule
from sweeper.rules.signal import EVAL_METRIC, SIGNAL_CHOICES
from sweeper.rules.staircase import StaircaseRule
from sweeper.rules.sweep import NO_SWEEP, FinishedRun, Sweep

VERDICTS = ("divergence", "staircase", "plateau", "healthy")
_PRECEDENCE = {name: rank for rank, name in enumerate(VERDICTS)}
STAIRCASE_POLICIES = ("auto", "stop", "flag")
BROKEN_RULES = ("divergence", "collapse", "blow_up")  # the rules whose findings stop a run even in grace


@dataclass(frozen=True)
class PrunerSettings:
    """When the convergence rules stop a run. Every field has a default; see the module docstring.

    Defaults and why:
    - grace_steps=0, grace_fraction=0.1: no stop but divergence in the first 10% of max_steps
      (when max_steps is known). The rules already wait for evidence (plateau: >= 60 points and
      a confident fit; staircase: a whole epoch), so grace only guards the warm-up.
    - stop_on_stuck_plateau=True: a run stuck high is wasted compute.
    - stop_when_converged=False: a converged run is a result; let it finish (checkpoints, evals).
    - stop_when_too_slow=True, too_slow_margin=2, pace_after=0.3: a run that would not reach
      the stuck line at twice its fastest plausible pace is wasted compute too; judged only from
      30% of max_steps on, so that a slow start (a late bloomer) has shown its pace.
    - collapse_logs=10: ten exactly equal logs after a jump to them; a loss that is a mean over
      noisy batches never repeats so (a converged one logged to 4 decimals approaches its repeats
      gently and is left alone).
    - blow_up_factor=3: the offline judgment's blow-up, asked online to be still climbing and to
      have stayed 3x up for 5% of max_steps (the divergence rule's spike share).
    - stop_on_eval_rise=True, eval_rise=0.5, eval_rise_evals=3: one eval more than the offline
      judgment's 2, plus the training loss falling and the eval metric below its best: on the demo
      and topics corpora no trial's eval label loss stays above 1.44x its best for 3 evals.
    - staircase="auto": memorising is the only staircase worth a stop.
    - stuck_span=0.45: a run that is not improving is called stuck only once it has been flat over
      45% of max_steps (a late bloomer sits near chance for 35-60% of its run).
    - compare_to_best=True, compare_at_equal_progress=True: the outpaced rule compares a run with
      the sweep's best finished trial, also at the same fraction of its steps.
    - compare_to_precedent=True, precedent_after=0.3, precedent_min_peers=1: a run still at chance
      at 30% of its steps or later is stopped once a finished run of the sweep was at chance there
      too and none that was came near the best (one finished late bloomer keeps every later one).
      One peer instead of two: the demo corpus's replay 68% of the steps instead of 72%, the best
      kept in every sweep either way, 12-trial sweeps at concurrency 2 (the live demo's size) 75%
      instead of 81%, best kept 99.0% either way. From 10%, 20% or 25% on, the demo replay lost its
      best trial in 1.5% of sweeps (w-explain runs that leave chance at 25-33% of their steps), and
      12-trial sweeps from 10% or 20% in 5% and 4%; from 30%, in none and 1%.
    """

    enabled: bool = True
    """Stop runs at all. False: judge and report, never stop."""
    grace_steps: int = 0
    """No stop (except divergence) before this step."""
    grace_fraction: float = 0.1
    """No stop (except divergence) before this fraction of max_steps (only when max_steps is known)."""
    stop_on_stuck_plateau: bool = True
    """Stop a run whose loss plateaued high (stuck)."""
    stop_when_converged: bool = False
    """Stop a run whose loss plateaued low (converged)."""
    stop_when_too_slow: bool = True
    """Stop a run still learning but too slowly to reach the stuck line by max_steps (needs max_steps)."""
    staircase: Literal["auto", "stop", "flag"] = "auto"
    """auto: stop when memorising, flag when improving or unjudged; stop: always; flag: never."""
    num_classes: int | None = None
    """Classes C of a classification target: judge the label loss on [0, ln C]."""
    signal: Literal["auto", "label_loss", "loss", "eval_metric"] = "auto"
    """Judged value: label_loss when the run logs it (auto), or one of them always; eval_metric: only the eval metrics (what an explanation-first trial is always judged on)."""
    divergence_rise_ratio: float = 0.5
    """A sustained rise this far above the run's best level (0.5 = 50%) is divergence."""
    divergence_patience: int = 5
    """Consecutive points the rise must last (one spike is not divergence)."""
    collapse_logs: int = 10
    """Logs in a row with exactly the same loss, after a jump to it, that stop a run as collapsed (not training: an fp16/bf16 overflow logged without grad_norm)."""
    blow_up_factor: float = 3.0
    """A loss rising at most logs since its best to this many times that best, above its first value, is a blow-up (stopped while still climbing, once it has lasted 5% of max_steps when known)."""
    stop_on_eval_rise: bool = True
    """Stop a run whose eval loss stays well above its best while its training loss falls and its eval macro-F1/accuracy (where logged) is below its best (memorising)."""
    eval_rise: float = 0.5
    """Eval rising: each eval at least this fraction above the best eval loss (0.5 = 1.5x)."""
    eval_rise_evals: int = 3
    """Eval rising: this many evals in a row up (the offline judgment of a whole log asks for its last 2)."""
    staircase_min_drop: float = 0.05
    """A boundary drop below this fraction of the loss level is not a staircase."""
    staircase_min_ratio: float = 4.0
    """The boundary drop must be this many times the within-epoch change over the same span."""
    staircase_eval_tolerance: float = 0.02
    """The least eval change (relative loss, absolute accuracy/F1) that counts as improving; the tolerance grows with the metric's eval-to-eval noise."""
    plateau_min_improvement: float = 0.02
    """A trailing-window improvement confidently below this fraction is a plateau."""
    plateau_window_fraction: float = 1 / 3
    """The trailing window: this fraction of the points so far."""
    plateau_min_points: int = 20
    """The trailing window has at least this many points (plateau needs 3x this many in all)."""
    stuck_ratio: float = 0.6
    """Without num_classes: a plateau above this fraction of the run's start is stuck."""
    stuck_fraction: float = 0.5
    """With num_classes: a plateau above this fraction of ln C is stuck."""
    too_slow_margin: float = 2.0
    """Too slow: even this many times the run's fastest plausible pace would not reach the stuck line by max_steps."""
    pace_after: float = 0.3
    """From this fraction of max_steps on, judge whether a noisy run still improves (stuck) and is fast enough (too slow)."""
    stuck_span: float = 0.45
    """A run that is not improving is stuck only once it has been flat over this fraction of max_steps (a late bloomer sits near chance for 35-60% of its run)."""
    compare_to_best: bool = True
    """Stop a run whose eval metric cannot reach the sweep's best finished trial even optimistically (needs the scheduler's reference)."""
    outpaced_after: float = 0.25
    """From this fraction of max_steps on, compare a run with the sweep's best finished trial."""
    compare_at_equal_progress: bool = True
    """Outpaced also at equal progress: grant a run the best finished trial's own gain from the same fraction of its steps (or 2x the run's pace, if larger) instead of a noise-driven pace bound."""
    compare_to_precedent: bool = True
    """Stop a run whose eval metric is still at chance where finished runs of the sweep were at chance too and none of them came near the best (needs num_classes and the scheduler's finished runs)."""
    precedent_after: float = 0.3
    """From this fraction of max_steps on, ask the sweep's finished runs about a run still at chance."""
    precedent_min_peers: int = 1
    """The finished runs that must have been at chance at the same fraction of their steps, none of them ending near the best, before a run at chance is stopped."""
    compare_to_forecast: bool = False
    """Opt-in (it lost the best trial in 10.5% of sweeps of a corpus it was not tuned on, benchmarks/PRUNERS.md). Stop a run out of chance whose forecast final eval metric (its level plus the gains the sweep's finished runs made from the same fraction of their steps, with the eval noise) reaches the best finished trial only with a small chance (needs the scheduler's finished runs)."""
    forecast_after: float = 0.2
    """From this fraction of max_steps on, forecast a run's final eval metric."""
    forecast_tolerance: float = 0.01
    """A run ending within this of the best finished trial's eval metric counts as reaching it."""
    forecast_max_chance: float = 0.05
    """Stop when the forecast chance of reaching the best (within the tolerance) is below this."""
    forecast_bandwidth: float = 0.05
    """Finished runs count towards the forecast by how near their level at the same fraction was to the run's (a Gaussian kernel of this width)."""
    forecast_min_runs: int = 1
    """The weight of finished runs the forecast needs (each at most 1, by that kernel)."""
    eval_rows: int | None = None
    """Rows of the eval set: the binomial noise of an eval metric (None: the run's own eval-to-eval noise). A sweep fills it from its eval data."""

    def __post_init__(self) -> None:
        for name in ("enabled", "stop_on_stuck_plateau", "stop_when_converged", "stop_when_too_slow", "compare_to_best",
                     "compare_at_equal_progress", "compare_to_precedent", "stop_on_eval_rise"):
            _check.flag(name, getattr(self, name))
        _check.integer("grace_steps", self.grace_steps, 0)
        _check.fraction("grace_fraction", self.grace_fraction)
        _check.choice("staircase", self.staircase, STAIRCASE_POLICIES)
        _check.integer("num_classes", self.num_classes, 2, optional=True)
        _check.choice("signal", self.signal, SIGNAL_CHOICES)
        _check.positive("divergence_rise_ratio", self.divergence_rise_ratio)
        _check.integer("divergence_patience", self.divergence_patience, 1)
        _check.integer("collapse_logs", self.collapse_logs, 2)
        _check.number("blow_up_factor", self.blow_up_factor, 1, low_open=True)
        _check.positive("eval_rise", self.eval_rise)
        _check.integer("eval_rise_evals", self.eval_rise_evals, 2)
        for name in ("staircase_min_drop", "plateau_min_improvement", "stuck_ratio", "stuck_fraction"):
            _check.fraction(name, getattr(self, name), low_open=True)
        _check.number("staircase_min_ratio", self.staircase_min_ratio, 1)
        _check.fraction("staircase_eval_tolerance", self.staircase_eval_tolerance)
        _check.fraction("plateau_window_fraction", self.plateau_window_fraction, low_open=True, high_open=False)
        _check.integer("plateau_min_points", self.plateau_min_points, 6)
        _check.number("too_slow_margin", self.too_slow_margin, 1)
        for name in ("pace_after", "stuck_span", "outpaced_after", "precedent_after"):
            _check.fraction(name, getattr(self, name))
        _check.integer("precedent_min_peers", self.precedent_min_peers, 1)
        _check.flag("compare_to_forecast", self.compare_to_forecast)
        for name in ("forecast_after", "forecast_tolerance", "forecast_max_chance"):
            _check.fraction(name, getattr(self, name))
        _check.integer("eval_rows", self.eval_rows, 1, optional=True)
        _check.positive("forecast_bandwidth", self.forecast_bandwidth)
        _check.integer("forecast_min_runs", self.forecast_min_runs, 1)

    def grace(self, max_steps: int | None) -> int:
        """The first step at which anything but divergence may stop a run."""
        if max_steps:
            return max(self.grace_steps, math.ceil(self.grace_fraction * max_steps))
        return self.grace_steps


def run_settings(settings: PrunerSettings, facts: Mapping[str, Any]) -> PrunerSettings:
    """The settings that judge one run: the sweep's, with the `signal` the run stated among its
    facts (an explanation-first trial: "eval_metric", sweeper.rules.signal) in place of theirs."""
    signal = facts.get("signal")
    if signal is None or signal == settings.signal:
        return settings
    return replace(settings, signal=signal)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a point: "continue" or "stop"; `finding` is the one that caused the stop,
    `stopped_by` what stopped the run (see the policy table in the module docstring)."""

    action: Literal["continue", "stop"]
    finding: Finding | None = None
    stopped_by: str = ""

    @property
    def stop(self) -> bool:
        return self.action == "stop"


CONTINUE = Decision("continue")


def _describe(finding: Finding) -> str:
    return f"{finding.verdict} ({finding.kind}) at step {finding.step}: {finding.message}"


class CurveMonitor:
    """All rules over one run, fed point by point; `observe(point, sweep)` returns a Decision.

    `max_steps` sets the grace period from `grace_fraction`; `steps_per_epoch` fills `epoch` on
    points that lack it (step / steps_per_epoch), so the staircase rule can see boundaries.
    `sweep` (sweeper.rules.sweep.Sweep) is what the cross-trial rules know of the sweep's finished
    runs; without it they never fire. Call `finish()` at the end of a run (or of a log) to release
    findings that wait for evidence that will not come (a staircase waiting for an eval point).
    """

    def __init__(self, settings: PrunerSettings | None = None, max_steps: int | None = None, steps_per_epoch: float | None = None) -> None:
        settings = PrunerSettings() if settings is None else settings
        if not isinstance(settings, PrunerSettings):
            raise ValueError(f"settings must be a PrunerSettings, got {type(settings).__name__}.")
        _check.positive("max_steps", max_steps, optional=True)
        _check.positive("steps_per_epoch", steps_per_epoch, optional=True)
        self.settings = settings
        self.max_steps = max_steps
        self.steps_per_epoch = steps_per_epoch
        self._grace = settings.grace(int(max_steps) if max_steps else None)
        signal = settings.signal
        self._warning = GradNormWarningRule()
        self._staircase = StaircaseRule(
            min_rel_drop=settings.staircase_min_drop,
            min_ratio=settings.staircase_min_ratio,
            eval_tolerance=settings.staircase_eval_tolerance,
            signal=signal,
        )
        self._outpaced = (
            OutpacedRule(max_steps, num_classes=settings.num_classes, after=settings.outpaced_after,
                         equal_progress=settings.compare_at_equal_progress)
            if max_steps and settings.compare_to_best
            else None
        )
        # The rules whose findings hold while they stay true (`active`): one found during grace
        # stops the run at the first point after it if the policy says so then.
        standing: list[Any] = [
            self._staircase,
            EvalRiseRule(rise=settings.eval_rise, consecutive=settings.eval_rise_evals, signal=signal),
            PlateauRule(
                min_improvement=settings.plateau_min_improvement,
                window_fraction=settings.plateau_window_fraction,
                min_points=settings.plateau_min_points,
                stuck_ratio=settings.stuck_ratio,
                stuck_fraction=settings.stuck_fraction,
                num_classes=settings.num_classes,
                max_steps=max_steps,
                pace_after=settings.pace_after,
                stuck_span=settings.stuck_span,
                signal=signal,
            ),
        ]
        if max_steps:  # the rules that judge a run against the steps it has left
            standing.append(PaceRule(
                max_steps,
                margin=settings.too_slow_margin,
                after=settings.pace_after,
                eval_loss_gain=settings.plateau_min_improvement,
                stuck_ratio=settings.stuck_ratio,
                stuck_fraction=settings.stuck_fraction,
                num_classes=settings.num_classes,
                signal=signal,
            ))
            if self._outpaced is not None:
                standing.append(self._outpaced)
            if settings.num_classes and settings.compare_to_precedent:
                standing.append(PrecedentRule(max_steps, settings.num_classes, after=settings.precedent_after,
                                              min_peers=settings.precedent_min_peers))
            if settings.compare_to_forecast:
                standing.append(ForecastRule(max_steps, settings.num_classes, settings.eval_rows, after=settings.forecast_after,
                                             tolerance=settings.forecast_tolerance, max_chance=settings.forecast_max_chance,
                                             bandwidth=settings.forecast_bandwidth, min_runs=settings.forecast_min_runs))
        self._standing = tuple(standing)
        divergence = DivergenceRule(rise_ratio=settings.divergence_rise_ratio, patience=settings.divergence_patience,
                                    signal=signal, max_steps=max_steps)
        broken = (
            CollapseRule(min_logs=settings.collapse_logs, signal=signal),
            BlowUpRule(factor=settings.blow_up_factor, max_steps=max_steps, signal=signal),
        )
        self._rules = (self._warning, divergence, *broken, *self._standing)  # the order in which a stop is chosen
        self._findings: list[Finding] = []
        self._worst: Finding | None = None  # the finding that sets the verdict
        self._eval_rise: Finding | None = None  # kept apart: a staircase, once seen, explains it
        self._shaped = False  # a staircase or a broken run seen: the plateau and eval-rise policies stand aside
        self._stopped: Decision | None = None
        self.points = 0
        self.last_step: int | None = None

    @classmethod
    def for_run(cls, settings: PrunerSettings, facts: Mapping[str, Any]) -> "CurveMonitor":
        """The monitor of one run of a sweep, from the facts the run states in its reports
        (sweeper.rules.point.FACT_FIELDS): its max_steps, steps_per_epoch and `signal` (an
        explanation-first trial is judged on its eval metrics: `run_settings`)."""
        return cls(run_settings(settings, facts), max_steps=facts.get("max_steps"), steps_per_epoch=facts.get("steps_per_epoch"))

    @property
    def grace(self) -> int:
        """The first step at which anything but a broken run (divergence, collapse, blow-up) may stop it."""
        return self._grace

    # -- feeding ---------------------------------------------------------------------------

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Decision:
        self.points += 1
        self.last_step = point.step
        if point.epoch is None and self.steps_per_epoch:
            point = replace(point, epoch=point.step / self.steps_per_epoch)
        stop: Finding | None = None
        stopped_by: str | None = None
        for rule in self._rules:
            found = rule.observe(point, sweep)
            if found is not None:
                self._record(found)
                if stop is None:
                    stopped_by = self.stop_reason(found)
                    stop = found if stopped_by else None
        if self._stopped is not None:
            return self._stopped
        if stop is None and point.step >= self._grace:
            for rule in self._standing:  # evidence found during grace that still holds now
                if rule.active is not None and (stopped_by := self.stop_reason(rule.active)):
                    stop = rule.active
                    break
        if stop is None or (stop.rule not in BROKEN_RULES and point.step < self._grace) or not self.settings.enabled:
            return CONTINUE
        self._stopped = Decision("stop", stop, stopped_by or "")
        return self._stopped

    def stop_reason(self, finding: Finding) -> str | None:
        """What a finding stops the run as (`stopped_by`, the policy table in the module
        docstring), or None when the settings let the run go on."""
        rule, kind, settings = finding.rule, finding.kind, self.settings
        if rule == "divergence":
            return "diverged"
        if rule == "collapse":
            return "collapsed"
        if rule == "blow_up":
            return "blew_up"
        if rule == "eval_rise":
            # A staircase's memorising is judged by its own policy, across the cliffs.
            return "eval_rising" if settings.stop_on_eval_rise and not self._staircase_seen() else None
        if rule == "staircase":
            if kind == "memorising" and settings.staircase in ("auto", "stop"):
                return "memorising"
            return "staircase" if settings.staircase == "stop" else None
        if rule in ("plateau", "pace"):
            if self._staircase_seen():
                # Flat within epochs is a staircase's own shape: its policy decides, not the plateau's.
                return None
            if kind == "stuck":
                return "stuck" if settings.stop_on_stuck_plateau else None
            if kind == "too_slow":
                return "too_slow" if settings.stop_when_too_slow else None
            return "converged" if settings.stop_when_converged else None
        if rule in ("outpaced", "precedent", "forecast"):
            return rule
        return None  # a warning

    def finish(self) -> list[Finding]:
        """End of the run: release findings that waited for evidence; returns the new ones."""
        new = []
        found = self._staircase.finish()
        if found is not None:
            self._record(found)
            new.append(found)
        summary = self._warning.summary()
        if summary is not None and summary is not self._warning.finding:
            self._findings = [summary if f is self._warning.finding else f for f in self._findings]
        return new

    def _record(self, finding: Finding) -> None:
        self._findings.append(finding)
        if finding.rule == "eval_rise":
            self._eval_rise = finding  # sets the verdict only where no staircase explains it
            return
        if finding.verdict in ("divergence", "staircase"):
            self._shaped = True
        if finding.verdict in _PRECEDENCE:
            worst = self._worst
            if worst is None or _PRECEDENCE[finding.verdict] < _PRECEDENCE[worst.verdict]:
                self._worst = finding

    def _staircase_seen(self) -> bool:
        return self._shaped or self._staircase.held is not None

    # -- reading ---------------------------------------------------------------------------

    @property
    def finished_run(self) -> FinishedRun | None:
        """The run as the sweep keeps it once it ran to its end: its last eval macro-F1 (or
        accuracy) and its evals of that metric by fraction of max_steps; None without them."""
        if self._outpaced is None or self._outpaced.latest is None:
            return None
        return FinishedRun(self._outpaced.latest, self._outpaced.curve)

    @property
    def findings(self) -> list[Finding]:
        """Every finding so far, in the order found (warnings included)."""
        return list(self._findings)

    @property
    def stopped(self) -> Finding | None:
        """The finding that stopped the run, or None."""
        return self._stopped.finding if self._stopped is not None else None

    @property
    def stopped_by(self) -> str:
        """What stopped the run (diverged, collapsed, blew_up, eval_rising, memorising, stuck, too_slow, outpaced, precedent, ...), "" if nothing."""
        return self._stopped.stopped_by if self._stopped is not None else ""

    def _verdict_finding(self) -> Finding | None:
        worst = self._worst
        rise = self._eval_rise
        if rise is not None and not self._staircase_seen():  # (a divergence counts as seen)
            worst = rise  # an eval rising while the training loss falls, no staircase to explain it
        held = self._staircase.held  # a staircase waiting for its eval point already counts
        if held is not None and (worst is None or _PRECEDENCE["staircase"] < _PRECEDENCE[worst.verdict]):
            return held
        return worst

    @property
    def verdict(self) -> str:
        """divergence > staircase > plateau > healthy."""
        worst = self._verdict_finding()
        return worst.verdict if worst is not None else "healthy"

    @property
    def reason(self) -> str:
        """One line for the leaderboard: the rule, where, and the evidence."""
        if self._stopped is not None and self._stopped.finding is not None:
            return "stopped: " + _describe(self._stopped.finding)
        return self.judgement

    @property
    def judgement(self) -> str:
        """The reason line ignoring whether the run stopped (a log is judged whole)."""
        worst = self._verdict_finding()
        if worst is not None:
            return _describe(worst)
        if self.settings.signal == EVAL_METRIC:
            return f"healthy: judged on its eval metrics only (its label follows the explanation), {self.points} points"
        return f"healthy: no divergence, staircase or plateau in {self.points} points"


@dataclass(frozen=True)
class Diagnosis:
    """The judgement of a whole log."""

    verdict: str
    findings: list[Finding]
    points_count: int
    reason: str = ""

    @property
    def kind(self) -> str | None:
        """The kind of the finding that set the verdict (e.g. "memorising"), None when healthy."""
        for finding in self.findings:
            if finding.verdict == self.verdict:
                return finding.kind
        return None


def diagnose(
    points: Iterable[Point],
    num_classes: int | None = None,
    *,
    max_steps: int | None = None,
    steps_per_epoch: float | None = None,
    **settings: Any,
) -> Diagnosis:
    """Judge a whole log at once: feed every point (sorted by step) to a CurveMonitor, then finish.

    `settings` are PrunerSettings fields (unknown names raise ValueError).
    """
    known = {f.name for f in fields(PrunerSettings)}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(map(repr, unknown))}; known: {', '.join(sorted(known))}.")
    monitor = CurveMonitor(PrunerSettings(num_classes=num_classes, **settings), max_steps=max_steps, steps_per_epoch=steps_per_epoch)
    ordered = sorted(points, key=lambda p: p.step)
    for point in ordered:
        monitor.observe(point)
    monitor.finish()
    return Diagnosis(monitor.verdict, monitor.findings, len(ordered), monitor.judgement)
