"""ConvergencePruner in a real Optuna study: divergent and stuck trials pruned, healthy ones complete."""

from __future__ import annotations

import math
import random

import pytest

optuna = pytest.importorskip("optuna")

from sweeper.adapters.optuna_pruner import ConvergencePruner  # noqa: E402
from sweeper.rules import PrunerSettings  # noqa: E402

optuna.logging.set_verbosity(optuna.logging.WARNING)
STEPS = 150


def divergent(step: int, rng: random.Random) -> float:
    return math.nan if step >= 30 else 2.0 - step / 100


def stuck(step: int, rng: random.Random) -> float:
    return 1.5 * (1 + rng.gauss(0, 0.003))


def healthy(step: int, rng: random.Random) -> float:
    return (0.3 + 1.7 * math.exp(-step / 60)) * (1 + rng.gauss(0, 0.01))


def staircase(step: int, rng: random.Random) -> float:
    return 1.0 * 0.8 ** ((step - 1) // 50) * (1 + rng.gauss(0, 0.01))


def _study(curves, pruner):
    reported: dict[int, list[int]] = {}

    def objective(trial):
        curve = curves[trial.number]
        rng = random.Random(trial.number)
        reported[trial.number] = []
        for step in range(1, STEPS + 1):
            trial.report(curve(step, rng), step)
            reported[trial.number].append(step)
            if trial.should_prune():
                raise optuna.TrialPruned()
            trial.should_prune()  # asked twice for one report: must not count the point twice
        return 0.0

    study = optuna.create_study(direction="minimize", pruner=pruner)
    study.optimize(objective, n_trials=len(curves))
    return study, reported


def test_divergent_and_stuck_pruned_healthy_completes():
    pruner = ConvergencePruner()
    study, reported = _study([divergent, stuck, healthy, healthy], pruner)
    states = [t.state for t in study.trials]
    assert states == [
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.PRUNED,
        optuna.trial.TrialState.COMPLETE,
        optuna.trial.TrialState.COMPLETE,
    ]
    assert reported[0][-1] == 30  # divergence: at once, on the NaN
    assert 60 <= reported[1][-1] <= 70  # stuck: as soon as the plateau rule may judge (3 x 20 points)
    assert pruner.monitor(0).stopped.verdict == "divergence"
    assert (pruner.monitor(1).stopped.verdict, pruner.monitor(1).stopped.kind) == ("plateau", "stuck")
    assert pruner.monitor(2).verdict == "healthy"
    # fed incrementally: one observation per report, none replayed, none doubled
    assert [pruner.monitor(n).points for n in range(4)] == [len(reported[n]) for n in range(4)]


def test_grace_from_max_steps_delays_the_stuck_stop():
    pruner = ConvergencePruner(PrunerSettings(grace_fraction=0.5), max_steps=STEPS)
    study, reported = _study([stuck, divergent], pruner)
    assert reported[0][-1] == 75  # found at 60, inside grace (75 steps), stopped at its end
    assert reported[1][-1] == 30  # divergence ignores grace
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)


def test_disabled_never_prunes_but_still_judges():
    pruner = ConvergencePruner(PrunerSettings(enabled=False))
    study, _ = _study([divergent, stuck], pruner)
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert [pruner.monitor(n).verdict for n in range(2)] == ["divergence", "plateau"]


def test_steps_per_epoch_lets_the_staircase_rule_see_epochs():
    # a reported value carries no eval metrics, so a staircase is "unjudged": kept by "auto" ...
    study, _ = _study([staircase], ConvergencePruner(steps_per_epoch=50))
    assert study.trials[0].state == optuna.trial.TrialState.COMPLETE
    # ... and stopped by staircase="stop" at the first cliff's evidence (15 points into epoch 2)
    study, reported = _study([staircase], ConvergencePruner(PrunerSettings(staircase="stop"), steps_per_epoch=50))
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    assert reported[0][-1] == 65


def test_rebuilds_a_trial_it_has_not_seen_by_replaying_its_values():
    # a trial reported elsewhere (another process) or evicted from the cache
    pruner = ConvergencePruner(max_trials_cached=1)
    flat = _frozen({step: 1.5 + 0.001 * (step % 3) for step in range(1, 81)}, number=7)
    assert pruner.prune(None, flat) is True
    assert pruner.monitor(7).points == 60  # replayed up to the stop (the plateau is judged at 60 points)
    other = _frozen({1: 1.0}, number=8)
    assert pruner.prune(None, other) is False
    assert pruner.monitor(7) is None  # evicted (cache of 1)
    assert pruner.prune(None, flat) is True  # rebuilt from its values


def _frozen(values, number):
    trial = optuna.trial.create_trial(value=0.0, intermediate_values=values)
    trial.number = number
    return trial


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"settings": {"grace_steps": 3}}, "settings must be a PrunerSettings or None, got dict."),
        ({"max_trials_cached": 0}, "max_trials_cached must be an int >= 1, got 0."),
        ({"max_steps": -1}, "max_steps must be a number > 0 or None, got -1."),
        ({"steps_per_epoch": 0}, "steps_per_epoch must be a number > 0 or None, got 0."),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError) as error:
        ConvergencePruner(**kwargs)
    assert str(error.value) == message
