"""The points of a trial the driver may stop it at, which its reporter sends at once.

A single-worker trial sends its points in batches (`sweeper.orchestrate.trainable.RayReporter`)
and waits at each send until the driver took it. The driver's scheduler feeds a batch's points to
the trial's CurveMonitor one by one and stops the trial at the point that fires, but the trial has
trained to the batch's last point by then. A batch that ends at every point a stop can fall on
wastes no steps. The scheduler (`sweeper.adapters.ray_scheduler`) stops a trial only at:

- an evaluation point: the cross-trial rules (outpaced, precedent, forecast) find only there. Evals
  are rare, so sending each at once costs few round trips;
- a point at which the trial's own rules stop it: a CurveMonitor here, over the same points, built
  the same way (`CurveMonitor.for_run`) from the same settings and facts, without the sweep
  (NO_SWEEP), decides what the driver's decides on them: the rules are deterministic;
- the first point at or after grace: a cross-trial finding made during grace stops the run there.

A trial restarted from a checkpoint is judged here only from the points it sends again, while the
driver's monitor also knows the points before them, so the two may disagree. That can make a send
early, never late: the reporter's time limit still holds, and every point is still sent in order.
"""

from __future__ import annotations

from typing import Any, Mapping

from sweeper.rules.monitor import CurveMonitor, PrunerSettings
from sweeper.rules.point import Batch


class DecisivePoints:
    """Tells, point by point, whether a trial's reports must reach the driver now."""

    def __init__(self, settings: PrunerSettings) -> None:
        if not isinstance(settings, PrunerSettings):
            raise ValueError(f"settings must be a PrunerSettings, got {type(settings).__name__}.")
        self._settings = settings
        self._monitor: CurveMonitor | None = None  # made from the facts of the first point
        self._past_grace = False

    def send_now(self, metrics: Mapping[str, Any]) -> bool:
        """Whether the report `metrics` (one dict the trial reported) ends a batch."""
        # Parsed as the driver parses it: a report of only a step and facts (beside a checkpoint)
        # is a point there too, and the monitors must see the same points.
        batch = Batch.parse(metrics)
        if not batch.points:
            return False
        (point,) = batch.points
        if not self._settings.enabled:
            return point.is_eval  # nothing is stopped: only the evals, which cost few round trips
        if self._monitor is None:
            self._monitor = CurveMonitor.for_run(self._settings, batch.facts)
        monitor = self._monitor
        stopped_before = monitor.stopped is not None
        # Stopped here but not by the driver (a restarted trial, see above): later points are batched again.
        stops = monitor.observe(point).stop and not stopped_before
        first_past_grace = not self._past_grace and point.step >= monitor.grace
        self._past_grace = self._past_grace or first_past_grace
        return point.is_eval or stops or first_past_grace
