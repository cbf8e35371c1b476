"""Cost of CurveMonitor.observe per point: median and p99 microseconds over 10,000-point curves.

    python -m benchmarks.rules_cost [--points 10000] [--curves 3]

Prints a Markdown table and writes results/bench/rules_cost.json. Target: median < 20 us per
point for the full rule set (warning, divergence, staircase, plateau + policy).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

from sweeper.rules import CurveMonitor, Point, PrunerSettings, synthetic

OUT = Path("results") / "bench" / "rules_cost.json"


def _healthy(rng: random.Random, n: int) -> list[Point]:
    return synthetic.healthy(rng, n=n).points


def _staircase(rng: random.Random, n: int) -> list[Point]:
    while True:
        curve = synthetic.staircase(rng)
        if len(curve.points) >= 200:
            break
    points = curve.points
    # repeat the run's epochs until n points (steps and epochs keep increasing)
    out, offset_step, offset_epoch = [], 0, 0.0
    last = points[-1]
    while len(out) < n:
        for p in points:
            out.append(Point(step=p.step + offset_step, epoch=p.epoch + offset_epoch, loss=p.loss, eval_loss=p.eval_loss))
            if len(out) == n:
                break
        offset_step += last.step
        offset_epoch += last.epoch
    return out


def _label_loss(rng: random.Random, n: int) -> list[Point]:
    # w-explain style: loss, label_loss, eval metrics every 100 points, grad_norm
    out = []
    for i in range(n):
        level = 0.2 + 0.9 * pow(2.718281828, -i / (n / 5))
        point = Point(
            step=5 * (i + 1),
            epoch=3.0 * (i + 1) / n,
            loss=1.8 + 0.1 * rng.random(),
            label_loss=level * (1 + rng.gauss(0, 0.2)),
            explanation_loss=1.9,
            learning_rate=1e-4,
            grad_norm=1.0 + rng.random(),
            eval_label_loss=level if i % 100 == 99 else None,
            eval_accuracy=0.9 - level / 2 if i % 100 == 99 else None,
        )
        out.append(point)
    return out


FAMILIES = {"healthy decay": _healthy, "staircase + evals": _staircase, "label loss + evals": _label_loss}


def measure(points: list[Point], settings: PrunerSettings) -> list[float]:
    """Microseconds of each observe() call over one curve (a fresh monitor per curve)."""
    monitor = CurveMonitor(settings, max_steps=points[-1].step)
    clock = time.perf_counter_ns
    costs = []
    for point in points:
        start = clock()
        monitor.observe(point)
        costs.append((clock() - start) / 1000.0)
    return costs


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.rules_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000, help="points per curve (default 10,000)")
    parser.add_argument("--curves", type=int, default=3, help="curves per family (default 3)")
    parser.add_argument("--out", default=str(OUT), help=f"JSON output (default {OUT})")
    args = parser.parse_args(argv)
    # never stop: measure the whole curve, every rule on every point
    settings = PrunerSettings(enabled=False)
    rows = []
    for name, make in FAMILIES.items():
        costs: list[float] = []
        for seed in range(args.curves):
            costs += measure(make(random.Random(seed), args.points), settings)
        rows.append(
            {
                "family": name,
                "points": len(costs),
                "median_us": statistics.median(costs),
                "p99_us": _percentile(costs, 0.99),
                "max_us": max(costs),
                "mean_us": statistics.fmean(costs),
            }
        )
    print(f"CurveMonitor.observe cost per point ({args.curves} x {args.points:,}-point curves per family, "
          f"Python {platform.python_version()}, {platform.machine()})\n")
    print("| curve family | points | median us | p99 us | max us | mean us |")
    print("|---|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['family']} | {row['points']:,} | {row['median_us']:.1f} | {row['p99_us']:.1f} | {row['max_us']:.0f} | {row['mean_us']:.1f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"python": sys.version.split()[0], "machine": platform.machine(), "rows": rows}, indent=2) + "\n")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
