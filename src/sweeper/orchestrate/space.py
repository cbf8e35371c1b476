"""The spec's `search` section as Ray Tune's param space and searcher.

`explanation_position` only matters when a trial includes explanations, so when both are
searched by Optuna's TPE the space is define-by-run: a trial without explanations is given no
position (it keeps train.explanation_position, unused), and TPE never spends trials on two
positions of the same wo-explain configuration.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from sweeper.spec import Dimension, SearchSpec

OBJECTIVE = "objective"  # what the searcher sees: the best value of the spec's metric so far
# Sent with each checkpoint: the spec's metric at its step, so Ray keeps each trial's best
# checkpoint beside its latest; the worst possible value when no eval ran at that step.
CHECKPOINT_SCORE = "checkpoint_score"


CONDITIONAL = {"explanation_position": "include_explanation"}  # setting -> the boolean it only matters under


def conditional(search: SearchSpec) -> bool:
    """Whether the space is define-by-run (TPE over a setting and the one it only matters under)."""
    return search.algorithm == "optuna-tpe" and any(
        name in search.space and parent in search.space for name, parent in CONDITIONAL.items()
    )


def tune_param_space(search: SearchSpec) -> dict[str, Any]:
    if conditional(search):
        return {}  # the searcher samples the space itself (define_by_run)
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

        space = partial(define_by_run, search) if conditional(search) else None  # picklable: Ray saves the searcher
        algo = StreamingOptunaSearch(space=space, metric=OBJECTIVE, mode=search.resolved_mode, seed=search.seed)
        if search.max_concurrent:
            return ConcurrencyLimiter(algo, max_concurrent=search.max_concurrent)
        return algo
    return BasicVariantGenerator(random_state=search.seed, max_concurrent=search.max_concurrent or 0)


def define_by_run(search: SearchSpec, trial: Any) -> None:
    """Sample one configuration on an Optuna trial; a conditional setting only under its parent."""
    parents = set(CONDITIONAL.values())
    order = sorted(search.space, key=lambda name: name not in parents)  # parents first
    for name in order:
        parent = CONDITIONAL.get(name)
        if parent in search.space and not trial.params.get(parent):
            continue
        dim = search.space[name]
        low_high = dim.values
        if dim.kind == "loguniform":
            trial.suggest_float(name, *low_high, log=True)
        elif dim.kind == "uniform":
            trial.suggest_float(name, *low_high)
        elif dim.kind == "int":
            trial.suggest_int(name, *low_high)
        else:
            trial.suggest_categorical(name, dim.values)


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

