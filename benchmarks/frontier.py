"""Can any pruner reach the pruner benchmark's target on the real demo corpus? Each pruner's own
knobs swept, on the replay of `benchmarks.pruners`.

    python -m benchmarks.frontier [--orders 100] [--workers 2]

The target (issue 4): <= 33% of the unpruned steps with the sweep's true best trial kept in >= 95%
of replayed sweeps. `benchmarks.pruners` runs every pruner at the settings a user would pick; this
asks whether other settings of the same pruners get there. Rows: ASHA and the median rule on eval
macro-F1 (the best peers of the main table) over their grace period and reduction factor, Optuna's
median pruner over its warm-up, our rules over the cross-trial knobs, and a plain threshold rule
tuned with the answers in hand (stop at an eval once `level + gain x (1 - progress)` < the best
finished trial's final macro-F1, from `after` x max_steps on: the knobs picked by looking at the
corpus, so an optimistic bound for rules of this kind, not a pruner anyone could ship).

Writes results/bench/frontier.csv and frontier.md: per configuration compute used, best kept and
mean regret, and per pruner the least compute at which it keeps the best in >= 95% of sweeps.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
import time
from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from benchmarks import pruners as bench
from benchmarks.corpus import DEMO, load_demo
from sweeper.rules import PrunerSettings

OUT = Path("results") / "bench"
ORDERS = 100


def _ray(make: Callable[[], Any]) -> Callable[[], bench.Driver]:
    return lambda: bench.RayDriver(make(), "eval_macro_f1")


def _asha(grace: int, reduction: int) -> Callable[[], bench.Driver]:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    return _ray(lambda: AsyncHyperBandScheduler(time_attr="step", metric="eval_macro_f1", mode="max",
                                                max_t=bench.MAX_STEPS, grace_period=grace, reduction_factor=reduction))


def _median(grace: int, samples: int) -> Callable[[], bench.Driver]:
    from ray.tune.schedulers import MedianStoppingRule

    return _ray(lambda: MedianStoppingRule(time_attr="step", metric="eval_macro_f1", mode="max", grace_period=grace,
                                           min_samples_required=samples))


def _optuna_median(warmup: int) -> Callable[[], bench.Driver]:
    import optuna

    return lambda: bench.OptunaDriver(optuna.pruners.MedianPruner(n_warmup_steps=warmup), "max")


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


def configurations() -> list[tuple[str, str, Callable[[], bench.Driver] | PrunerSettings]]:
    """(pruner, knobs in words, a driver factory fed the eval_f1 signal, or our settings)."""
    rows: list[tuple[str, str, Any]] = []
    for grace in (25, 50, 75):
        for reduction in (2, 3, 4):
            rows.append(("ray-asha eval_f1", f"grace {grace}, reduction {reduction}", _asha(grace, reduction)))
    for grace in (25, 75):
        for samples in (2, 3):
            rows.append(("ray-median eval_f1", f"grace {grace}, min samples {samples}", _median(grace, samples)))
    for warmup in (0, 25, 75):
        rows.append(("optuna-median eval_f1", f"n_warmup_steps {warmup}", _optuna_median(warmup)))
    default = PrunerSettings(num_classes=3)
    for after in (0.1, 0.3):
        for peers in (1, 2):
            for outpaced in (0.1, 0.25):
                settings = replace(default, precedent_after=after, precedent_min_peers=peers, outpaced_after=outpaced)
                words = f"precedent_after {after}, precedent_min_peers {peers}, outpaced_after {outpaced}"
                rows.append(("sweeper", words + (" (default)" if settings == default else ""), settings))
    for after in (0.1, 0.2, 0.3):
        for gain in (0.1, 0.3, 0.5):
            rows.append(("threshold, tuned on the answers", f"after {after}, gain {gain}",
                         (lambda a=after, g=gain: ThresholdDriver(a, g))))
    return rows


def measure(config: tuple[str, str, Any], trials_by_order: list[list[Any]]) -> dict[str, Any]:
    pruner, words, how = config
    scores = []
    for trials in trials_by_order:
        for concurrency in bench.CONCURRENCY:
            if isinstance(how, PrunerSettings):
                outcome = bench.run_entry(bench.Entry("sweeper", bench.OURS_SIGNAL, "", how), trials, concurrency)
            else:
                bench.np_seed_all(0)
                runs = bench.simulate(trials, "eval_f1", concurrency, how())
                outcome = bench.Outcome([r.steps for r in runs], [r.completed for r in runs])
            scores.append(bench.score(trials, outcome))
    return {
        "pruner": pruner,
        "knobs": words,
        "compute_fraction": statistics.mean(s["compute_fraction"] for s in scores),
        "best_kept_rate": statistics.mean(float(s["best_kept"]) for s in scores),
        "mean_regret": statistics.mean(s["regret"] for s in scores),
    }


_ORDERS: list[list[Any]] = []


def _measure(index: int) -> dict[str, Any]:
    """Worker: the configuration by index (its factories are closures, which do not pickle)."""
    bench._quiet()
    return measure(configurations()[index], _ORDERS)


def frontier(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per pruner: its least compute at best kept >= the target, and its best-kept rate at <= 33% compute."""
    out = []
    for pruner in dict.fromkeys(r["pruner"] for r in rows):
        mine = [r for r in rows if r["pruner"] == pruner]
        kept = [r for r in mine if r["best_kept_rate"] >= bench.TARGET_BEST_KEPT]
        cheap = [r for r in mine if r["compute_fraction"] <= bench.TARGET_COMPUTE]
        least = min(kept, key=lambda r: r["compute_fraction"]) if kept else None
        most = max(cheap, key=lambda r: r["best_kept_rate"]) if cheap else None
        out.append({
            "pruner": pruner,
            "least_compute_at_target_kept": least["compute_fraction"] if least else None,
            "knobs_there": least["knobs"] if least else "-",
            "best_kept_at_target_compute": most["best_kept_rate"] if most else None,
            "knobs_at_target_compute": most["knobs"] if most else "-",
        })
    return out


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def render(rows: list[dict[str, Any]], front: list[dict[str, Any]], orders: int, wall: float) -> str:
    lines = [
        f"Frontier on the real demo corpus: {orders} random sweeps of {bench.SWEEP_SIZE} trials x concurrency 1 and 4 "
        f"({wall:.0f} s). Target: <= {bench.TARGET_COMPUTE:.0%} compute with the best kept in >= {bench.TARGET_BEST_KEPT:.0%}.",
        "",
        "| pruner | least compute with best kept >= 95% (knobs) | best kept at <= 33% compute (knobs) |",
        "|---|---:|---:|",
    ]
    for f in front:
        lines.append(f"| {f['pruner']} | {_pct(f['least_compute_at_target_kept'])} ({f['knobs_there']}) | "
                     f"{_pct(f['best_kept_at_target_compute'])} ({f['knobs_at_target_compute']}) |")
    lines += ["", "| pruner | knobs | compute used | best kept | mean regret |", "|---|---|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['pruner']} | {r['knobs']} | {r['compute_fraction']:.0%} | {r['best_kept_rate']:.1%} | "
                     f"{r['mean_regret']:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.frontier", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"random sweeps (default {ORDERS})")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--corpus", default=str(DEMO), help=f"the real corpus (default {DEMO})")
    parser.add_argument("--out", default=str(OUT), help=f"output folder (default {OUT})")
    args = parser.parse_args(argv)
    started = time.monotonic()
    bench._quiet()
    demo = Path(args.corpus)
    if not demo.exists():
        print(f"{demo} is missing: run `python -m benchmarks.corpus` first", file=sys.stderr)
        return 2
    corpus = load_demo(demo)
    _ORDERS[:] = [[corpus[i] for i in order] for order in bench.draw_orders(len(corpus), bench.SWEEP_SIZE, args.orders, seed=1)]
    configs = configurations()
    if args.workers > 1:
        import multiprocessing

        with multiprocessing.get_context("fork").Pool(args.workers) as pool:
            rows = pool.map(_measure, range(len(configs)), chunksize=1)
    else:
        rows = [_measure(i) for i in range(len(configs))]
    front = frontier(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "frontier.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["pruner", "knobs", "compute_fraction", "best_kept_rate", "mean_regret"])
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    md = render(rows, front, args.orders, time.monotonic() - started)
    (out / "frontier.md").write_text(md, encoding="utf-8")
    print(md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
