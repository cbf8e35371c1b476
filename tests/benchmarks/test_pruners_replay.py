"""The pruner benchmark's replay machinery on a handful of hand-made trials (fast, no corpus)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `benchmarks` is a top-level folder, not an installed package
    sys.path.insert(0, str(REPO))

from benchmarks import pruners as bench  # noqa: E402
from benchmarks.corpus import FAMILIES, CorpusTrial, parametric  # noqa: E402
from sweeper.rules import Point, PrunerSettings  # noqa: E402

EPOCH = 75


def make_trial(name: str, level: float, epochs: int = 3, final_f1: float = 0.8, explain: bool = False,
               rise_at: float | None = None) -> CorpusTrial:
    """A demo-shaped trial: label loss decaying to `level` (x3 from `rise_at` of the run), an
    evaluation every 25 steps whose macro-F1 climbs to `final_f1`."""
    max_steps = epochs * EPOCH
    points = []
    for step in range(2, max_steps + 1, 2):
        t = step / max_steps
        label = level + 8.0 * math.exp(-t / 0.05) + 0.002 * ((step // 2) % 3 - 1)
        if rise_at is not None and t >= rise_at:
            label *= 3.0
        loss = label + (2.5 if explain else 0.0)
        points.append(Point(step=step, epoch=step / EPOCH, loss=loss, label_loss=label, learning_rate=1e-3))
        if step % 25 in (0, 1) and step > 2 or step == max_steps:
            eval_step = step if step % 25 == 0 or step == max_steps else step - 1
            f1 = final_f1 - 0.3 * (1 - t)
            points.append(Point(step=eval_step, epoch=eval_step / EPOCH, eval_loss=label, eval_label_loss=label,
                                eval_accuracy=f1, eval_macro_f1=f1))
    points.sort(key=lambda p: (p.step, p.loss is None))
    return CorpusTrial(name, "test", explain, max_steps, float(EPOCH), points, final_f1, {"learning_rate": 1e-3})


@pytest.fixture
def population() -> list[CorpusTrial]:
    # loss levels 0.1 .. 0.8: the lower the loss, the better the final F1; trial 0 is the best
    return [make_trial(f"t{i}", 0.1 * (i + 1), epochs=3, final_f1=0.95 - 0.05 * i) for i in range(8)]


def test_no_pruning_uses_all_compute_and_has_no_regret(population):
    outcome = bench.run_entry(bench.Entry("none", "-"), population, concurrency=4)
    metrics = bench.score(population, outcome)
    assert metrics["compute_fraction"] == 1.0
    assert metrics["regret"] == 0.0
    assert metrics["best_kept"] is True
    assert metrics["false_kills"] == 0 and metrics["pruned"] == 0


class _KillAtFirstResult(bench.Driver):
    """A pruner that stops every trial at its first result."""

    def __init__(self) -> None:
        self.queue: list[bench.Run] = []
        self.forced_resumes = 0

    def add(self, run):
        self.queue.append(run)

    def choose(self):
        return self.queue[0] if self.queue else None

    def start(self, run):
        self.queue.remove(run)

    def result(self, run, step, value):
        return "stop"

    def complete(self, run):
        raise AssertionError("no trial may complete")


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_pruner_that_kills_everything_early_uses_little_compute(population, concurrency):
    runs = bench.simulate(population, "loss", concurrency, _KillAtFirstResult())
    outcome = bench.Outcome([r.steps for r in runs], [r.completed for r in runs])
    metrics = bench.score(population, outcome)
    assert all(r.state == "stopped" and r.steps == 2 for r in runs)
    assert metrics["compute_fraction"] == pytest.approx(2 / (3 * EPOCH))
    assert metrics["best_kept"] is False
    assert metrics["regret"] == pytest.approx(0.95)  # nothing finished: the whole best is lost
    assert metrics["false_kills"] == 1  # top 10% of 8 trials is the best one


def test_optunas_own_threshold_pruner_kills_everything_through_a_real_study(population):
    import optuna

    driver = bench.OptunaDriver(optuna.pruners.ThresholdPruner(upper=0.0), "min")
    runs = bench.simulate(population, "loss", 2, driver)
    assert all(not r.completed and r.steps == 2 for r in runs)
    states = [t.state for t in driver.study.trials]
    assert states == [optuna.trial.TrialState.PRUNED] * len(population)


@pytest.mark.parametrize("concurrency", [1, 4])
def test_rays_asha_class_stops_the_worst_and_keeps_the_best(population, concurrency):
    outcome = bench.run_entry(bench.Entry("ray-asha", "loss"), population, concurrency)
    pruned = [not done for done in outcome.completed]
    assert any(pruned), "ASHA must stop someone at its one-epoch rung"
    assert outcome.completed[0], "the lowest loss is never under the rung's cutoff"
    # Stopped at the rung (one epoch = step 75 or the first result after it), not later.
    assert all(steps in (EPOCH, EPOCH + 1) for steps, p in zip(outcome.steps, pruned) if p)


def test_asha_on_the_loss_signal_kills_w_explain_trials_first():
    # Same label curves; the w-explain ones carry 2.5 nats of explanation tokens in `loss`.
    # The wo-explain trials come first, so ASHA's rung holds their (lower) losses when the others arrive.
    trials = [make_trial(f"n{i}", 0.3 + 0.05 * i, final_f1=0.8 - 0.01 * i) for i in range(4)]
    trials += [make_trial(f"e{i}", 0.1, final_f1=0.95 - 0.01 * i, explain=True) for i in range(4)]
    asha = bench.score(trials, bench.run_entry(bench.Entry("ray-asha", "loss"), trials, 1))
    ours = bench.score(trials, bench.run_entry(bench.Entry("sweeper", bench.OURS_SIGNAL, settings=PrunerSettings(num_classes=3)), trials, 1))
    assert asha["explain_kills"] > asha["no_explain_kills"]
    assert asha["best_kept"] is False  # the best trial is a w-explain one
    assert ours["pruned"] == 0 and ours["best_kept"] is True


def test_hyperband_pauses_and_resumes_and_every_trial_ends():
    from ray.tune.schedulers import HyperBandScheduler

    # max_t 225, eta 3: a bracket of 6 trials that never halves, then one of 9 that keeps 3.
    population = [make_trial(f"t{i}", 0.1 * (i + 1), epochs=3, final_f1=0.95 - 0.01 * i) for i in range(15)]

    scheduler = HyperBandScheduler(time_attr="step", metric="loss", mode="min", max_t=3 * EPOCH)
    driver = bench.RayDriver(scheduler, "loss")
    paused = []
    original = driver.result

    def spy(run, step, value):
        action = original(run, step, value)
        if action == "pause":
            paused.append(run.index)
        return action

    driver.result = spy
    runs = bench.simulate(population, "loss", 2, driver)
    assert paused, "HyperBand pauses trials that reach their rung before the bracket does"
    assert all(r.state in ("done", "stopped") for r in runs)
    resumed = [r for r in runs if r.index in paused and r.steps > min(s for s, _ in r.results)]
    assert resumed, "a paused trial must be resumed when the scheduler chooses it again"
    assert [r.completed for r in runs[6:]] == [True] * 3 + [False] * 6, "the 3 lowest losses of the second bracket go on"
    for r in runs:
        assert r.steps <= r.trial.max_steps
        assert r.completed == (r.state == "done" or r.steps >= r.trial.max_steps)


def test_ray_median_rule_stops_the_worst_at_concurrency_4(population):
    outcome = bench.run_entry(bench.Entry("ray-median", "loss"), population, 4)
    assert outcome.completed[0]
    assert not all(outcome.completed)
    assert not outcome.completed[-1], "the highest loss is below the median"


def test_our_rules_kill_a_divergent_trial_and_spare_a_healthy_one():
    settings = PrunerSettings(num_classes=3)
    divergent = make_trial("div", 0.3, epochs=3, rise_at=0.5)
    healthy = make_trial("ok", 0.3, epochs=3)
    stop = bench.ours_stop(divergent, settings)
    assert stop is not None and 0.5 * divergent.max_steps <= stop < divergent.max_steps
    assert bench.ours_stop(healthy, settings) is None


def test_top_k_after_one_epoch_finishes_exactly_k(population):
    outcome = bench.top_k_after_one_epoch(population, "eval_f1", 3)
    assert sum(outcome.completed) == 3
    assert outcome.completed[:3] == [True, True, True]  # the three highest F1 after epoch 1
    assert [s for s, done in zip(outcome.steps, outcome.completed) if not done] == [EPOCH] * 5


def test_false_kills_count_only_the_top_ten_percent():
    trials = [make_trial(f"t{i}", 0.2, final_f1=0.9 - 0.01 * i) for i in range(20)]  # top 10% = 2
    completed = [True] * 20
    completed[1] = completed[5] = False  # second best and a middling one
    metrics = bench.score(trials, bench.Outcome([t.max_steps if c else 75 for t, c in zip(trials, completed)], completed))
    assert metrics["false_kills"] == 1
    assert metrics["best_kept"] is True and metrics["regret"] == 0.0


def test_per_trial_peers_are_real_library_classes(population):
    # A loss flat to within noise after epoch 1: Ray's TrialPlateauStopper (std < 0.01 over 4 results) stops it.
    stop = bench.plateau_stopper_stop(population[0], "loss")
    assert stop is not None and stop < population[0].max_steps
    assert bench.patient_stop(population[0], "eval_f1") is None  # F1 climbs at every evaluation


def test_parametric_families_are_deterministic_and_carry_their_truth():
    first, second = parametric(seed=3, per_family=2), parametric(seed=3, per_family=2)
    assert [t.trial_id for t in first] == [t.trial_id for t in second]
    assert [t.points for t in first] == [t.points for t in second]
    assert {t.source for t in first} == set(FAMILIES)
    for trial in first:
        evals = [p for p in trial.points if p.eval_macro_f1 is not None]
        assert evals[-1].step == trial.max_steps and evals[-1].eval_macro_f1 == trial.final_f1
    late = [t.final_f1 for t in first if t.source == "late_bloomer"]
    assert min(late) > max(t.final_f1 for t in first if t.source != "late_bloomer")


def test_a_composition_stops_where_our_rules_do_and_asha_sees_the_rest(population):
    divergent = make_trial("div", 0.05, epochs=3, final_f1=0.5, rise_at=0.5)
    trials = [divergent] + population
    entry = bench.Entry("sweeper+ray-asha", f"{bench.OURS_SIGNAL} / loss", settings=PrunerSettings(num_classes=3))
    assert entry.peer_signal == "loss"
    outcome = bench.run_entry(entry, trials, concurrency=4)
    ours = bench.ours_stop(divergent, entry.settings)
    # the divergent trial has the lowest loss at ASHA's rung: only our rules can stop it, at their step
    assert not outcome.completed[0] and outcome.steps[0] == ours
    alone = bench.run_entry(bench.Entry("ray-asha", "loss"), trials, concurrency=4)
    assert alone.completed[0], "ASHA alone keeps the divergent trial (its loss was lowest at the rung)"
