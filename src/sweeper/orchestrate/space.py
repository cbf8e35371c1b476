"""The spec's `search` section as Ray Tune's param space and searcher.

`explanation_position` only matters when a trial includes explanations. A trial's *effective
settings* are its searched values with such a setting blanked (None) when the one it depends on
is off: two trials with equal effective settings train the same run.

- Under Optuna's TPE the space is define-by-run: a trial without explanations is given no
  position (it keeps train.explanation_position, unused).
- A grid (algorithm grid, or the `grid` dimensions of a random search) is enumerated here, each
  distinct combination of effective settings once (`grid_points`), and handed to Ray as the
  points its variant generator runs: include_explanation x explanation_position is 3 trials, not 4.
- Anything else that still comes out equal (TPE or a random draw suggesting a categorical
  configuration again, a grid repeated by num_samples) is caught when the trial starts
  (sweeper.orchestrate.duplicates).
"""

from __future__ import annotations

import itertools
from functools import partial
from typing import Any, Hashable

from sweeper.spec import Dimension, SearchSpec
from sweeper.spec.schema import TrainSettings

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


def effective_params(search: SearchSpec, params: dict[str, Any], train: TrainSettings | None = None) -> dict[str, Any]:
    """Each searched setting's value as the trial uses it; None for one it does not use (a
    conditional setting whose parent is off in `params`, or in `train` when the parent is not
    searched). A parent that is searched but absent from `params` counts as on."""
    train = train if train is not None else TrainSettings()
    effective = {}
    for name in search.space:
        value = _plain(params.get(name))
        parent = CONDITIONAL.get(name)
        if parent is not None:
            on = params[parent] if parent in params else (parent in search.space or getattr(train, parent))
            if not on:
                value = None
        effective[name] = value
    return effective


def settings_key(search: SearchSpec, params: dict[str, Any], train: TrainSettings | None = None) -> tuple[Hashable, ...]:
    """Equal for two trials exactly when their effective settings are equal. Values compare as
    Python does (1 == 1.0); a float drawn from a range equals another only if it is the same number."""
    return tuple((name, _frozen(value)) for name, value in sorted(effective_params(search, params, train).items()))


def _frozen(value: Any) -> Hashable:
    """A hashable value equal for equal values: lists (lora_target: [q_proj, v_proj]) as tuples."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    return value


def _plain(value: Any) -> Any:
    """A numpy scalar (Ray's samplers) as the Python value it holds."""
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes)) else value


def enumerated(search: SearchSpec, *, scalar: bool | None = None) -> list[str]:
    """The dimensions Ray enumerates: all of a grid search, the `grid` ones of a random search;
    with `scalar`, only those whose values are all (or not all) plain scalars."""
    if search.algorithm == "optuna-tpe":
        return []
    names = [name for name, dim in search.space.items() if search.algorithm == "grid" or dim.kind == "grid"]
    if scalar is None:
        return names
    return [name for name in names if all(isinstance(v, (str, int, float)) for v in search.space[name].values) is scalar]


def grid_points(search: SearchSpec, train: TrainSettings | None = None) -> list[dict[str, Any]]:
    """The distinct combinations of the enumerated dimensions with scalar values, by effective
    settings, in grid order (the last dimension varies fastest), each num_samples times; [] when
    there are none. Ray crosses each point with the enumerated dimensions whose values are lists
    (lora_target: [all, [q_proj, v_proj]]: Ray takes a point's list for a nested setting, so those
    stay Ray's own grid; a repeat among them is caught at run time).

    A setting the combination does not use is given its dimension's first value: Ray needs a
    value for every key it enumerates, and the trial ignores it."""
    names = enumerated(search, scalar=True)
    if not names:
        return []
    seen: set[tuple[Hashable, ...]] = set()
    distinct = []
    for values in itertools.product(*(search.space[name].values for name in names)):
        point = dict(zip(names, values))
        key = settings_key(search, point, train)  # the other dimensions are None in every point
        if key in seen:
            continue
        seen.add(key)
        unused = effective_params(search, point, train)
        distinct.append({name: search.space[name].values[0] if unused[name] is None else value
                         for name, value in point.items()})
    return [dict(point) for _ in range(search.num_samples) for point in distinct]


def tune_param_space(search: SearchSpec) -> dict[str, Any]:
    if conditional(search):
        return {}  # the searcher samples the space itself (define_by_run)
    # Enumerated dimensions are set by grid_points (every point sets all of them); the domain is
    # only what Ray checks a point's value against.
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


def searcher(search: SearchSpec, train: TrainSettings | None = None, max_concurrent: int | None = None) -> Any:
    """A seeded searcher; Optuna's TPE behind a concurrency limit; for a grid, Ray's variant
    generator given the distinct grid points. The searcher holds the sweep's cap on trials in
    flight (`max_concurrent`, default `search.max_concurrent`): Tune's own `max_concurrent_trials`
    is silently ignored for a variant generator and clashes with a different limiter."""
    max_concurrent = max_concurrent or search.max_concurrent
    from ray.tune.search import BasicVariantGenerator, ConcurrencyLimiter

    if search.algorithm == "optuna-tpe":
        from sweeper.adapters.ray_search import StreamingOptunaSearch

        space = partial(define_by_run, search) if conditional(search) else None  # picklable: Ray saves the searcher
        algo = StreamingOptunaSearch(space=space, metric=OBJECTIVE, mode=search.resolved_mode, seed=search.seed)
        if max_concurrent:
            return ConcurrencyLimiter(algo, max_concurrent=max_concurrent)
        return algo
    return BasicVariantGenerator(
        points_to_evaluate=grid_points(search, train) or None,
        random_state=search.seed,
        max_concurrent=max_concurrent or 0,
    )


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


def space_size(search: SearchSpec, train: TrainSettings | None = None) -> str:
    """How many distinct configurations (by effective settings) the space holds, in words."""
    if any(not dim.is_finite for dim in search.space.values()):
        return "continuous"
    names = list(search.space)
    combinations = itertools.product(*(search.space[name].values for name in names))
    return str(len({settings_key(search, dict(zip(names, values)), train) for values in combinations}))


def ray_num_samples(search: SearchSpec, train: TrainSettings | None = None) -> int:
    """Ray's num_samples: one per grid point when there are any (each replaces one sample)."""
    return len(grid_points(search, train)) or search.num_samples


def planned_trials(search: SearchSpec, train: TrainSettings | None = None) -> int:
    """The trials Ray makes: its samples, each crossed with the enumerated list-valued dimensions."""
    crossed = 1
    for name in enumerated(search, scalar=False):
        crossed *= len(search.space[name].values)
    return ray_num_samples(search, train) * crossed
