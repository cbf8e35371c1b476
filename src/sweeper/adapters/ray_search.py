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


def with_sample_limit(searcher: Any, num_samples: int) -> Any:
    """`searcher` (as Tuner.restore gave it back) made to propose trials up to `num_samples`.

    Ray restores a searcher's sample limit from its snapshot along with its state; a sweep
    extended with `resume --set search.num_samples=N` raises the limit after that restore.
    """
    from ray.tune.search import SearchGenerator

    class ExtendedSearch(SearchGenerator):
        def set_state(self, state: dict[str, Any]) -> None:
            super().set_state(state)
            self._total_samples = num_samples
            self._finished = False

    return ExtendedSearch(searcher)
