"""Each pruner's own knobs swept on the replay of `benchmarks.pruners`, on its three corpora, and
whether our rules' frontier dominates every peer's on the compute-vs-best-kept plane.

    python -m benchmarks.frontier [--orders 40] [--workers 2] [--corpora demo,parametric,topics]

`benchmarks.pruners` runs every pruner at the settings a user would pick; this asks what other
settings of the same pruners reach. Every peer and signal of the main table, over its own knobs
(grace periods in epochs of the corpus's task, so the knob means the same on every corpus; max_t,
and the settings not swept, as `benchmarks.pruners` gives them per corpus): Ray's ASHA, HyperBand,
median rule and TrialPlateauStopper, Optuna's median, SuccessiveHalving, Hyperband and Patient
pruners, and top-K after one epoch, each on the training `loss` and on eval macro-F1. Ours: the
real `ConvergenceScheduler` over the cross-trial and pace knobs of `PrunerSettings` (outpaced,
precedent, pace, stuck span, the opt-in forecast). And a plain threshold rule tuned with the answers
in hand (stop at an eval once `level + gain x (1 - progress)` < the best finished trial's final
macro-F1, from `after` x max_steps on: the knobs picked by looking at the demo corpus, so an
optimistic bound for rules of this kind, not a pruner anyone could ship; not part of the
dominance check).

A pruner's frontier is the upper-left Pareto front of its configurations: the most best-kept
reached at or below each compute level. Dominance, per corpus: for every peer and signal, every
point of its front (compute c, best kept k) is matched by a configuration of ours with compute
<= c and best kept >= k; every point where it is not is listed, with our best kept at <= c.

Writes results/bench/frontier.csv (per corpus and configuration: compute used, best kept, mean
regret, whether it is on its pruner's front), frontier.md (the dominance check, per corpus the
least compute at the corpus's best-kept target, every configuration) and frontier.png (one panel
per corpus, every configuration as a point and each front as a step line, ours bold).
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import defaultdict, deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmarks import pruners as bench
from benchmarks.corpus import DEMO, TOPICS, CorpusTrial
from sweeper.rules import PrunerSettings

OUT = Path("results") / "bench"
ORDERS = 40  # about 15 min on 2 shared cores (three corpora)
CORPORA = ("demo", "parametric", "topics")
OURS = "sweeper"
BOUND = "threshold, tuned on the answers"
EPOCH_SHARES = ((1 / 3, "1/3"), (2 / 3, "2/3"), (1.0, "1"))  # grace periods, in epochs of the task


# -- configurations ----------------------------------------------------------------------------

Replay = Callable[[list[CorpusTrial], int, bench.Task], bench.Outcome]  # (sweep, concurrency, task)


@dataclass(frozen=True)
class Config:
    pruner: str
    signal: str
    knobs: str  # in words
    replay: Replay


def _epochs(share: float, task: bench.Task) -> int:
    return max(1, round(share * task.epoch_steps))


def _population(name: str, signal: str, **knobs: Callable[[bench.Task], Any]) -> Replay:
    """A population peer whose keyword arguments are functions of the task (grace in epochs)."""

    def replay(trials: list[CorpusTrial], concurrency: int, task: bench.Task) -> bench.Outcome:
        driver = bench.population_driver(name, signal, task, **{k: f(task) for k, f in knobs.items()})
        runs = bench.simulate(trials, signal, concurrency, driver)
        return bench.Outcome([r.steps for r in runs], [r.completed for r in runs], driver.forced_resumes)

    return replay


def _per_trial(key: tuple[Any, ...], stop: Callable[[CorpusTrial], int | None]) -> Replay:
    """A peer that judges each trial alone: its stop step is computed once per corpus trial."""
    return lambda trials, concurrency, task: bench._per_trial(trials, lambda t: bench._cached(t, key, lambda: stop(t)))


def _const(value: Any) -> Callable[[bench.Task], Any]:
    return lambda task: value


def _in_epochs(share: float) -> Callable[[bench.Task], int]:
    return lambda task: _epochs(share, task)


def peer_configurations() -> list[Config]:
    rows: list[Config] = []
    for signal in bench.SIGNALS:
        for share, words in EPOCH_SHARES:
            for reduction in (2, 3, 4):
                rows.append(Config("ray-asha", signal, f"grace {words} epoch, reduction {reduction}",
                                   _population("ray-asha", signal, grace_period=_in_epochs(share), reduction_factor=_const(reduction))))
        for eta in (2, 3, 4):
            rows.append(Config("ray-hyperband", signal, f"eta {eta}", _population("ray-hyperband", signal, reduction_factor=_const(eta))))
        for share, words in (EPOCH_SHARES[0], EPOCH_SHARES[2]):
            for samples in (2, 3):
                rows.append(Config("ray-median", signal, f"grace {words} epoch, min samples {samples}",
                                   _population("ray-median", signal, grace_period=_in_epochs(share),
                                               min_samples_required=_const(samples))))
        rows.append(Config("optuna-median", signal, "n_warmup_steps 0", _population("optuna-median", signal)))
        for share, words in (EPOCH_SHARES[0], EPOCH_SHARES[2]):
            rows.append(Config("optuna-median", signal, f"n_warmup_steps {words} epoch",
                               _population("optuna-median", signal, n_warmup_steps=_in_epochs(share))))
        for name, default, reductions in (("optuna-sha", "min_resource auto", (2, 4)),
                                          ("optuna-hyperband", "min_resource 1 step", (2, 3))):
            for reduction in reductions:
                rows.append(Config(name, signal, f"{default}, reduction {reduction}",
                                   _population(name, signal, reduction_factor=_const(reduction))))
                for share, words in (EPOCH_SHARES[0], EPOCH_SHARES[2]):
                    rows.append(Config(name, signal, f"min_resource {words} epoch, reduction {reduction}",
                                       _population(name, signal, min_resource=_in_epochs(share),
                                                   reduction_factor=_const(reduction))))
        for std in (0.003, 0.01, 0.03):
            for results in (4, 8):
                rows.append(Config("ray-plateau", signal, f"std {std} over {results} results",
                                   _per_trial(("ray-plateau", signal, std, results),
                                              lambda t, s=signal, d=std, n=results: bench.plateau_stopper_stop(
                                                  t, s, std=d, num_results=n, grace_period=n))))
        for share in (0.5, 1.0, 2.0):
            patience = max(1, round(share * bench.PATIENCE[signal]))
            rows.append(Config("optuna-patient", signal, f"patience {patience} reports",
                               _per_trial(("optuna-patient", signal, patience),
                                          lambda t, s=signal, p=patience: bench.patient_stop(t, s, patience=p))))
        for k in (1, 3, 6):
            rows.append(Config("top-k-after-1-epoch", signal, f"k {k}",
                               lambda trials, c, task, s=signal, k=k: bench.top_k_after_one_epoch(trials, s, k)))
    main = _MAIN_TABLE | {("optuna-patient", f"patience {bench.PATIENCE[signal]} reports") for signal in bench.SIGNALS}
    return [replace(r, knobs=r.knobs + " (main table)") if (r.pruner, r.knobs) in main else r for r in rows]


# the settings `benchmarks.pruners` gives each peer (its main table)
_MAIN_TABLE = {
    ("ray-asha", "grace 1 epoch, reduction 4"), ("ray-hyperband", "eta 3"), ("ray-median", "grace 1 epoch, min samples 3"),
    ("optuna-median", "n_warmup_steps 0"), ("optuna-sha", "min_resource auto, reduction 4"),
    ("optuna-hyperband", "min_resource 1 step, reduction 3"), ("ray-plateau", "std 0.01 over 4 results"),
    ("top-k-after-1-epoch", f"k {bench.TOP_K}"),
}


def our_settings() -> list[PrunerSettings]:
    """The default, the cross-trial grid (precedent_after x precedent_min_peers x outpaced_after),
    the pace knobs one at a time, and the opt-in forecast at a few chances, alone and on the grid's
    cheapest corner. Built from whatever the default is today; duplicates dropped."""
    default = PrunerSettings(num_classes=3)
    rows = [default]
    for after in (0.1, 0.3):
        for peers in (1, 2):
            for outpaced in (0.1, 0.25):
                rows.append(replace(default, precedent_after=after, precedent_min_peers=peers, outpaced_after=outpaced))
    for pace in (0.2, 0.5):
        rows.append(replace(default, pace_after=pace))
    for span in (0.3, 0.6):
        rows.append(replace(default, stuck_span=span))
    eager = replace(default, precedent_after=0.1, precedent_min_peers=1, outpaced_after=0.1)
    for chance in (0.05, 0.2, 0.5):
        rows.append(replace(default, compare_to_forecast=True, forecast_max_chance=chance))
        rows.append(replace(eager, compare_to_forecast=True, forecast_max_chance=chance))
    eagerest = replace(eager, compare_to_forecast=True, forecast_max_chance=0.5, pace_after=0.2, stuck_span=0.3)
    rows += [eagerest, replace(eagerest, too_slow_margin=1.0), replace(eagerest, too_slow_margin=1.0, forecast_max_chance=0.9)]
    return list(dict.fromkeys(rows))


def _ours(settings: PrunerSettings) -> Replay:
    entry = bench.Entry(OURS, bench.OURS_SIGNAL, "", settings)
    return lambda trials, concurrency, task: bench.run_entry(entry, trials, concurrency, task)


def _threshold(after: float, gain: float) -> Replay:
    def replay(trials: list[CorpusTrial], concurrency: int, task: bench.Task) -> bench.Outcome:
        runs = bench.simulate(trials, "eval_f1", concurrency, ThresholdDriver(after, gain))
        return bench.Outcome([r.steps for r in runs], [r.completed for r in runs])

    return replay


def configurations() -> list[Config]:
    """Ours, the peers, and the threshold bound (its knobs picked on the demo corpus's answers)."""
    default = PrunerSettings(num_classes=3)
    rows = [Config(OURS, bench.OURS_SIGNAL, "default settings" if s == default else bench._settings_words(s), _ours(s))
            for s in our_settings()]
    rows += peer_configurations()
    for after in (0.1, 0.2, 0.3):
        for gain in (0.1, 0.3, 0.5):
            rows.append(Config(BOUND, "eval_f1", f"after {after}, gain {gain}", _threshold(after, gain)))
    return rows


class ThresholdDriver(bench.Driver):
    """Trials in queue order; at an eval point from `after` x max_steps on, stop a trial once its
    eval macro-F1 (median of its last 3) + gain x (1 - progress) is below the best final
    macro-F1 of the trials that finished so far."""

    def __init__(self, after: float, gain: float) -> None:
        self._after, self._gain = after, gain
        self._queue: deque[bench.Run] = deque()
        self._evals: dict[int, list[float]] = {}
        self._best: float | None = None

    def add(self, run: bench.Run) -> None:
        self._queue.append(run)

    def choose(self) -> bench.Run | None:
        return self._queue.popleft() if self._queue else None

    def result(self, run: bench.Run, step: int, value: float) -> str:
        f1 = value  # the eval_f1 signal: one result per evaluation
        evals = self._evals.setdefault(run.index, [])
        evals.append(f1)
        progress = step / run.trial.max_steps
        if self._best is None or progress < self._after or step >= run.trial.max_steps:
            return "continue"
        level = statistics.median(evals[-3:])
        return "stop" if level + self._gain * (1 - progress) < self._best else "continue"

    def complete(self, run: bench.Run) -> None:
        final = self._evals.get(run.index, [0.0])[-1]
        self._best = final if self._best is None else max(self._best, final)


# -- measuring ---------------------------------------------------------------------------------


def measure_scores(config: Config, trials_by_order: list[list[CorpusTrial]], task: bench.Task,
                   concurrency: Sequence[int] = bench.CONCURRENCY) -> list[dict[str, Any]]:
    """The scores of every replayed sweep (orders x concurrencies) under one configuration."""
    scores = []
    for trials in trials_by_order:
        for c in concurrency:
            bench.np_seed_all(0)
            scores.append(bench.score(trials, config.replay(trials, c, task)))
    return scores


def summarise(config: Config, scores: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "pruner": config.pruner,
        "signal": config.signal,
        "knobs": config.knobs,
        "compute_fraction": statistics.fmean(s["compute_fraction"] for s in scores),
        "best_kept_rate": statistics.fmean(float(s["best_kept"]) for s in scores),
        "mean_regret": statistics.fmean(s["regret"] for s in scores),
    }


def measure(config: Config, trials_by_order: list[list[CorpusTrial]], task: bench.Task = bench.TASKS["demo"]) -> dict[str, Any]:
    return summarise(config, measure_scores(config, trials_by_order, task))


_WORK: dict[str, Any] = {}  # set before the workers fork: corpora, orders, configurations


def _configs() -> list[Config]:
    if "configs" not in _WORK:
        _WORK["configs"] = configurations()
    return _WORK["configs"]


def _task(args: tuple[str, int, int, list[list[int]]]) -> tuple[str, int, list[dict[str, Any]], float]:
    """Worker: one corpus, configuration (by index: its closures do not pickle), concurrency and chunk of orders."""
    corpus_name, index, concurrency, orders = args
    bench._quiet()
    corpus = _WORK["corpora"][corpus_name]
    started = time.perf_counter()
    trials_by_order = [[corpus[i] for i in order] for order in orders]
    scores = measure_scores(_configs()[index], trials_by_order, bench.TASKS[corpus_name], (concurrency,))
    return corpus_name, index, scores, time.perf_counter() - started


def _cost_rank(config: Config) -> int:
    """Longest tasks first: population pruners on the loss signal see every training point."""
    if config.pruner in bench.RAY_POPULATION + bench.OPTUNA_POPULATION + (OURS,):
        return 0 if config.signal == "loss" or config.pruner == OURS else 1
    return 2


def run(corpora: dict[str, list[CorpusTrial]], orders: int, workers: int) -> tuple[dict[str, list[dict[str, Any]]], dict[str, float]]:
    """Every configuration on every corpus; the orders are those of `benchmarks.pruners` (same seeds)."""
    seeds = {name: index + 1 for index, name in enumerate(CORPORA)}  # benchmarks.pruners draws them so
    _WORK["corpora"] = corpora
    configs = _configs()
    tasks = []
    for name, trials in corpora.items():
        plan = bench.draw_orders(len(trials), bench.SWEEP_SIZE, orders, seed=seeds[name])
        for index, config in enumerate(configs):
            per_trial = _cost_rank(config) == 2
            chunks = [plan] if per_trial else [plan[i::4] for i in range(4) if plan[i::4]]
            for c in bench.CONCURRENCY:
                tasks += [(_cost_rank(config), (name, index, c, chunk)) for chunk in chunks]
    tasks = [task for _, task in sorted(tasks, key=lambda t: t[0])]
    if workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(workers) as pool:
            done = list(pool.imap_unordered(_task, tasks))
    else:
        done = [_task(t) for t in tasks]
    scores: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    seconds: dict[str, float] = defaultdict(float)
    for name, index, part, spent in done:
        scores[(name, index)].extend(part)
        seconds[configs[index].pruner] += spent
    tables = {name: [summarise(config, scores[(name, i)]) for i, config in enumerate(configs)] for name in corpora}
    for rows in tables.values():
        mark_fronts(rows)
    return tables, dict(seconds)


# -- fronts and dominance ----------------------------------------------------------------------


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the upper-left front of (compute, best kept) points, by rising compute: each keeps
    the best more often than every point of less or equal compute (ties: the cheaper, then the first)."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1], i))
    front: list[int] = []
    for i in order:
        if not front or points[i][1] > points[front[-1]][1]:
            front.append(i)
    return front


def reach(points: Sequence[tuple[float, float]], compute: float) -> float | None:
    """The most best-kept among points of at most `compute`; None when no point is that cheap."""
    kept = [k for c, k in points if c <= compute]
    return max(kept) if kept else None


def shortfalls(ours: Sequence[tuple[float, float]], peer: Sequence[tuple[float, float]]) -> list[tuple[int, float | None]]:
    """Where the peer's front is above ours: (index into `peer` of a point on its front, our best
    kept at <= its compute, None if we have no configuration that cheap). Checking the peer's front
    points is enough: both fronts are step functions and ours never falls with compute."""
    out = []
    for i in pareto_front(peer):
        mine = reach(ours, peer[i][0])
        # below our cheapest configuration our front keeps nothing: a peer point that keeps the
        # best in no sweep is not above it
        if (0.0 if mine is None else mine) < peer[i][1]:
            out.append((i, mine))
    return out


def _key(row: dict[str, Any]) -> tuple[str, str]:
    return row["pruner"], row["signal"]


def mark_fronts(rows: list[dict[str, Any]]) -> None:
    """Set `on_front` on each row: on its pruner and signal's front."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[_key(row)].append(row)
    for group in groups.values():
        front = set(pareto_front([(r["compute_fraction"], r["best_kept_rate"]) for r in group]))
        for i, row in enumerate(group):
            row["on_front"] = i in front


def dominance(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One corpus's rows: every point of a peer's front (the bound excluded) that our front does not reach."""
    mine = [r for r in rows if r["pruner"] == OURS]
    ours = [(r["compute_fraction"], r["best_kept_rate"]) for r in mine]
    out = []
    for key in dict.fromkeys(_key(r) for r in rows if r["pruner"] not in (OURS, BOUND)):
        group = [r for r in rows if _key(r) == key]
        for i, kept in shortfalls(ours, [(r["compute_fraction"], r["best_kept_rate"]) for r in group]):
            peer = group[i]
            there = [r for r in mine if r["compute_fraction"] <= peer["compute_fraction"]]
            best = max(there, key=lambda r: (r["best_kept_rate"], -r["compute_fraction"])) if there else None
            out.append({"pruner": peer["pruner"], "signal": peer["signal"], "knobs": peer["knobs"],
                        "compute_fraction": peer["compute_fraction"], "best_kept_rate": peer["best_kept_rate"],
                        "ours_best_kept": kept, "ours_compute": best["compute_fraction"] if best else None,
                        "ours_knobs": best["knobs"] if best else "-"})
    return out


def summary(rows: list[dict[str, Any]], task: bench.Task) -> list[dict[str, Any]]:
    """Per pruner and signal: its least compute at best kept >= the corpus's target, and its most
    best kept at <= the corpus's compute target."""
    out = []
    for key in dict.fromkeys(_key(r) for r in rows):
        mine = [r for r in rows if _key(r) == key]
        kept = [r for r in mine if r["best_kept_rate"] >= task.target_best_kept]
        cheap = [r for r in mine if r["compute_fraction"] <= task.target_compute]
        least = min(kept, key=lambda r: r["compute_fraction"]) if kept else None
        most = max(cheap, key=lambda r: (r["best_kept_rate"], -r["compute_fraction"])) if cheap else None
        out.append({
            "pruner": key[0],
            "signal": key[1],
            "least_compute_at_target_kept": least["compute_fraction"] if least else None,
            "knobs_there": least["knobs"] if least else "-",
            "best_kept_at_target_compute": most["best_kept_rate"] if most else None,
            "knobs_at_target_compute": most["knobs"] if most else "-",
        })
    return out


# -- output ------------------------------------------------------------------------------------


def _pct(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:.{digits}%}"


def _cheapest(rows: list[dict[str, Any]]) -> float:
    return min(r["compute_fraction"] for r in rows if r["pruner"] == OURS)


def dominance_lines(tables: dict[str, list[dict[str, Any]]]) -> list[str]:
    lines = []
    for name, rows in tables.items():
        beats = dominance(rows)
        if not beats:
            lines.append(f"- **{name}**: our front is at or above every peer's at every compute level.")
            continue
        head = [b for b in beats if b["ours_best_kept"] is not None]
        below = {_key(b) for b in beats if b["ours_best_kept"] is None}
        gap = f" (largest gap {max(b['best_kept_rate'] - b['ours_best_kept'] for b in head) * 100:.1f} points)" if head else ""
        lines.append(f"- **{name}**: ours is NOT at or above every peer. Below our cheapest configuration "
                     f"({_pct(_cheapest(rows), 1)} compute): {len(beats) - len(head)} front points of {len(below)} peer-signal "
                     f"pairs keep the best in some sweeps. At compute we reach: {len(head)} peer front points above ours{gap}.")
    return lines


def dominance_table(tables: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Peer front points above ours at a compute we reach: head to head."""
    lines = ["| corpus | peer | signal | knobs | its compute | its best kept | our best kept at <= that compute | gap "
             "| our point there (compute, knobs) |", "|---|---|---|---|---:|---:|---:|---:|---|"]
    for name, rows in tables.items():
        for b in dominance(rows):
            if b["ours_best_kept"] is not None:
                lines.append(f"| {name} | {b['pruner']} | {b['signal']} | {b['knobs']} | {_pct(b['compute_fraction'], 1)} | "
                             f"{_pct(b['best_kept_rate'], 1)} | {_pct(b['ours_best_kept'], 1)} | "
                             f"{(b['best_kept_rate'] - b['ours_best_kept']) * 100:.1f} pt | "
                             f"{_pct(b['ours_compute'], 1)}, {b['ours_knobs']} |")
    return lines


def below_ours_table(tables: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Peer front points cheaper than any configuration of ours (where our front keeps nothing)."""
    lines = ["| corpus | our cheapest | peer | signal | its front there: compute -> best kept (knobs) |", "|---|---:|---|---|---|"]
    for name, rows in tables.items():
        below: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for b in dominance(rows):
            if b["ours_best_kept"] is None:
                below[_key(b)].append(b)
        for (pruner, signal), points in below.items():
            lines.append(f"| {name} | {_pct(_cheapest(rows), 1)} | {pruner} | {signal} | "
                         + "; ".join(f"{_pct(b['compute_fraction'], 1)} -> {_pct(b['best_kept_rate'], 1)} ({b['knobs']})"
                                     for b in points) + " |")
    return lines


def render(tables: dict[str, list[dict[str, Any]]], orders: int, workers: int, wall: float,
           seconds: dict[str, float]) -> str:
    parts = [
        "# Frontier: each pruner's own knobs swept",
        "",
        f"{orders} random sweeps of {bench.SWEEP_SIZE} trials per corpus x concurrency "
        f"{', '.join(map(str, bench.CONCURRENCY))} (the first {orders} orders of `benchmarks.pruners`), "
        f"{workers} workers, wall time {wall:.0f} s. Best kept: the sweep's true best trial ran to its end.",
        "",
        "## Dominance: is our front at or above each peer's at every compute level?",
        "",
        f"`{BOUND}` is an optimistic bound, not a peer: left out of the check.",
        "",
        *dominance_lines(tables),
    ]
    beats = [b for rows in tables.values() for b in dominance(rows)]
    if any(b["ours_best_kept"] is not None for b in beats):
        parts += ["", "Peer front points above ours at a compute we reach (our best kept: the most of any configuration "
                  "of ours at <= that compute):", "", *dominance_table(tables)]
    if any(b["ours_best_kept"] is None for b in beats):
        parts += ["", "Peer front points cheaper than any configuration of ours (our front keeps nothing there; "
                  "a peer point that keeps the best in no sweep is not counted):", "", *below_ours_table(tables)]
    for name, rows in tables.items():
        task = bench.TASKS[name]
        parts += [
            "",
            f"## {name} corpus (target: <= {task.target_compute:.0%} compute with the best kept in >= {task.target_best_kept:.0%})",
            "",
            f"| pruner | signal | least compute with best kept >= {task.target_best_kept:.0%} (knobs) | "
            f"best kept at <= {task.target_compute:.0%} compute (knobs) |",
            "|---|---|---:|---:|",
        ]
        for s in summary(rows, task):
            parts.append(f"| {s['pruner']} | {s['signal']} | {_pct(s['least_compute_at_target_kept'], 1)} ({s['knobs_there']}) | "
                         f"{_pct(s['best_kept_at_target_compute'], 1)} ({s['knobs_at_target_compute']}) |")
        parts += ["", "| pruner | signal | knobs | compute used | best kept | mean regret | on its front |",
                  "|---|---|---|---:|---:|---:|---|"]
        for r in rows:
            parts.append(f"| {r['pruner']} | {r['signal']} | {r['knobs']} | {r['compute_fraction']:.1%} | "
                         f"{r['best_kept_rate']:.1%} | {r['mean_regret']:.4f} | {'yes' if r['on_front'] else ''} |")
    parts += ["", "CPU seconds per pruner (all corpora): "
              + ", ".join(f"{k} {v:.0f}" for k, v in sorted(seconds.items(), key=lambda kv: -kv[1]))]
    return "\n".join(parts) + "\n"


def write_csv(path: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    columns = ["corpus", "pruner", "signal", "knobs", "compute_fraction", "best_kept_rate", "mean_regret", "on_front"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for name, rows in tables.items():
            for row in rows:
                writer.writerow({"corpus": name, **{k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()}})


def plot(path: Path, tables: dict[str, list[dict[str, Any]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(tables), figsize=(7.5 * len(tables), 7), squeeze=False)
    peers = list(dict.fromkeys(r["pruner"] for rows in tables.values() for r in rows if r["pruner"] not in (OURS, BOUND)))
    colors = {p: plt.get_cmap("tab10")(i % 10) for i, p in enumerate(peers)}
    colors[OURS], colors[BOUND] = "black", "tab:cyan"
    for ax, (name, rows) in zip(axes[0], tables.items()):
        for key in dict.fromkeys(_key(r) for r in rows):
            group = [r for r in rows if _key(r) == key]
            ours, bound = key[0] == OURS, key[0] == BOUND
            points = [(r["compute_fraction"], r["best_kept_rate"]) for r in group]
            color = colors[key[0]]
            marker = "*" if ours else ("s" if key[1] == "eval_f1" else "o")
            ax.scatter([c for c, _ in points], [k for _, k in points], s=120 if ours else 18, marker=marker,
                       color=color, alpha=1.0 if ours else 0.55, zorder=4 if ours else 2)
            front = [points[i] for i in pareto_front(points)]
            xs = [c for c, _ in front] + [1.05]
            ys = [k for _, k in front] + [front[-1][1]]
            label = f"{key[0]} ({'ours, ' + key[1] if ours else key[1]})"
            ax.step(xs, ys, where="post", color=color, label=label, zorder=5 if ours else 3,
                    linewidth=3.2 if ours else 1.2, linestyle=":" if bound else ("--" if key[1] == "loss" else "-"))
        ax.set_xlim(0, 1.05)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("compute used (steps run / steps of the unpruned sweep)")
        ax.set_ylabel("best kept (share of sweeps whose true best trial ran to its end)")
        ax.set_title(f"{name} corpus: each pruner's knobs; step line = its front (least compute per best-kept level)", fontsize=9)
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=6, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.09, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frontier", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"random sweeps per corpus (default {ORDERS})")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--corpora", default=",".join(CORPORA), help=f"comma-separated, of {', '.join(CORPORA)} (default all)")
    parser.add_argument("--per-family", type=int, default=30, help="parametric curves per family (default 30)")
    parser.add_argument("--demo", default=str(DEMO), help=f"the real demo corpus (default {DEMO})")
    parser.add_argument("--topics", default=str(TOPICS), help=f"the real topics corpus (default {TOPICS})")
    parser.add_argument("--out", default=str(OUT), help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.corpora.split(",") if n.strip()]
    unknown = [n for n in names if n not in CORPORA]
    if unknown or not names:
        print(f"--corpora must name some of {', '.join(CORPORA)}; got {args.corpora!r}", file=sys.stderr)
        return 2
    for path in (Path(args.demo), Path(args.topics)):
        if not path.exists():
            print(f"{path} is missing: run `python -m benchmarks.corpus` first (see benchmarks/PRUNERS.md)", file=sys.stderr)
            return 2
    if args.orders < 1:
        print(f"--orders must be >= 1; got {args.orders}", file=sys.stderr)
        return 2
    started = time.monotonic()
    bench._quiet()
    everything = bench._corpora(Path(args.demo), args.per_family, Path(args.topics))
    corpora = {name: everything[name] for name in CORPORA if name in names}
    tables, seconds = run(corpora, args.orders, args.workers)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(out / "frontier.csv", tables)
    plot(out / "frontier.png", tables)
    wall = time.monotonic() - started
    md = render(tables, args.orders, args.workers, wall, seconds)
    (out / "frontier.md").write_text(md, encoding="utf-8")
    print(md)
    print(f"written: {out / 'frontier.csv'}, {out / 'frontier.md'}, {out / 'frontier.png'} in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
