"""The spec's `search` section as Ray Tune's param space and searcher."""

from __future__ import annotations

from typing import Any

from sweeper.spec import Dimension, SearchSpec

OBJECTIVE = "objective"  # what the searcher sees: the best value of the spec's metric so far


def tune_param_space(search: SearchSpec) -> dict[str, Any]:
    enumerate_all = search.algorithm == "grid"
    return {name: _domain(dim, enumerate_all) for name, dim in search.space.items()}


def _domain(dim: Dimension, enumerate_all: bool) -> Any:
    from ray import tune

    if enumerate_all or dim.kind == "grid":
        return tune.grid_search(dim.values)
    low_high = dim.values
    if dim.kind == "loguniform":
        return tune.loguniform(*low_high)
    if dim.kind == "uniform":
        return tune.uniform(*low_high)
    if dim.kind == "int":
        return tune.randint(low_high[0], low_high[1] + 1)  # the spec's int range is inclusive
    return tune.choice(dim.values)


def searcher(search: SearchSpec) -> Any:
    """A seeded searcher; Optuna's TPE behind a concurrency limit when max_concurrent is set."""
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if search.algorithm == "optuna-tpe":
        from sweeper.adapters.ray_search import StreamingOptunaSearch

        algo = StreamingOptunaSearch(metric=OBJECTIVE, mode=search.resolved_mode, seed=search.seed)
        if search.max_concurrent:
            return ConcurrencyLimiter(algo, max_concurrent=search.max_concurrent)
        return algo
    return BasicVariantGenerator(random_state=search.seed, max_concurrent=search.max_concurrent or 0)


def space_size(search: SearchSpec) -> str:
    """How many distinct configurations the space holds, in words."""
    if any(not dim.is_finite for dim in search.space.values()):
        return "continuous"
    size = 1
    for dim in search.space.values():
        size *= len(dim.values)
    return str(size)


def planned_trials(search: SearchSpec) -> int:
    if search.algorithm == "grid" or any(dim.kind == "grid" for dim in search.space.values()):
        grid = 1
        for dim in search.space.values():
            if dim.kind == "grid" or search.algorithm == "grid":
                grid *= len(dim.values)
        return grid * search.num_samples
    return search.num_samples

