"""The pruner benchmark's curve corpus: whole, unpruned curves with the final quality of each trial.

    python -m benchmarks.corpus [--spec benchmarks/corpus.yaml] [--num-cpus 2]
    python -m benchmarks.corpus --from-sweep results/corpus/pruner-corpus   # re-pack, no training

Two parts:
- demo: REAL sweeps of the project (benchmarks/corpus.yaml: the demo task swept wide with pruning
  off). Every reported point of every trial and its final evaluation, packed into
  `benchmarks/corpus/demo_curves.parquet` (committed; one row per point, the trial's params and
  final metrics repeated on each row).
- parametric: families the demo cannot produce at scale (late bloomers, staircases with and
  without eval improvement, stuck and converged plateaus, divergence after a good start, noisy
  healthy curves), generated deterministically at benchmark time by `parametric()` with the same
  layout as a demo trial (75 steps an epoch, a point every 2 steps, an evaluation every 25 steps
  and at every epoch end) and a known final quality (the final eval macro-F1).

The final quality of a trial is its LAST evaluation (at the end of the run), not its best one: the
model a sweep hands over is the one it finished with.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.rules import Point
from sweeper.rules.point import POINT_FIELDS as ALL_POINT_FIELDS

SPEC = Path("benchmarks") / "corpus.yaml"
DEMO = Path("benchmarks") / "corpus" / "demo_curves.parquet"
# The second real corpus, a task unlike the demo (benchmarks/topics_task.py, benchmarks/corpus-topics.yaml):
# never used while tuning the rules, scored at the end of a change.
TOPICS = Path("benchmarks") / "corpus" / "topics_curves.parquet"

# Point fields kept in the corpus: a Point's own but throughput (a property of the machine, not the curve).
POINT_FIELDS = tuple(name for name in ALL_POINT_FIELDS if name != "tokens_per_second")
PARAMS = ("learning_rate", "num_train_epochs", "lora_rank", "include_explanation", "seed")


@dataclass
class CorpusTrial:
    """One whole curve and what is true of it.

    `points` are sorted by step; at a step with both a training and an evaluation report the
    training point comes first (the order a trial reports them). `final_f1` is the macro-F1 of the
    evaluation at the end of the run: the quality the sweep's best trial is judged by.
    """

    trial_id: str
    source: str  # "demo" or the parametric family
    explain: bool  # trained on label + explanation (w-explain)
    max_steps: int
    steps_per_epoch: float
    points: list[Point]
    final_f1: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        return round(self.max_steps / self.steps_per_epoch)


# -- demo part: real sweeps --------------------------------------------------------------------


def run_corpus_sweep(spec_path: Path, num_cpus: int) -> Path:
    """Run the corpus sweep (pruning must be off); returns the sweep folder."""
    from sweeper.orchestrate.sweep import run_sweep
    from sweeper.spec import load_spec

    spec = load_spec(spec_path)
    if spec.pruner.enabled:
        raise SystemExit(f"{spec_path}: the corpus needs whole curves; set `pruner: {{enabled: false}}`")
    started = time.monotonic()
    outcome = run_sweep(spec, overwrite=True, num_cpus=num_cpus, quiet=True)
    minutes = (time.monotonic() - started) / 60
    print(f"sweep {spec.name}: {len(outcome.rows)} trials, {outcome.counts} in {minutes:.1f} min "
          f"({outcome.steps_run} of {outcome.steps_planned} steps)", flush=True)
    return outcome.sweep_dir


def pack_sweep(sweep_dirs: list[Path], out: Path) -> list[CorpusTrial]:
    """Read finished sweeps (curves.parquet + leaderboard.csv) into the corpus file at `out`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from sweeper.results.leaderboard import read_leaderboard

    rows: list[dict[str, Any]] = []
    skipped: list[str] = []
    for sweep_dir in sweep_dirs:
        board = {row["trial_id"]: row for row in read_leaderboard(sweep_dir)}
        curves = pq.read_table(sweep_dir / "curves.parquet").to_pylist()
        by_trial: dict[str, list[dict[str, Any]]] = {}
        for point in curves:
            by_trial.setdefault(point["trial_id"], []).append(point)
        for trial_id, points in sorted(by_trial.items()):
            row = board.get(trial_id, {})
            if row.get("status") != "completed" or not row.get("max_steps"):
                skipped.append(f"{sweep_dir.name}/{trial_id} ({row.get('status', 'no leaderboard row')})")
                continue
            max_steps = int(float(row["max_steps"]))
            epochs = int(float(row["num_train_epochs"]))
            kept = [p for p in points if any(p.get(name) is not None for name in POINT_FIELDS[2:])]
            evals = [p for p in kept if p.get("eval_macro_f1") is not None]
            if not evals or evals[-1]["step"] != max_steps:
                skipped.append(f"{sweep_dir.name}/{trial_id} (no evaluation at the last step {max_steps})")
                continue
            final = evals[-1]
            fixed = {
                "trial_id": f"{sweep_dir.name}/{trial_id}",
                **{f"param_{name}": _param(row.get(name), name) for name in PARAMS},
                "max_steps": max_steps,
                "steps_per_epoch": max_steps / epochs,
                "final_eval_macro_f1": float(final["eval_macro_f1"]),
                "final_eval_accuracy": _float(final.get("eval_accuracy")),
                "final_eval_label_loss": _float(final.get("eval_label_loss")),
            }
            for point in kept:
                rows.append({**fixed, **{name: point.get(name) for name in POINT_FIELDS}})
    if skipped:
        print(f"skipped {len(skipped)} trial(s): " + "; ".join(skipped), file=sys.stderr)
    schema = pa.schema(
        [
            ("trial_id", pa.string()),
            ("param_learning_rate", pa.float64()),
            ("param_num_train_epochs", pa.int64()),
            ("param_lora_rank", pa.int64()),
            ("param_include_explanation", pa.bool_()),
            ("param_seed", pa.int64()),
            ("max_steps", pa.int64()),
            ("steps_per_epoch", pa.float64()),
            ("final_eval_macro_f1", pa.float64()),
            ("final_eval_accuracy", pa.float64()),
            ("final_eval_label_loss", pa.float64()),
            ("step", pa.int64()),
            *[(name, pa.float32()) for name in POINT_FIELDS[1:]],
        ]
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), out, compression="zstd", compression_level=19)
    return load_demo(out)


def _param(value: Any, name: str) -> Any:
    if value is None or value == "":
        return None
    if name == "include_explanation":
        return str(value) in ("True", "true", "1")
    if name == "learning_rate":
        return float(value)
    return int(float(value))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def load_demo(path: Path = DEMO, source: str = "demo") -> list[CorpusTrial]:
    """A committed real corpus, one CorpusTrial per trial (sorted by trial id), each of `source`."""
    import pyarrow.parquet as pq

    table = pq.read_table(path).to_pylist()
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in table:
        grouped.setdefault(row["trial_id"], []).append(row)
    trials = []
    for trial_id in sorted(grouped):
        rows = grouped[trial_id]
        first = rows[0]
        # Training point before evaluation point at the same step, as the trial reported them.
        rows.sort(key=lambda r: (r["step"], r["loss"] is None))
        points = [Point(**{name: _as_float(r[name]) if name != "step" else r["step"] for name in POINT_FIELDS}) for r in rows]
        trials.append(
            CorpusTrial(
                trial_id=trial_id,
                source=source,
                explain=bool(first["param_include_explanation"]),
                max_steps=int(first["max_steps"]),
                steps_per_epoch=float(first["steps_per_epoch"]),
                points=points,
                final_f1=float(first["final_eval_macro_f1"]),
                params={name: first[f"param_{name}"] for name in PARAMS},
            )
        )
    return trials


def _as_float(value: Any) -> float | None:
    # float32 in the file: round-trip to a short float64 so 0.1 reads 0.1, not 0.10000000149.
    return None if value is None else float(f"{value:.7g}")


# -- parametric part ---------------------------------------------------------------------------

FAMILIES = (
    "late_bloomer",
    "staircase_improving",
    "staircase_memorising",
    "stuck",
    "converged",
    "divergence",
    "noisy_healthy",
)


def parametric(seed: int = 0, per_family: int = 30) -> list[CorpusTrial]:
    """`per_family` curves of each family, deterministic in `seed`."""
    rng = random.Random(seed)
    trials = []
    for family in FAMILIES:
        make = _MAKERS[family]
        for index in range(per_family):
            trials.append(make(rng, f"{family}/{index:03d}"))
    return trials


STEPS_PER_EPOCH = 75
LOG_EVERY = 2
EVAL_EVERY = 25
LN3 = math.log(3.0)


def _layout(epochs: int) -> tuple[list[int], list[int]]:
    """Training-point steps and evaluation steps of a run of `epochs` demo-sized epochs."""
    max_steps = epochs * STEPS_PER_EPOCH
    train = list(range(LOG_EVERY, max_steps + 1, LOG_EVERY))
    if train[-1] != max_steps:
        train.append(max_steps)  # the trainer logs the last step
    evals = sorted(set(range(EVAL_EVERY, max_steps + 1, EVAL_EVERY)) | {STEPS_PER_EPOCH * e for e in range(1, epochs + 1)})
    return train, evals


def _cosine_lr(step: int, max_steps: int, peak: float) -> float:
    return peak * 0.5 * (1 + math.cos(math.pi * step / max_steps))


def _noise(rng: random.Random, level: float, scale: float) -> float:
    """Multiplicative noise of one logged label loss, mean 1, as the demo's: a 2-step mean over 16
    examples, so a few wrong examples dominate a low loss (relative sd ~0.05 + 0.1 / level: ~1 at
    0.1, ~0.15 at ln 3, ~0.06 at 7). Gamma-distributed: positive and right-skewed."""
    sd = min(1.2, scale * (0.05 + 0.1 / max(level, 1e-3)))
    shape = 1.0 / (sd * sd)
    return rng.gammavariate(shape, 1.0 / shape)


def _build(
    rng: random.Random,
    trial_id: str,
    family: str,
    epochs: int,
    label_at,  # progress in [0, 1] -> label-loss level (noise-free)
    f1_at,  # progress -> eval macro-F1 (noise-free)
    eval_loss_at,  # progress -> eval label loss
    noise: float,  # scale of the demo's noise model (1 = as noisy as the demo)
    explain: bool | None = None,
    nan_from: float | None = None,
) -> CorpusTrial:
    """Points of one parametric trial in the demo's layout and the demo's loss scales: wo-explain
    `loss` is about half the label loss (the easy end-of-sequence token shares the mean); w-explain
    `loss` is dominated by explanation tokens (~3.3 per label token, their loss falling from ~9.5
    to 2-2.8: random explanation words cannot be learnt), so it sits at 2-3 whatever the label does."""
    explain = rng.random() < 0.5 if explain is None else explain
    train_steps, eval_steps = _layout(epochs)
    max_steps = train_steps[-1]
    peak = math.exp(rng.uniform(math.log(1e-3), math.log(1e-2)))
    expl_floor = rng.uniform(2.0, 2.8)
    expl_tau = rng.uniform(0.15, 0.4)
    expl_weight = 3.3
    points: list[Point] = []
    evals = iter(eval_steps)
    next_eval = next(evals, None)
    for step in train_steps:
        t = step / max_steps
        broken = nan_from is not None and t >= nan_from
        level = label_at(t)
        label = math.nan if broken else level * _noise(rng, level, noise)
        epoch = step / STEPS_PER_EPOCH
        lr = _cosine_lr(step, max_steps, peak)
        grad_norm = 0.5 + 2.0 * rng.random()
        if explain:
            expl = (expl_floor + (9.5 - expl_floor) * math.exp(-t / expl_tau)) * (1.0 + rng.gauss(0.0, 0.05))
            loss = math.nan if broken else (label + expl_weight * expl) / (1 + expl_weight)
            points.append(Point(step=step, epoch=epoch, loss=loss, label_loss=label, explanation_loss=expl,
                                learning_rate=lr, grad_norm=grad_norm))
        else:
            loss = math.nan if broken else 0.5 * label
            points.append(Point(step=step, epoch=epoch, loss=loss, label_loss=label, learning_rate=lr, grad_norm=grad_norm))
        while next_eval is not None and next_eval <= step:
            te = next_eval / max_steps
            f1 = min(0.99, max(0.1, f1_at(te) + rng.gauss(0.0, 0.02)))
            if nan_from is not None and te >= nan_from:
                f1 = 1 / 6  # collapsed: one class predicted, macro-F1 of 3 classes = 1/6
            eval_label = eval_loss_at(te) * (1.0 + rng.gauss(0.0, 0.03))
            eval_loss = eval_label / 2 if not explain else (eval_label + expl_weight * (expl_floor + 0.3)) / (1 + expl_weight)
            points.append(Point(step=next_eval, epoch=next_eval / STEPS_PER_EPOCH, eval_loss=eval_loss,
                                eval_label_loss=eval_label, eval_accuracy=min(0.99, f1 + 0.01), eval_macro_f1=f1))
            next_eval = next(evals, None)
    final = [p for p in points if p.eval_macro_f1 is not None][-1]
    return CorpusTrial(trial_id, family, explain, max_steps, float(STEPS_PER_EPOCH), points, final.eval_macro_f1,
                       {"epochs": epochs, "learning_rate": peak, "noise": noise})


def _start(rng: random.Random) -> float:
    return rng.uniform(8.0, 11.0)  # the tiny model's first label loss (the label token among the vocabulary)


def _late_bloomer(rng: random.Random, trial_id: str) -> CorpusTrial:
    """Slow start: a quick fall to near chance (ln 3), a long slow stretch, then the best final result."""
    epochs = rng.randint(3, 5)
    start = _start(rng)
    high = rng.uniform(0.85, 1.05) * LN3
    floor = rng.uniform(0.06, 0.15)
    onset = rng.uniform(0.35, 0.6)  # where it blooms
    slope = rng.uniform(0.0, 0.25)  # how much it still falls over the slow stretch (0 = flat)
    final_f1 = rng.uniform(0.955, 0.985)

    def level(t: float) -> float:
        early = start * math.exp(-t / 0.02)
        slow = high * (1 - slope * min(t, onset) / onset)
        bloom = 1 / (1 + math.exp(-(t - onset - 0.08) / 0.04))
        return early + slow + (floor - slow) * bloom

    def f1(t: float) -> float:
        bloom = 1 / (1 + math.exp(-(t - onset - 0.1) / 0.05))
        return 0.3 + (final_f1 - 0.3) * bloom + 0.03 * t * (1 - bloom)

    return _build(rng, trial_id, "late_bloomer", epochs, level, f1, lambda t: level(t) * 1.1 + 0.05, rng.uniform(0.5, 1.0))


def _staircase(rng: random.Random, trial_id: str, improving: bool) -> CorpusTrial:
    """Flat within each epoch, a cliff at every boundary; eval improving or stalled (memorising)."""
    epochs = rng.randint(3, 5)
    start = _start(rng)
    first = rng.uniform(0.4, 0.8)  # level after the first epoch's quick fall
    drops = [rng.uniform(0.3, 0.6) for _ in range(epochs)]
    if improving:
        f1_first, f1_gain = rng.uniform(0.82, 0.88), rng.uniform(0.02, 0.035)
    else:
        f1_first, f1_gain = rng.uniform(0.80, 0.87), -rng.uniform(0.0, 0.01)

    def level(t: float) -> float:
        e = min(int(t * epochs), epochs - 1)
        current = first
        for k in range(1, e + 1):
            current *= 1 - drops[k]
        within = t * epochs - e
        value = current * (1 - 0.03 * within)
        if e == 0:
            value += (start - first) * math.exp(-t * epochs / 0.1)
        return value

    def f1(t: float) -> float:
        e = min(int(t * epochs - 1e-9), epochs - 1)
        return f1_first + f1_gain * e if improving else f1_first + f1_gain * max(0, e - 1)

    def eval_loss(t: float) -> float:
        e = min(int(t * epochs - 1e-9), epochs - 1)
        base = 1.3 * first
        return base * (1 - 0.05 * e) if improving else base * (1 + 0.06 * e)

    family = "staircase_improving" if improving else "staircase_memorising"
    return _build(rng, trial_id, family, epochs, level, f1, eval_loss, rng.uniform(0.1, 0.3))


def _stuck(rng: random.Random, trial_id: str) -> CorpusTrial:
    """Collapses to the class prior: the label loss falls to ~ln 3 and stays; eval near chance."""
    epochs = rng.randint(1, 5)
    start = _start(rng)
    high = rng.uniform(0.95, 1.1) * LN3
    final_f1 = rng.uniform(0.17, 0.45)
    level = lambda t: high + (start - high) * math.exp(-t / 0.03)  # noqa: E731
    return _build(rng, trial_id, "stuck", epochs, level, lambda t: final_f1, lambda t: high * 1.02, rng.uniform(0.3, 1.0))


def _converged(rng: random.Random, trial_id: str) -> CorpusTrial:
    """Falls to a good low level by 30-50% of the run, then flat: a result, not quite the best."""
    epochs = rng.randint(2, 5)
    start = _start(rng)
    floor = rng.uniform(0.12, 0.3)
    tau = rng.uniform(0.05, 0.12)
    final_f1 = rng.uniform(0.88, 0.94)
    level = lambda t: floor + (start - floor) * math.exp(-t / tau)  # noqa: E731
    f1 = lambda t: final_f1 - (final_f1 - 0.35) * math.exp(-t / tau)  # noqa: E731
    return _build(rng, trial_id, "converged", epochs, level, f1, lambda t: level(t) * 1.2, rng.uniform(0.5, 1.0))


def _divergence(rng: random.Random, trial_id: str) -> CorpusTrial:
    """A good start, then the loss climbs to 2-4x its level (or turns NaN); the final model is broken."""
    epochs = rng.randint(2, 5)
    start = _start(rng)
    floor = rng.uniform(0.2, 0.5)
    turn = rng.uniform(0.25, 0.6)
    factor = rng.uniform(2.0, 4.0)
    nan = rng.random() < 0.25
    final_f1 = rng.uniform(0.2, 0.5)

    def level(t: float) -> float:
        base = floor + (start - floor) * math.exp(-t / 0.06)
        if t < turn:
            return base
        return base * (1 + (factor - 1) * min(1.0, (t - turn) / 0.05))

    def f1(t: float) -> float:
        good = 0.88 - 0.5 * math.exp(-t / 0.06)
        return good if t < turn else final_f1 + (good - final_f1) * math.exp(-(t - turn) / 0.05)

    return _build(rng, trial_id, "divergence", epochs, level, f1, lambda t: level(t) * 1.15, rng.uniform(0.3, 1.0),
                  nan_from=turn + 0.05 if nan else None)


def _noisy_healthy(rng: random.Random, trial_id: str) -> CorpusTrial:
    """A normal decay under 1-1.5x the demo's point noise; good final result."""
    epochs = rng.randint(1, 5)
    start = _start(rng)
    floor = rng.uniform(0.1, 0.3)
    tau = rng.uniform(0.1, 0.3)
    final_f1 = rng.uniform(0.85, 0.95)
    level = lambda t: floor + (start - floor) * math.exp(-t / tau)  # noqa: E731
    f1 = lambda t: final_f1 - (final_f1 - 0.35) * math.exp(-t / (tau * 1.2))  # noqa: E731
    return _build(rng, trial_id, "noisy_healthy", epochs, level, f1, lambda t: level(t) * 1.15, rng.uniform(1.0, 1.5))


_MAKERS = {
    "late_bloomer": _late_bloomer,
    "staircase_improving": lambda rng, tid: _staircase(rng, tid, True),
    "staircase_memorising": lambda rng, tid: _staircase(rng, tid, False),
    "stuck": _stuck,
    "converged": _converged,
    "divergence": _divergence,
    "noisy_healthy": _noisy_healthy,
}


# -- command -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.corpus", description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(SPEC), help=f"the corpus sweep spec (default {SPEC})")
    parser.add_argument("--out", default=str(DEMO), help=f"the corpus file (default {DEMO})")
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs Ray may use (default 2)")
    parser.add_argument("--from-sweep", nargs="+", metavar="DIR",
                        help="pack finished sweep folder(s) instead of running the sweep")
    args = parser.parse_args(argv)
    started = time.monotonic()
    if args.from_sweep:
        sweep_dirs = [Path(d) for d in args.from_sweep]
    else:
        sweep_dirs = [run_corpus_sweep(Path(args.spec), args.num_cpus)]
    trials = pack_sweep(sweep_dirs, Path(args.out))
    size = Path(args.out).stat().st_size
    points = sum(len(t.points) for t in trials)
    print(f"written: {args.out} ({len(trials)} trials, {points:,} points, {size / 1024:.0f} KiB) "
          f"in {(time.monotonic() - started) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
