"""Precedent: a run still at chance where the sweep's earlier runs were at chance too, and none of
those came near the sweep's best.

A run whose eval metric still sits at chance at 30% of its steps is either stuck or a late bloomer;
its own curve cannot say which (both are flat at chance until one of them blooms), so the per-run
rules wait for it (`PrunerSettings.stuck_span`) and the outpaced rule never judges it. The sweep can
say more: it has watched other runs of the same task pass the same point. This rule asks them.

At an eval point at fraction p = step / max_steps of the run (from `after` on, with at least
`min_evals` evals, the last step excluded), with the run at chance (its last two evals of the
judged metric at or below 1 / C + `chance_margin`: C classes; the rule needs `num_classes`):
- the precedents are the runs of the sweep that ran to their end (their final metric and eval
  curve by fraction of their own max_steps: `sweeper.rules.sweep.FinishedRun`);
- the comparable ones were at chance at fraction p too (the median of their evals nearest at or
  before p, `curve_level`);
- it fires when at least `min_peers` of them exist and none ended within `margin` of the sweep's
  best final metric (the best precedent).

A sweep in which runs do bloom late keeps them: a late bloomer that finished was at chance at p
and ended at the top, so from then on the rule is silent at p for every run. A sweep with no
comparable precedent yet keeps its runs too: the rule needs `min_peers` of them, so the first runs
at chance run as far as the per-run rules let them, and teach the sweep what chance at p leads to.
The one risk is a late bloomer whose sweep has so far only seen runs that stayed at chance and ran
to their end; `min_peers` bounds it.
"""

from __future__ import annotations

from sweeper.rules import _check
from sweeper.rules.outpaced import curve_level, judged_value
from sweeper.rules.point import Finding, Point
from sweeper.rules.sweep import NO_SWEEP, Sweep


class PrecedentRule:
    """Fire when the run is at chance where `min_peers` finished runs of the sweep were at chance
    too and none of them ended within `margin` of the best (see the module docstring); kind
    "precedent". Never fires without finished runs."""

    name = "precedent"
    verdict = "plateau"  # a run that will not get anywhere worth its compute, like a stuck one

    def __init__(self, max_steps: float, num_classes: int, after: float = 0.3, min_peers: int = 1,
                 margin: float = 0.05, chance_margin: float = 0.1, min_evals: int = 2) -> None:
        self._max_steps = _check.positive("max_steps", max_steps)
        self._chance = 1.0 / _check.integer("num_classes", num_classes, 2) + _check.fraction("chance_margin", chance_margin)
        self._from_step = _check.fraction("after", after) * max_steps
        self._min_peers = _check.integer("min_peers", min_peers, 1)
        self._margin = float(_check.fraction("margin", margin))
        self._min_evals = _check.integer("min_evals", min_evals, 2)
        self._values: list[float] = []  # the last two evals
        self._evals = 0
        self._metric: str | None = None
        self.active: Finding | None = None

    def observe(self, point: Point, sweep: Sweep = NO_SWEEP) -> Finding | None:
        self._metric, value = judged_value(point, self._metric)
        if value is None:
            return None
        self._values = (self._values + [value])[-2:]
        self._evals += 1
        precedents = sweep.finished
        if self.active is not None or not precedents:
            return None
        if point.step < self._from_step or point.step >= self._max_steps or self._evals < self._min_evals:
            return None
        if max(self._values) > self._chance:
            return None  # left chance (or is leaving it): the outpaced rule judges such a run
        fraction = point.step / self._max_steps
        best = sweep.best.final
        comparable = [p for p in precedents if (level := curve_level(p.curve, fraction)) is not None and level <= self._chance]
        if len(comparable) < self._min_peers:
            return None
        best_of_them = max(p.final for p in comparable)
        if best_of_them >= best - self._margin:
            return None
        self.active = self._finding(point, fraction, len(comparable), best_of_them, best)
        return self.active

    def _finding(self, point: Point, fraction: float, peers: int, best_of_them: float, best: float) -> Finding:
        metric = self._metric or "eval metric"
        message = (
            f"no precedent: {metric} still at chance ({', '.join(f'{v:.3g}' for v in self._values)} <= "
            f"{self._chance:.3g}) at {fraction:.0%} of its steps; {peers} finished trials of this sweep were at chance "
            f"at {fraction:.0%} of theirs too, and the best of them ended at {best_of_them:.3g}, more than "
            f"{self._margin:g} below the sweep's best {best:.3g}"
        )
        evidence = {
            "signal": "eval_macro_f1" if metric == "eval macro-F1" else "eval_accuracy",
            "test": "precedent",
            "latest": list(self._values),
            "chance_line": self._chance,
            "fraction": fraction,
            "peers": peers,
            "best_of_peers": best_of_them,
            "best": best,
        }
        return Finding(self.verdict, self.name, point.step, point.epoch, "precedent", message, evidence)
