"""Pruner benchmark: our rules against ASHA, median, Hyperband, plateau stoppers and one-epoch top-K,
replayed on the same whole curves.

    python -m benchmarks.pruners [--orders 200] [--sweep-size 24] [--workers 2]

Writes results/bench/pruners.csv (one row per corpus, pruner and signal; corpora: the real demo
corpus, the parametric families, and the second real corpus `topics`, a task unlike the demo that
the rules were never tuned on), results/bench/pruners_families.csv (kill rate per curve family),
results/bench/pruners.md and results/bench/pruners.png.

A replayed sweep is `--sweep-size` trials drawn from a corpus (benchmarks/corpus.py) in a random
order, run `c` at a time (c = 1 and 4). Time is counted in training steps, every trial at the same
speed: a discrete-event simulation in which each running trial reports its points at
start + step, so population pruners see the other trials' progress as they would in a real sweep.
Every pruner sees the same orders and the same points:

- sweeper: our rules as the sweep runs them: the real `ConvergenceScheduler(PrunerSettings(num_classes=3))`
  (default settings), one per replayed sweep, driven with stand-in trials in the sweep's interleaved
  order and fed every point a trial reported (training points with label_loss, evaluation points)
  with the trial's max_steps and steps_per_epoch; so the cross-trial reference of the outpaced rule
  (the best final eval metric of the completed trials) evolves as in a real sweep.
- Ray Tune's AsyncHyperBandScheduler, HyperBandScheduler, MedianStoppingRule and
  TrialPlateauStopper, and Optuna's MedianPruner, SuccessiveHalvingPruner, HyperbandPruner and
  PatientPruner: the libraries' own classes, driven by a stand-in trial and controller (Ray) or a
  real in-memory study with ask / report / should_prune / tell (Optuna). They get the signal users
  give them: the training `loss` (mode min) or the eval macro-F1 at evaluation points (mode max);
  each is fed only the results that carry its signal.
- top3-after-1-epoch: every trial runs one epoch, the 3 best by the signal at the end of epoch 1
  run to their end (Egele et al. 2023).
- none: no pruning.
- extra rows, labelled NOT shipped (the former aggressive-settings row is dropped, see EXTRA_SETTINGS):
  our per-trial rules composed with Ray's ASHA on eval macro-F1
  (`sweeper+ray-asha`: a trial stops when either says so).

Peer configurations (what a user of this task would write; library defaults otherwise): Ray's
schedulers use `time_attr="step"`; ASHA max_t = 375 (the longest trial, 5 epochs), grace 75 (one
epoch), reduction 4; HyperBand max_t = 375, eta 3; MedianStoppingRule grace 75, 3 samples, hard
stop; TrialPlateauStopper std 0.01 over 4 results. Optuna: MedianPruner(), SuccessiveHalvingPruner(),
HyperbandPruner() with defaults; PatientPruner(None, patience=37 loss reports or 3 evaluations:
about one epoch). Trials are all queued at the start (Tune queues a random search's whole list),
so HyperBand fills its brackets in trial order and MedianStoppingRule yields (pauses) trials
while it lacks samples, as it does in Tune. When nothing runs and the scheduler offers nothing
(Ray's HyperBand does not re-process a bracket after its first halving when the last running
trial of the bracket ends early: Tune would wait forever), the oldest paused trial is resumed;
the CSV counts these `forced_resumes`.

Per sweep: compute used (steps run / steps of the unpruned sweep), whether the true best trial
(highest final eval macro-F1 of the sweep) ran to completion, regret (that best minus the best
final macro-F1 among trials that ran to completion), false kills (pruned trials whose final
macro-F1 is in the sweep's top 10%), and kills of w-explain and wo-explain trials. Rows average
over all replayed sweeps (orders x concurrencies).
"""

from __future__ import annotations

import argparse
import csv
import heapq
import itertools
import logging
import math
import os
import random
import statistics
import sys
import time
import warnings
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterable

from benchmarks.corpus import DEMO, TOPICS, CorpusTrial, load_demo, parametric
from sweeper.rules import CurveMonitor, PrunerSettings

OUT = Path("results") / "bench"
SWEEP_SIZE = 24
ORDERS = 200
CONCURRENCY = (1, 4)
TOP_K = 3
NEAR_BEST = 0.01  # a sweep whose finished best is within 0.01 macro-F1 of the true best
TOP_FRACTION = 0.10  # false kill: a pruned trial that would have finished in the sweep's top 10%
EPOCH_STEPS = 75  # the demo task's steps per epoch: the grace period of the peers that take one
MAX_STEPS = 5 * EPOCH_STEPS  # the longest trial of the corpus (5 epochs): max_t of ASHA / HyperBand
PATIENCE = {"loss": 37, "eval_f1": 3}  # PatientPruner: about one epoch of reports
SIGNALS = {"loss": ("loss", "min"), "eval_f1": ("eval_macro_f1", "max")}
OURS_SIGNAL = "label_loss+eval"

# The frontier's bar (benchmarks.frontier): the least compute that keeps the best in >= 95% of sweeps.
TARGET_COMPUTE = 1 / 3
TARGET_BEST_KEPT = 0.95
REAL = ("demo", "topics")  # the real corpora (the rest is parametric)


@dataclass(frozen=True)
class Task:
    """What a pruner is told of a corpus's task: its classes (ours), and an epoch and the longest
    trial in steps (the peers' grace period and max_t); the issue's targets on it."""

    num_classes: int
    eval_rows: int  # the binomial noise of its eval metric (a sweep fills it from its eval data)
    epoch_steps: int
    max_steps: int
    target_compute: float  # at most this share of the unpruned steps ...
    target_best_kept: float  # ... with the true best kept in at least this share of sweeps


TASKS = {
    "demo": Task(3, 120, EPOCH_STEPS, MAX_STEPS, 0.50, 0.98),
    "parametric": Task(3, 120, EPOCH_STEPS, MAX_STEPS, 0.75, 0.99),  # demo-sized layout and evals
    "topics": Task(6, 180, 60, 240, 1.0, 0.97),
}


# -- signals -----------------------------------------------------------------------------------


def stream(trial: CorpusTrial, signal: str) -> list[tuple[int, float]]:
    """The (step, value) results of one trial that carry `signal`, one per step (the last one wins)."""
    cache = trial.__dict__.setdefault("_streams", {})
    if signal == OURS_SIGNAL and signal not in cache:
        # our scheduler gets every point as a result dict, as the trainable reports it
        extra = {"max_steps": trial.max_steps, "steps_per_epoch": trial.steps_per_epoch}
        cache[signal] = [(p.step, {**p.as_dict(), **extra}) for p in sorted(trial.points, key=lambda p: p.step)]
    if signal not in cache:
        name = SIGNALS[signal][0]
        by_step: dict[int, float] = {}
        for point in trial.points:
            value = getattr(point, name)
            if value is not None:
                by_step[point.step] = value
        cache[signal] = sorted(by_step.items())
    return cache[signal]


# -- per-trial pruners: a decision that depends on the trial's own curve only --------------------
# Their stop step is computed once per corpus trial and reused in every replayed sweep: the same
# decision a per-sweep run would reach, since nothing of the other trials enters it.


def ours_stop(trial: CorpusTrial, settings: PrunerSettings) -> int | None:
    """Step at which our rules stop the trial, fed every point it reported; None: runs to the end."""
    monitor = CurveMonitor(settings, max_steps=trial.max_steps, steps_per_epoch=trial.steps_per_epoch)
    for point in trial.points:
        if monitor.observe(point).stop:
            return point.step
    return None


def plateau_stopper_stop(trial: CorpusTrial, signal: str, **knobs: Any) -> int | None:
    """Ray Tune's TrialPlateauStopper (defaults: std 0.01 over 4 results, grace 4 results;
    `knobs` override them, as the frontier's knob sweep does)."""
    from ray.tune.stopper import TrialPlateauStopper

    metric, mode = SIGNALS[signal]
    stopper = TrialPlateauStopper(metric=metric, mode=mode, **knobs)
    for step, value in stream(trial, signal):
        if stopper(trial.trial_id, {"step": step, metric: value}):
            return step
    return None


def patient_stop(trial: CorpusTrial, signal: str, patience: int | None = None) -> int | None:
    """Optuna's PatientPruner(None, patience) on a real study: prune when no new best for `patience`
    reports (default: about one epoch of the signal's reports, PATIENCE)."""
    import optuna

    _, mode = SIGNALS[signal]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # PatientPruner is "experimental"
        pruner = optuna.pruners.PatientPruner(None, patience=PATIENCE[signal] if patience is None else patience)
    study = optuna.create_study(
        direction="minimize" if mode == "min" else "maximize",
        pruner=pruner,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    handle = study.ask()
    for step, value in stream(trial, signal):
        handle.report(value, step)
        if handle.should_prune():
            return step
    return None


# -- population pruners: a discrete-event sweep ------------------------------------------------


@dataclass(eq=False)
class Run:
    """One trial of a replayed sweep."""

    index: int
    trial: CorpusTrial
    results: list[tuple[int, float]]
    pos: int = 0  # next result to report
    steps: int = 0  # steps trained so far
    state: str = "pending"  # pending | running | paused | stopped | done
    offset: float = 0.0  # clock time of step 0 of the current stint
    token: int = 0  # invalidates queued events of an earlier stint
    handle: Any = None  # the library's trial object
    stop_at: int | None = None  # a second pruner (ours, in a composition) stops the trial at this step

    @property
    def completed(self) -> bool:
        return self.steps >= self.trial.max_steps


class Driver:
    """What the simulation asks a pruner library: add, choose, start, result, complete."""

    forced_resumes = 0

    def add(self, run: Run) -> None: ...
    def choose(self) -> Run | None: ...
    def start(self, run: Run) -> None: ...
    def result(self, run: Run, step: int, value: float) -> str: ...  # "continue" | "stop" | "pause"
    def complete(self, run: Run) -> None: ...
    def external_stop(self, run: Run) -> None: ...  # another pruner stopped the running trial


def simulate(trials: list[CorpusTrial], signal: str, concurrency: int, driver: Driver,
             stop_at: list[int | None] | None = None) -> list[Run]:
    """Run one sweep: all trials are queued at once (a random search queues its whole list), up to
    `concurrency` run at a time, each reporting its results at (start of stint) + step. A paused
    trial resumes where it left off (checkpoint), from whenever the driver chooses it again.
    `stop_at` (per trial) composes a per-trial pruner: the trial also stops at that step."""
    runs = [Run(i, t, stream(t, signal)) for i, t in enumerate(trials)]
    if stop_at is not None:
        for run, step in zip(runs, stop_at):
            run.stop_at = step
    for run in runs:
        driver.add(run)
    events: list[tuple[float, int, int, Run]] = []
    seq = itertools.count()

    def schedule(run: Run) -> None:
        step = run.results[run.pos][0] if run.pos < len(run.results) else run.trial.max_steps
        if run.stop_at is not None:
            step = min(step, run.stop_at)
        heapq.heappush(events, (run.offset + step, next(seq), run.token, run))

    def fill(now: float) -> None:
        while sum(r.state == "running" for r in runs) < concurrency:
            run = driver.choose()
            if run is None:
                if any(r.state == "running" for r in runs):
                    return
                paused = [r for r in runs if r.state == "paused"]
                if not paused:
                    return
                # Nothing runs and the scheduler offers nothing: Tune would hang; resume FIFO.
                run = paused[0]
                driver.forced_resumes += 1
            run.state = "running"
            run.offset = now - run.steps
            run.token += 1
            driver.start(run)
            schedule(run)

    fill(0.0)
    while events:
        now, _, token, run = heapq.heappop(events)
        if token != run.token or run.state != "running":
            continue
        if run.stop_at is not None and run.offset + run.stop_at <= now:
            run.steps = run.stop_at
            run.state = "stopped"
            driver.external_stop(run)
        elif run.pos < len(run.results):
            step, value = run.results[run.pos]
            run.pos += 1
            run.steps = step
            action = driver.result(run, step, value)
            if action == "continue":
                schedule(run)
                continue
            run.state = "stopped" if action == "stop" else "paused"
        else:
            run.steps = run.trial.max_steps
            run.state = "done"
            driver.complete(run)
        fill(now)
    return runs


# Ray Tune ------------------------------------------------------------------------------------


class _RayTrial:
    """The part of ray.tune.experiment.Trial the schedulers touch."""

    def __init__(self, trial_id: str, config: dict[str, Any]) -> None:
        from ray.tune.experiment import Trial

        self.trial_id = trial_id
        self.config = config
        self.status = Trial.PENDING
        self.is_saving = False
        self.last_result: dict[str, Any] = {}
        self.iteration = 0

    def __repr__(self) -> str:
        return self.trial_id


class _RayController:
    """The part of TuneController the schedulers call, with Tune's semantics for stop_trial."""

    def __init__(self, driver: "RayDriver") -> None:
        self._driver = driver
        self.trials: list[_RayTrial] = []

    def get_trials(self) -> list[_RayTrial]:
        return self.trials

    def get_live_trials(self) -> list[_RayTrial]:
        from ray.tune.experiment import Trial

        return [t for t in self.trials if t.status not in (Trial.TERMINATED, Trial.ERROR)]

    def stop_trial(self, trial: _RayTrial) -> None:
        # As TuneController.stop_trial: PENDING/PAUSED -> on_trial_remove; RUNNING -> on_trial_complete.
        from ray.tune.experiment import Trial

        scheduler = self._driver.scheduler
        if trial.status in (Trial.ERROR, Trial.TERMINATED):
            return
        if trial.status in (Trial.PENDING, Trial.PAUSED):
            scheduler.on_trial_remove(self, trial)
            run = self._driver.runs[trial.trial_id]
            run.state = "stopped"
        else:
            scheduler.on_trial_complete(self, trial, trial.last_result)
        trial.status = Trial.TERMINATED

    def pause_trial(self, trial: _RayTrial, should_checkpoint: bool = True) -> None:
        from ray.tune.experiment import Trial

        trial.status = Trial.PAUSED


class RayDriver(Driver):
    def __init__(self, scheduler: Any, metric: str) -> None:
        self.scheduler = scheduler
        self.metric = metric
        self.controller = _RayController(self)
        self.runs: dict[str, Run] = {}
        self.forced_resumes = 0

    def add(self, run: Run) -> None:
        trial = _RayTrial(f"t{run.index:03d}", dict(run.trial.params))
        run.handle = trial
        self.runs[trial.trial_id] = run
        self.controller.trials.append(trial)
        self.scheduler.on_trial_add(self.controller, trial)

    def choose(self) -> Run | None:
        trial = self.scheduler.choose_trial_to_run(self.controller)
        return None if trial is None else self.runs[trial.trial_id]

    def start(self, run: Run) -> None:
        from ray.tune.experiment import Trial

        run.handle.status = Trial.RUNNING

    def result(self, run: Run, step: int, value: float) -> str:
        from ray.tune.experiment import Trial
        from ray.tune.schedulers import TrialScheduler

        trial = run.handle
        trial.iteration += 1
        result = {"step": step, self.metric: value, "training_iteration": trial.iteration,
                  "trial_id": trial.trial_id, "done": False}
        decision = self.scheduler.on_trial_result(self.controller, trial, result)
        trial.last_result = result
        if decision == TrialScheduler.STOP:
            self.controller.stop_trial(trial)
            return "stop"
        if decision == TrialScheduler.PAUSE:
            trial.status = Trial.PAUSED
            return "pause"
        return "continue"

    def complete(self, run: Run) -> None:
        self.controller.stop_trial(run.handle)  # RUNNING: on_trial_complete with the last result

    def external_stop(self, run: Run) -> None:
        self.controller.stop_trial(run.handle)  # as Tune does when a stopper or callback stops it


class SweeperDriver(RayDriver):
    """Our real ConvergenceScheduler (a FIFOScheduler): trials run in queue order, each result is
    one reported point; `on_trial_complete` at a trial's end records its final eval metric."""

    def __init__(self, settings: PrunerSettings) -> None:
        from sweeper.adapters.ray_scheduler import ConvergenceScheduler

        super().__init__(ConvergenceScheduler(settings), "")
        self._queue: deque[Run] = deque()

    def add(self, run: Run) -> None:
        run.handle = _RayTrial(f"t{run.index:03d}", dict(run.trial.params))
        self.runs[run.handle.trial_id] = run
        self._queue.append(run)

    def choose(self) -> Run | None:
        return self._queue.popleft() if self._queue else None

    def result(self, run: Run, step: int, value: Any) -> str:
        from ray.tune.schedulers import TrialScheduler

        decision = self.scheduler.on_trial_result(None, run.handle, value)
        return "stop" if decision == TrialScheduler.STOP else "continue"

    def complete(self, run: Run) -> None:
        self.scheduler.on_trial_complete(None, run.handle, {})

    def external_stop(self, run: Run) -> None:
        self.scheduler.on_trial_complete(None, run.handle, {})


def ray_scheduler(name: str, signal: str, task: Task, **knobs: Any) -> Any:
    """The Ray scheduler `name`, configured as a user of this task would: `step` as time,
    one epoch of grace where the class takes one, max_t = the longest trial; else the defaults.
    `knobs` override any of these keyword arguments (the frontier's knob sweep)."""
    from ray.tune.schedulers import AsyncHyperBandScheduler, HyperBandScheduler, MedianStoppingRule

    metric, mode = SIGNALS[signal]
    common = {"time_attr": "step", "metric": metric, "mode": mode}
    if name == "ray-asha":
        return AsyncHyperBandScheduler(**{**common, "max_t": task.max_steps, "grace_period": task.epoch_steps, **knobs})
    if name == "ray-hyperband":
        return HyperBandScheduler(**{**common, "max_t": task.max_steps, **knobs})
    if name == "ray-median":
        return MedianStoppingRule(**{**common, "grace_period": task.epoch_steps, **knobs})
    raise ValueError(f"unknown Ray scheduler {name!r}")


# Optuna --------------------------------------------------------------------------------------


class OptunaDriver(Driver):
    """A real in-memory study: ask when a trial starts, report + should_prune per result, tell at the end."""

    def __init__(self, pruner: Any, mode: str) -> None:
        import optuna

        self.study = optuna.create_study(
            # a fixed name: HyperbandPruner assigns brackets by a hash of study name and trial number
            study_name="replay",
            direction="minimize" if mode == "min" else "maximize",
            pruner=pruner,
            sampler=optuna.samplers.RandomSampler(seed=0),
        )
        self.queue: deque[Run] = deque()
        self.forced_resumes = 0

    def add(self, run: Run) -> None:
        self.queue.append(run)

    def choose(self) -> Run | None:
        return self.queue[0] if self.queue else None

    def start(self, run: Run) -> None:
        self.queue.remove(run)
        run.handle = self.study.ask()

    def result(self, run: Run, step: int, value: float) -> str:
        import optuna

        run.handle.report(value, step)
        if run.handle.should_prune():
            self.study.tell(run.handle, state=optuna.trial.TrialState.PRUNED)
            return "stop"
        return "continue"

    def external_stop(self, run: Run) -> None:
        import optuna

        self.study.tell(run.handle, state=optuna.trial.TrialState.PRUNED)

    def complete(self, run: Run) -> None:
        import optuna

        last = run.results[-1][1] if run.results else math.nan
        if math.isfinite(last):
            self.study.tell(run.handle, last)
        else:
            self.study.tell(run.handle, state=optuna.trial.TrialState.FAIL)


def optuna_pruner(name: str, **knobs: Any) -> Any:
    """The Optuna pruner `name` with its defaults; `knobs` are passed to its constructor."""
    import optuna

    if name == "optuna-median":
        return optuna.pruners.MedianPruner(**knobs)
    if name == "optuna-sha":
        return optuna.pruners.SuccessiveHalvingPruner(**knobs)
    if name == "optuna-hyperband":
        return optuna.pruners.HyperbandPruner(**knobs)
    raise ValueError(f"unknown Optuna pruner {name!r}")


# -- the pruners -------------------------------------------------------------------------------

RAY_POPULATION = ("ray-asha", "ray-hyperband", "ray-median")
OPTUNA_POPULATION = ("optuna-median", "optuna-sha", "optuna-hyperband")
PER_TRIAL_PEERS = ("ray-plateau", "optuna-patient")


@dataclass(frozen=True)
class Entry:
    pruner: str
    signal: str
    label: str = ""  # what the row is, in words
    settings: PrunerSettings | None = None  # sweeper rows only

    @property
    def peer_signal(self) -> str:
        """The signal the (population) peer is fed: a composition's label is 'ours / peer's'."""
        return self.signal.split(" / ")[-1]


# Extra rows, clearly labelled, never the default: alternative settings of our rules, and our rules
# composed with a population pruner (a trial stops when either says so).
# (`sweeper-aggressive`, plateau_min_improvement=0.3 and plateau_min_points=10, was dropped: it kept
# the parametric best in 0-6.5% of sweeps, and now that every sweeper row runs the real scheduler
# per sweep it doubled the benchmark's time. Pass it to `entries` to measure it again.)
EXTRA_SETTINGS: dict[str, PrunerSettings] = {"sweeper-forecast": PrunerSettings(num_classes=3, compare_to_forecast=True)}
COMPOSITIONS: dict[str, str] = {"sweeper+ray-asha": "eval_f1"}


def entries(extra_settings: dict[str, PrunerSettings] | None = None,
            compositions: dict[str, str] | None = None) -> list[Entry]:
    default = PrunerSettings(num_classes=3)
    rows = [Entry("sweeper", OURS_SIGNAL, "our rules, default settings", default)]
    for name, settings in (extra_settings or {}).items():
        rows.append(Entry(name, OURS_SIGNAL, "NOT default: our rules with " + _settings_words(settings), settings))
    for name, signal in (compositions or {}).items():
        peer = name.split("+", 1)[1]
        rows.append(Entry(name, f"{OURS_SIGNAL} / {signal}",
                          f"NOT shipped: our rules (default) AND {peer} on {signal}; either stops a trial", default))
    for signal in SIGNALS:
        for name in RAY_POPULATION + OPTUNA_POPULATION + PER_TRIAL_PEERS:
            rows.append(Entry(name, signal))
        rows.append(Entry(f"top{TOP_K}-after-1-epoch", signal))
    rows.append(Entry("none", "-", "no pruning"))
    return rows


def _settings_words(settings: PrunerSettings) -> str:
    default = PrunerSettings(num_classes=3)
    changed = [f"{name}={getattr(settings, name)!r}" for name in settings.__dataclass_fields__
               if getattr(settings, name) != getattr(default, name)]
    return ", ".join(changed) or "defaults"


@dataclass
class Outcome:
    steps: list[int]
    completed: list[bool]
    forced_resumes: int = 0


def run_entry(entry: Entry, trials: list[CorpusTrial], concurrency: int, task: Task = TASKS["demo"]) -> Outcome:
    """Replay one sweep (`trials` in order) under one pruner."""
    name, signal = entry.pruner, entry.signal
    if name == "none":
        return Outcome([t.max_steps for t in trials], [True] * len(trials))
    settings = (replace(entry.settings, num_classes=task.num_classes, eval_rows=task.eval_rows)
                if entry.settings is not None else None)
    if settings is not None and "+" not in name:
        driver = SweeperDriver(settings)
        runs = simulate(trials, OURS_SIGNAL, concurrency, driver)
        return Outcome([r.steps for r in runs], [r.completed for r in runs])
    if name == "ray-plateau":
        return _per_trial(trials, lambda t: _cached(t, (name, signal), lambda: plateau_stopper_stop(t, signal)))
    if name == "optuna-patient":
        return _per_trial(trials, lambda t: _cached(t, (name, signal), lambda: patient_stop(t, signal)))
    if name.startswith("top"):
        return top_k_after_one_epoch(trials, signal, TOP_K)
    stop_at = None
    if "+" in name:  # a composition: our rules AND a population pruner; either may stop a trial
        name, signal = name.split("+", 1)[1], entry.peer_signal
        stops = [_ours_cached(t, settings) for t in trials]
        stop_at = [s if s is not None and s < t.max_steps else None for s, t in zip(stops, trials)]
    driver = population_driver(name, signal, task)
    runs = simulate(trials, signal, concurrency, driver, stop_at)
    return Outcome([r.steps for r in runs], [r.completed for r in runs], driver.forced_resumes)


def population_driver(name: str, signal: str, task: Task, **knobs: Any) -> Driver:
    """A fresh driver of the population pruner `name` on `signal`; `knobs` override its settings."""
    np_seed_all(0)
    if name in RAY_POPULATION:
        return RayDriver(ray_scheduler(name, signal, task, **knobs), SIGNALS[signal][0])
    if name in OPTUNA_POPULATION:
        return OptunaDriver(optuna_pruner(name, **knobs), SIGNALS[signal][1])
    raise ValueError(f"unknown pruner {name!r}")


def _ours_cached(trial: CorpusTrial, settings: PrunerSettings) -> int | None:
    return _cached(trial, ("ours", settings), lambda: ours_stop(trial, settings))


def np_seed_all(seed: int) -> None:
    import numpy as np

    np.random.seed(seed)  # ASHA draws its bracket with np.random


def _cached(trial: CorpusTrial, key: Any, compute: Callable[[], int | None]) -> int | None:
    cache = trial.__dict__.setdefault("_stops", {})
    if key not in cache:
        cache[key] = compute()
    return cache[key]


def _per_trial(trials: list[CorpusTrial], stop_of: Callable[[CorpusTrial], int | None]) -> Outcome:
    steps, completed = [], []
    for trial in trials:
        stop = stop_of(trial)
        done = stop is None or stop >= trial.max_steps
        steps.append(trial.max_steps if done else stop)
        completed.append(done)
    return Outcome(steps, completed)


def top_k_after_one_epoch(trials: list[CorpusTrial], signal: str, k: int) -> Outcome:
    """Egele et al. 2023: every trial runs one epoch; the k best by `signal` at its end run to the end."""
    metric, mode = SIGNALS[signal]
    scored = []
    for index, trial in enumerate(trials):
        end = min(trial.max_steps, round(trial.steps_per_epoch))
        values = [v for s, v in stream(trial, signal) if s <= end and math.isfinite(v)]
        value = values[-1] if values else math.nan
        key = value if mode == "max" else -value
        scored.append((key if math.isfinite(key) else -math.inf, -index))
    chosen = {-i for _, i in sorted(scored, reverse=True)[:k]}
    steps, completed = [], []
    for index, trial in enumerate(trials):
        end = min(trial.max_steps, round(trial.steps_per_epoch))
        full = index in chosen or end >= trial.max_steps
        steps.append(trial.max_steps if full else end)
        completed.append(full)
    return Outcome(steps, completed)


# -- scoring -----------------------------------------------------------------------------------


def score(trials: list[CorpusTrial], outcome: Outcome) -> dict[str, Any]:
    """The metrics of one replayed sweep."""
    f1 = [t.final_f1 for t in trials]
    best = max(f1)
    kept = [f for f, done in zip(f1, outcome.completed) if done]
    top_n = max(1, math.ceil(TOP_FRACTION * len(trials)))
    top_threshold = sorted(f1, reverse=True)[top_n - 1]
    pruned = [not done for done in outcome.completed]
    kills_by_source: dict[str, int] = defaultdict(int)
    for trial, was_pruned in zip(trials, pruned):
        if was_pruned:
            kills_by_source[_family(trial)] += 1
    return {
        "compute_fraction": sum(outcome.steps) / sum(t.max_steps for t in trials),
        "best_kept": any(done and f >= best for f, done in zip(f1, outcome.completed)),
        "regret": best - (max(kept) if kept else 0.0),
        "near_best": best - (max(kept) if kept else 0.0) <= NEAR_BEST,
        "false_kills": sum(1 for f, p in zip(f1, pruned) if p and f >= top_threshold),
        "pruned": sum(pruned),
        "explain_kills": sum(1 for t, p in zip(trials, pruned) if p and t.explain),
        "no_explain_kills": sum(1 for t, p in zip(trials, pruned) if p and not t.explain),
        "explain_trials": sum(t.explain for t in trials),
        "no_explain_trials": sum(not t.explain for t in trials),
        "forced_resumes": outcome.forced_resumes,
        "kills_by_source": dict(kills_by_source),
    }


def _family(trial: CorpusTrial) -> str:
    """A parametric trial's family; a real one's learning-rate band (what drives its behaviour)."""
    if trial.source not in REAL:
        return trial.source
    lr = float(trial.params.get("learning_rate") or 0)
    if lr < 1e-3:
        band = "lr<1e-3"
    elif lr < 1e-2:
        band = "lr 1e-3..1e-2"
    else:
        band = "lr>=1e-2"
    return f"{trial.source} {band}"


def sources(trials: Iterable[CorpusTrial]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for trial in trials:
        counts[_family(trial)] += 1
    return dict(counts)


def aggregate(entry: Entry, scores: list[dict[str, Any]], by_c: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    explain_trials = sum(s["explain_trials"] for s in scores)
    no_explain_trials = sum(s["no_explain_trials"] for s in scores)
    row = {
        "pruner": entry.pruner,
        "signal": entry.signal,
        "compute_fraction": statistics.fmean(s["compute_fraction"] for s in scores),
        "best_kept_rate": statistics.fmean(s["best_kept"] for s in scores),
        "mean_regret": statistics.fmean(s["regret"] for s in scores),
        "near_best_rate": statistics.fmean(s["near_best"] for s in scores),
        "false_kills": statistics.fmean(s["false_kills"] for s in scores),
        "explain_kills": statistics.fmean(s["explain_kills"] for s in scores),
        "no_explain_kills": statistics.fmean(s["no_explain_kills"] for s in scores),
        "explain_kill_rate": sum(s["explain_kills"] for s in scores) / explain_trials if explain_trials else 0.0,
        "no_explain_kill_rate": sum(s["no_explain_kills"] for s in scores) / no_explain_trials if no_explain_trials else 0.0,
        "pruned_per_sweep": statistics.fmean(s["pruned"] for s in scores),
        "p90_regret": sorted(s["regret"] for s in scores)[int(0.9 * (len(scores) - 1))],
    }
    for c, part in sorted(by_c.items()):
        row[f"compute_fraction_c{c}"] = statistics.fmean(s["compute_fraction"] for s in part)
        row[f"best_kept_rate_c{c}"] = statistics.fmean(s["best_kept"] for s in part)
        row[f"mean_regret_c{c}"] = statistics.fmean(s["regret"] for s in part)
    row["sweeps"] = len(scores)
    row["forced_resumes"] = sum(s["forced_resumes"] for s in scores)
    row["note"] = entry.label
    return row


# -- the replay --------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _corpora(demo: Path, parametric_per_family: int, topics: Path = TOPICS) -> dict[str, list[CorpusTrial]]:
    return {"demo": load_demo(demo), "parametric": parametric(seed=0, per_family=parametric_per_family),
            "topics": load_demo(topics, "topics")}


def _init_worker(demo: Path, parametric_per_family: int, topics: Path = TOPICS) -> None:
    _quiet()
    _WORKER["corpora"] = _corpora(demo, parametric_per_family, topics)


def _quiet() -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("ray").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def _task(args: tuple[str, Entry, int, list[list[int]]]) -> tuple[str, Entry, int, list[dict[str, Any]], float]:
    corpus_name, entry, concurrency, orders = args
    corpus = _WORKER["corpora"][corpus_name]
    started = time.perf_counter()
    scores = []
    for order in orders:
        trials = [corpus[i] for i in order]
        scores.append(score(trials, run_entry(entry, trials, concurrency, TASKS[corpus_name])))
    return corpus_name, entry, concurrency, scores, time.perf_counter() - started


def draw_orders(n_trials: int, sweep_size: int, count: int, seed: int) -> list[list[int]]:
    """`count` sweeps: `sweep_size` distinct corpus trials each, in random order."""
    rng = random.Random(seed)
    size = min(sweep_size, n_trials)
    return [rng.sample(range(n_trials), size) for _ in range(count)]


def replay(
    entries_: list[Entry],
    corpora_sizes: dict[str, int],
    orders: int,
    sweep_size: int,
    workers: int,
    demo: Path,
    parametric_per_family: int,
    concurrency: tuple[int, ...] = CONCURRENCY,
) -> dict[str, dict[Entry, tuple[list[dict[str, Any]], dict[int, list[dict[str, Any]]]]]]:
    plans = {name: draw_orders(size, sweep_size, orders, seed=index + 1) for index, (name, size) in enumerate(corpora_sizes.items())}
    tasks = []
    for corpus_name, corpus_orders in plans.items():
        for entry in entries_:
            per_trial = entry.pruner not in RAY_POPULATION + OPTUNA_POPULATION and "+" not in entry.pruner
            for c in concurrency:
                # population pruners: split the orders so both workers share the long tasks
                chunks = [corpus_orders] if per_trial else [corpus_orders[i::4] for i in range(4)]
                # longest first: population pruners on the loss signal (every training point)
                rank = (per_trial, entry.signal != "loss")
                tasks += [(rank, (corpus_name, entry, c, chunk)) for chunk in chunks]
    tasks = [task for _, task in sorted(tasks, key=lambda t: t[0])]
    results: dict[str, dict[Entry, tuple[list, dict[int, list]]]] = defaultdict(dict)
    timings: dict[str, float] = defaultdict(float)
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers, _init_worker, (demo, parametric_per_family)) as pool:
            done = pool.imap_unordered(_task, tasks)
            collected = list(done)
    else:
        _init_worker(demo, parametric_per_family)
        collected = [_task(t) for t in tasks]
    for corpus_name, entry, c, scores, seconds in collected:
        all_scores, by_c = results[corpus_name].setdefault(entry, ([], defaultdict(list)))
        all_scores.extend(scores)
        by_c[c].extend(scores)
        timings[entry.pruner] += seconds
    results["_timings"] = dict(timings)  # type: ignore[assignment]
    return results


# -- output ------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "corpus", "pruner", "signal", "compute_fraction", "best_kept_rate", "mean_regret", "near_best_rate", "false_kills",
    "explain_kills", "no_explain_kills", "explain_kill_rate", "no_explain_kill_rate", "pruned_per_sweep",
    "p90_regret", "compute_fraction_c1", "compute_fraction_c4", "best_kept_rate_c1", "best_kept_rate_c4",
    "mean_regret_c1", "mean_regret_c4", "sweeps", "forced_resumes", "note",
)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})


def markdown_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| pruner | signal | compute used | best kept | mean regret | regret <= 0.01 | false kills / sweep | w-explain killed | wo-explain killed |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['pruner']} | {row['signal']} | {row['compute_fraction']:.0%} | {row['best_kept_rate']:.1%} | "
            f"{row['mean_regret']:.4f} | {row['near_best_rate']:.1%} | {row['false_kills']:.2f} | {row['explain_kill_rate']:.0%} | "
            f"{row['no_explain_kill_rate']:.0%} |"
        )
    return "\n".join(lines)


def verdicts(rows: list[dict[str, Any]], task: Task, ours: str = "sweeper") -> list[str]:
    """The issue's targets, checked on one corpus's rows."""
    mine = next(r for r in rows if r["pruner"] == ours)
    out = [
        f"compute <= {task.target_compute:.0%}: {'met' if mine['compute_fraction'] <= task.target_compute else 'NOT met'} "
        f"({mine['compute_fraction']:.1%} of the unpruned steps, {1 / mine['compute_fraction']:.2f}x saving)",
        f"true best kept in >= {task.target_best_kept:.0%} of sweeps: "
        f"{'met' if mine['best_kept_rate'] >= task.target_best_kept else 'NOT met'} ({mine['best_kept_rate']:.1%})",
    ]
    beaten = [
        r for r in rows
        if r["pruner"] not in (ours, "none") and not r["pruner"].startswith("sweeper")
        and r["compute_fraction"] <= mine["compute_fraction"] + 1e-9 and r["mean_regret"] <= mine["mean_regret"]
    ]
    if beaten:
        out.append(
            "lower regret than every peer at equal or lower compute: NOT met; at <= our compute "
            f"({mine['compute_fraction']:.1%}) these have regret <= ours ({mine['mean_regret']:.4f}): "
            + "; ".join(f"{r['pruner']} on {r['signal']} ({r['compute_fraction']:.1%} compute, regret {r['mean_regret']:.4f}, "
                        f"best kept {r['best_kept_rate']:.1%})" for r in beaten)
        )
    else:
        out.append("lower regret than every peer at equal or lower compute: met")
    cheaper = [
        r for r in rows
        if r["pruner"] != "none" and not r["pruner"].startswith("sweeper")
        and r["compute_fraction"] < mine["compute_fraction"] and r["best_kept_rate"] >= TARGET_BEST_KEPT
    ]
    if cheaper:
        out.append(
            f"peers that keep the best in >= 95% of sweeps with less compute than ours: "
            + "; ".join(f"{r['pruner']} on {r['signal']} ({r['compute_fraction']:.1%} compute, best kept "
                        f"{r['best_kept_rate']:.1%}, regret {r['mean_regret']:.4f})" for r in cheaper)
        )
    return out


def plot(path: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(8 * len(tables), 7), squeeze=False)
    markers = {"loss": "o", "eval_f1": "s", "-": "X"}
    short = {"loss": "loss", "eval_f1": "F1"}
    for ax, (corpus_name, rows) in zip(axes[0], tables.items()):
        for row in rows:
            ours = row["pruner"].startswith("sweeper")
            x, y = row["compute_fraction"], row["mean_regret"]
            color = "tab:red" if ours else ("black" if row["pruner"] == "none" else "tab:blue")
            ax.scatter(x, y, marker="*" if ours else markers.get(row["signal"], "o"), s=240 if ours else 60,
                       color=color, zorder=3 if ours else 2, alpha=0.9)
            label = row["pruner"] if ours or row["signal"] == "-" else f"{row['pruner']}/{short[row['signal']]}"
            ax.annotate(f"{label} ({row['best_kept_rate']:.0%})", (x, y), fontsize=7, xytext=(4, 3),
                        textcoords="offset points", color=color)
        ax.set_yscale("symlog", linthresh=1e-3)  # spreads the regrets near zero
        target = TASKS[corpus_name].target_compute
        ax.axvline(target, color="grey", linestyle="--", linewidth=1)
        ax.text(target, 0.0007, f" {target:.0%} compute target", color="grey", fontsize=8)
        ax.set_xlabel("compute used (steps run / steps of the unpruned sweep)")
        ax.set_ylabel("mean regret: final eval macro-F1 lost vs the sweep's best (symlog)")
        ax.set_title(f"{corpus_name} corpus  (o training loss, [] eval macro-F1, * ours; % = best kept)", fontsize=10)
        ax.set_xlim(0, 1.1)
        ax.set_ylim(-0.0002, 0.2)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def family_rows(results: dict[Entry, tuple[list, dict]], sizes: dict[str, int], corpus_name: str) -> list[dict[str, Any]]:
    rows = []
    for entry, (scores, _) in results.items():
        # how often a trial of each family was killed, over all replayed sweeps it was drawn into
        killed: dict[str, int] = defaultdict(int)
        for s in scores:
            for source, count in s["kills_by_source"].items():
                killed[source] += count
        for source, drawn in sizes.items():
            rows.append({"corpus": corpus_name, "pruner": entry.pruner, "signal": entry.signal, "family": source,
                         "kill_rate": killed[source] / drawn if drawn else 0.0})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pruners", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"random trial orders per corpus (default {ORDERS})")
    parser.add_argument("--sweep-size", type=int, default=SWEEP_SIZE, help=f"trials per replayed sweep (default {SWEEP_SIZE})")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--per-family", type=int, default=30, help="parametric curves per family (default 30)")
    parser.add_argument("--corpus", default=str(DEMO), help=f"the real corpus (default {DEMO})")
    parser.add_argument("--out", default=str(OUT), help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    _quiet()
    demo = Path(args.corpus)
    if not demo.exists():
        print(f"{demo} is missing: run `python -m benchmarks.corpus` first", file=sys.stderr)
        return 2
    corpora = _corpora(demo, args.per_family)
    sizes = {name: len(trials) for name, trials in corpora.items()}
    todo = entries(EXTRA_SETTINGS, COMPOSITIONS)
    results = replay(todo, sizes, args.orders, args.sweep_size, args.workers, demo, args.per_family)
    timings = results.pop("_timings")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tables: dict[str, list[dict[str, Any]]] = {}
    families: list[dict[str, Any]] = []
    for corpus_name in corpora:
        rows = [aggregate(e, *results[corpus_name][e]) for e in todo]
        tables[corpus_name] = rows
        # per-family kill rate: kills / (times a trial of the family was drawn)
        drawn: dict[str, int] = defaultdict(int)
        for order in draw_orders(sizes[corpus_name], args.sweep_size, args.orders, seed=list(corpora).index(corpus_name) + 1):
            for source, count in sources(corpora[corpus_name][i] for i in order).items():
                drawn[source] += count * len(CONCURRENCY)
        families += family_rows(results[corpus_name], drawn, corpus_name)
    write_csv(out / "pruners.csv", [{"corpus": name, **row} for name, rows in tables.items() for row in rows])
    with open(out / "pruners_families.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["corpus", "pruner", "signal", "family", "kill_rate"])
        writer.writeheader()
        for row in families:
            writer.writerow({**row, "kill_rate": f"{row['kill_rate']:.3f}"})
    plot(out / "pruners.png", tables)
    wall = time.monotonic() - started
    md = render_markdown(tables, families, corpora, args, wall, timings)
    (out / "pruners.md").write_text(md, encoding="utf-8")
    print(md)
    print(f"written: {out / 'pruners.csv'}, {out / 'pruners_families.csv'}, "
          f"{out / 'pruners.md'}, {out / 'pruners.png'} in {wall:.0f} s")
    return 0


def render_markdown(tables, families, corpora, args, wall: float, timings: dict[str, float]) -> str:
    parts = [f"# Pruner benchmark\n\n{args.orders} random trial orders x concurrency {', '.join(map(str, CONCURRENCY))}, "
             f"{args.sweep_size} trials a sweep, wall time {wall:.0f} s ({args.workers} workers).\n"]
    for corpus_name, rows in tables.items():
        trials = corpora[corpus_name]
        parts.append(f"## {corpus_name} corpus ({len(trials)} trials: "
                     + ", ".join(f"{k} {v}" for k, v in sorted(sources(trials).items())) + ")\n")
        parts.append(markdown_table(rows) + "\n")
        parts.append("\n".join(f"- {line}" for line in verdicts(rows, TASKS[corpus_name])) + "\n")
    parts.append("## Kill rate by curve family (share of the family's drawn trials each pruner pruned)\n")
    for corpus_name in tables:
        fams = sorted({r["family"] for r in families if r["corpus"] == corpus_name})
        parts.append(f"### {corpus_name}\n")
        parts.append("| pruner | signal | " + " | ".join(fams) + " |")
        parts.append("|---|---|" + "---:|" * len(fams))
        keyed: dict[tuple[str, str], dict[str, float]] = {(r["pruner"], r["signal"]): {} for r in tables[corpus_name]}
        for r in families:
            if r["corpus"] == corpus_name:
                keyed[(r["pruner"], r["signal"])][r["family"]] = r["kill_rate"]
        for (pruner, signal), rates in keyed.items():
            parts.append(f"| {pruner} | {signal} | " + " | ".join(f"{rates.get(f, 0):.0%}" for f in fams) + " |")
        parts.append("")
    parts.append("CPU seconds per pruner (all corpora, signals, concurrencies): "
                 + ", ".join(f"{k} {v:.0f}" for k, v in sorted(timings.items(), key=lambda kv: -kv[1])) + "\n")
    return "\n".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
