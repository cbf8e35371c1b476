"""Ray Tune's OptunaSearch, made to accept a stream of points of which only some carry the metric."""

from __future__ import annotations

from typing import Any

from ray.tune.search.optuna import OptunaSearch


class StreamingOptunaSearch(OptunaSearch):
    """Our trials report every training point; only evaluations carry the objective.

    Ray's class indexes `result[metric]` on every result and would fail the trial; this one
    passes on only the results that have it. Completion (including pruning) is unchanged.
    """

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if result.get(self.metric) is not None:
            super().on_trial_result(trial_id, result)
