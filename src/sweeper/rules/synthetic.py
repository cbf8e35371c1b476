"""Synthetic loss curves with known truth, for property tests and benchmarks (stdlib `random`).

Each generator takes a `random.Random` and returns a SyntheticCurve: the points as a trainer
would log them (a step every `interval`, fractional epochs, noisy raw values, eval points on
some steps only) and what is true of the curve (its family, where its feature starts).

Families and what "known truth" means:
- healthy: the loss follows the progress of a warm-up + cosine learning-rate schedule (logged
  as learning_rate, as every trainer does),
  L = floor + (start - floor) * exp(-progress / tau), ending at most ~half its start; no epoch
  effect; multiplicative Gaussian noise of 0.5-10% and rare spikes.
- healthy_label: the same as a 3-class label loss (judge with num_classes=3): from 1.5-12 (a
  label token the base model finds unlikely) down to 0.05-0.45 at its last step (the stuck line
  is 0.5 ln 3 = 0.55), still falling there when its time constant is long; eval accuracy on some
  runs, rising from chance with the loss's progress.
- staircase: a fast decay early in epoch 1, then each epoch nearly flat (a slow trend) and a
  cliff of 8-40% at every boundary from `start_epoch` on; noise small enough for the cliff to
  be >= 8 standard errors of a difference of two W-point medians (the resolution of any
  windowed test); eval loss rising (memorising) or falling (improving) across the cliffs.
- stuck: a short decay to 70-100% of the start (or flat from the start), then flat with noise.
- non_finite: a healthy curve whose loss becomes NaN/inf at one step.
- rising: a healthy start, then a sustained climb to 2-4x the level (divergence).
- too_slow: a 3-class label loss (judge with num_classes=3) that learns far too slowly for its
  budget: from 8-12 it decays (time constant 0.3-2 of the run) to only 30-90% of its start at its
  last step, far above the stuck line (0.5 ln 3 = 0.55); eval accuracy on some runs, rising at
  most 6 points from chance (the demo's too-slow runs: 0.37 -> 0.40), with 3 points of noise.
  Truth: it will not converge; a plateau finding (too_slow, or stuck when its fall is lost in its
  noise) is right. (A run whose eval accuracy climbs 10 points is learning: left alone.)
- collapse: a healthy start, then the loss exactly one value at every log to the end (0.0, the
  fp16/bf16 overflow of LF logged without grad_norm, or another constant), after 2 or more normal
  logs. Truth: not training from `onset_step` on.
- blow_up: a healthy start, then the loss multiplied by 1.25-1.6 at every log (with noise) to the
  end (10 logs or a tenth of the run at least). Truth: broken from `onset_step` on.
- spike: a healthy curve with a transient spike (lr too high without warm-up): 2-8 logs, up to
  5-40x the level and back, shorter than 4% of the run's steps. Truth: healthy; the run recovers.
- eval_rising: a healthy training decay with 20 evals whose eval loss falls to its best at
  30-50% of the run, then rises to 2-3x that best by the end (memorising). Truth: the run gets
  worse on what it is measured on from the best eval on.
- late_bloomer: a slow start and the best final result (the short-horizon trap of ASHA and
  median pruning). Either a bloom (the loss follows a logistic drop in the progress of the
  schedule, steepest at progress 0.2-0.6, so it accelerates around 10-35% of the steps) or a slow
  convex decay (time constant 0.5-1.5 of the run) to a low final level; it ends at 5-30% of its
  start (the stuck line is 60%), or for a 3-class label loss starting at 8-12 at 0.05-0.3 (the
  stuck line is 0.5 ln 3 = 0.55). With eval points, eval accuracy rises with the loss's progress
  from chance, so it stays near chance through the slow start. Truth: it converges; no plateau
  (stuck) and no too-slow finding is right.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from sweeper.rules.point import Point


@dataclass
class SyntheticCurve:
    points: list[Point]
    family: str
    onset_step: int | None = None  # where the feature starts (first cliff, plateau onset, bad value)
    boundary_steps: list[int] = field(default_factory=list)  # first step of each new epoch
    params: dict = field(default_factory=dict)


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _lr_progress(n: int, warmup: float) -> list[float]:
    """Cumulative learning rate (0 -> 1) of linear warm-up + cosine decay, at each of n points."""
    lrs = _lr_schedule(n, warmup, 1.0)
    total = sum(lrs)
    out, acc = [], 0.0
    for lr in lrs:
        acc += lr
        out.append(acc / total)
    return out


def _layout(rng: random.Random, n: int, epochs: int, interval: int) -> tuple[list[int], list[float]]:
    steps = [(i + 1) * interval for i in range(n)]
    max_step = steps[-1]
    per_epoch = max_step / epochs
    return steps, [s / per_epoch for s in steps]


def _boundaries(steps: list[int], epochs_: list[float]) -> list[int]:
    out, previous = [], None
    for step, epoch in zip(steps, epochs_):
        index = max(0, math.ceil(epoch - 1e-6) - 1)
        if previous is not None and index > previous:
            out.append(step)
        previous = index
    return out


def _decay_levels(start: float, floor: float, tau: float, progress: list[float]) -> list[float]:
    """Exponential decay from `start` towards `floor` over the run's progress (0..1)."""
    return [floor + (start - floor) * math.exp(-p / tau) for p in progress]


def _floor_reaching(start: float, final: float, tau: float) -> float:
    """The asymptote that puts the last step (progress 1) of a decay from `start` at `final`."""
    decay = math.exp(-1.0 / tau)
    return (final - start * decay) / (1.0 - decay)


def _noisy(rng: random.Random, level: float, sigma: float, spike_rate: float) -> float:
    value = level * (1.0 + rng.gauss(0.0, sigma))
    if spike_rate and rng.random() < spike_rate:
        value *= rng.uniform(1.3, 2.5)
    return max(value, 1e-6)


def _lr_schedule(n: int, warmup: float, peak: float = 1e-4) -> list[float]:
    out = []
    for i in range(n):
        t = (i + 0.5) / n
        out.append(peak * (t / warmup if warmup > 0 and t < warmup else 0.5 * (1 + math.cos(math.pi * (t - warmup) / (1 - warmup)))))
    return out


def _with_evals(rng: random.Random, steps: list[int], epochs_: list[float], losses: list[float], every: int, eval_of,
                lrs: list[float] | None = None) -> list[Point]:
    points = []
    for i, (step, epoch, loss) in enumerate(zip(steps, epochs_, losses)):
        eval_loss = eval_of(i) if every and (i + 1) % every == 0 else None
        lr = lrs[i] if lrs is not None else None
        points.append(Point(step=step, epoch=epoch, loss=loss, eval_loss=eval_loss, learning_rate=lr))
    return points


def healthy(rng: random.Random, n: int | None = None) -> SyntheticCurve:
    n = n if n is not None else int(round(_log_uniform(rng, 10, 10_000)))
    epochs = rng.randint(1, 5)
    interval = rng.choice((1, 5, 10, 50))
    start = rng.uniform(0.8, 4.0)
    floor = start * rng.uniform(0.05, 0.4)
    tau = rng.uniform(0.08, 0.6)
    sigma = rng.uniform(0.005, 0.10)
    spike_rate = rng.choice((0.0, 0.0, 0.005, 0.02))
    warmup = rng.choice((0.0, 0.03, 0.1))
    steps, epochs_ = _layout(rng, n, epochs, interval)
    progress = _lr_progress(n, warmup)
    levels = _decay_levels(start, floor, tau, progress)
    losses = [_noisy(rng, level, sigma, spike_rate) for level in levels]
    eval_every = rng.choice((0, max(1, n // 10)))
    eval_floor = floor * 1.1
    points = _with_evals(rng, steps, epochs_, losses, eval_every,
                         lambda i: eval_floor + (start - floor) * math.exp(-progress[i] / tau),
                         _lr_schedule(n, warmup))
    return SyntheticCurve(points, "healthy", None, _boundaries(steps, epochs_),
                          dict(n=n, epochs=epochs, interval=interval, sigma=sigma, tau=tau, spikes=spike_rate))


def healthy_label(rng: random.Random, n: int | None = None) -> SyntheticCurve:
    """A healthy 3-class label-loss decay that converges below the stuck line by its last step."""
    n = n if n is not None else int(round(_log_uniform(rng, 10, 10_000)))
    epochs = rng.randint(1, 5)
    interval = rng.choice((1, 5, 10, 50))
    start = rng.uniform(1.5, 12.0)
    final = rng.uniform(0.05, 0.45)
    tau = rng.uniform(0.08, 0.6)
    floor = _floor_reaching(start, final, tau)
    sigma = rng.uniform(0.005, 0.15)  # label losses of small batches are noisy
    spike_rate = rng.choice((0.0, 0.0, 0.005, 0.02))
    warmup = rng.choice((0.0, 0.03, 0.1))
    steps, epochs_ = _layout(rng, n, epochs, interval)
    progress = _lr_progress(n, warmup)
    levels = _decay_levels(start, floor, tau, progress)
    losses = [_noisy(rng, level, sigma, spike_rate) for level in levels]
    eval_every = rng.choice((0, max(1, n // 10)))
    lrs = _lr_schedule(n, warmup)
    points = []
    for i, (step, epoch, loss) in enumerate(zip(steps, epochs_, losses)):
        is_eval = bool(eval_every) and (i + 1) % eval_every == 0
        done = (start - levels[i]) / (start - final)
        points.append(Point(step=step, epoch=epoch, loss=loss, label_loss=loss, learning_rate=lrs[i],
                            eval_label_loss=levels[i] * 1.1 if is_eval else None,
                            eval_accuracy=min(1.0, 1 / 3 + (0.9 - 1 / 3) * done + rng.gauss(0.0, 0.03)) if is_eval else None))
    return SyntheticCurve(points, "healthy_label", None, _boundaries(steps, epochs_),
                          dict(n=n, epochs=epochs, interval=interval, start=start, final=final, sigma=sigma, tau=tau,
                               spikes=spike_rate, warmup=warmup, num_classes=3))


def staircase(rng: random.Random, memorising: bool | None = None) -> SyntheticCurve:
    epochs = rng.randint(2, 5)
    per_epoch = rng.randint(30, 500)
    n = epochs * per_epoch
    interval = rng.choice((1, 5, 10))
    start_epoch = rng.randint(1, epochs - 1)  # first boundary with a cliff (0-based index of the new epoch)
    steps, epochs_ = _layout(rng, n, epochs, interval)
    start = rng.uniform(1.0, 3.0)
    level = start * rng.uniform(0.3, 0.7)  # where the early decay lands
    early = rng.uniform(0.05, 0.3) * per_epoch  # points of the fast early decay
    drops = [rng.uniform(0.08, 0.4) for _ in range(epochs)]
    window = max(5, min(50, round(0.1 * per_epoch)))
    # Noise the cliff can be resolved from: the smallest drop is >= 8 standard errors of the
    # difference of two W-point medians. (The rule fires at 4; cliffs of 4-8 standard errors are
    # the grey zone where any windowed test is found only sometimes.)
    max_sigma = min(drops[start_epoch:]) * math.sqrt(window) / (8 * 1.2533 * math.sqrt(2))
    sigma = rng.uniform(0.002, min(0.04, max_sigma))
    trend = rng.uniform(0.0, 0.03)  # within-epoch fall over a whole epoch
    losses, current = [], level
    for i in range(n):
        epoch = min(i // per_epoch, epochs - 1)
        within = (i % per_epoch) / per_epoch
        if epoch >= start_epoch and i % per_epoch == 0:
            current *= 1 - drops[epoch]
        elif epoch > 0 and i % per_epoch == 0:
            current *= 1 - trend  # a smooth boundary before the staircase starts
        base = current * (1 - trend * within)
        if epoch == 0 and i < early:
            base = level + (start - level) * (1 - i / early) ** 2
        losses.append(_noisy(rng, base, sigma, 0.0))
    memorising = rng.random() < 0.5 if memorising is None else memorising
    eval_every = max(1, per_epoch // rng.choice((2, 4, 5)))

    def eval_of(i: int) -> float:
        epoch = min(i // per_epoch, epochs - 1)
        base = 1.2 * level
        if memorising:
            return base * (1 + 0.03 * max(0, epoch - start_epoch + 1))
        return base * (1 - 0.03 * epoch)

    points = _with_evals(rng, steps, epochs_, losses, eval_every, eval_of)
    boundaries = _boundaries(steps, epochs_)
    return SyntheticCurve(points, "staircase", boundaries[start_epoch - 1], boundaries,
                          dict(epochs=epochs, per_epoch=per_epoch, start_epoch=start_epoch, drops=drops,
                               sigma=sigma, window=window, memorising=memorising))


def stuck(rng: random.Random, max_sigma: float = 0.02) -> SyntheticCurve:
    n = int(round(_log_uniform(rng, 100, 3000)))
    epochs = rng.randint(1, 3)
    interval = rng.choice((1, 5, 10))
    steps, epochs_ = _layout(rng, n, epochs, interval)
    start = rng.uniform(0.8, 3.0)
    plateau = start * rng.uniform(0.7, 1.0)
    onset = int(n * rng.choice((0.0, rng.uniform(0.05, 0.5))))
    sigma = rng.uniform(0.001, max_sigma)
    losses = []
    for i in range(n):
        base = plateau + (start - plateau) * (1 - i / onset) if i < onset else plateau
        losses.append(_noisy(rng, base, sigma, 0.0))
    points = [Point(step=s, epoch=e, loss=v) for s, e, v in zip(steps, epochs_, losses)]
    return SyntheticCurve(points, "stuck", steps[onset], _boundaries(steps, epochs_),
                          dict(n=n, onset=onset, sigma=sigma, plateau_ratio=plateau / start))


def non_finite(rng: random.Random) -> SyntheticCurve:
    base = healthy(rng, n=int(round(_log_uniform(rng, 10, 3000))))
    points = base.points
    index = rng.randrange(len(points))
    bad = rng.choice((math.nan, math.inf, -math.inf))
    old = points[index]
    points[index] = Point(step=old.step, epoch=old.epoch, loss=bad, eval_loss=old.eval_loss)
    return SyntheticCurve(points, "non_finite", old.step, base.boundary_steps, dict(base.params, index=index))


def rising(rng: random.Random) -> SyntheticCurve:
    """A healthy start, then the loss climbs to 2-4x its level within a few points and stays there."""
    base = healthy(rng, n=int(round(_log_uniform(rng, 40, 3000))))
    points = base.points
    index = rng.randrange(max(10, len(points) // 5), len(points) - 10)
    factor = rng.uniform(2.0, 4.0)
    ramp = rng.randint(1, 4)
    sigma = base.params["sigma"]
    level = sorted(p.loss for p in points[index - 5 : index])[2]  # the level where it turns
    out = []
    for i, point in enumerate(points):
        loss = point.loss
        if i >= index:
            loss = level * (1.0 + (factor - 1.0) * min(1.0, (i - index + 1) / ramp)) * (1 + rng.gauss(0, sigma))
        out.append(Point(step=point.step, epoch=point.epoch, loss=loss, eval_loss=point.eval_loss,
                         learning_rate=point.learning_rate))
    return SyntheticCurve(out, "rising", points[index].step, base.boundary_steps, dict(base.params, index=index, factor=factor, ramp=ramp))


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -60 else 0.0


def late_bloomer(rng: random.Random, n: int | None = None) -> SyntheticCurve:
    """A slow start that accelerates (or a slow convex decay), ending lowest; see the module docstring.

    `params["num_classes"]` is 3 when the curve is a 3-class label loss (judge it with num_classes=3),
    else None. The run's max_steps is its last step.
    """
    n = n if n is not None else int(round(_log_uniform(rng, 40, 3000)))
    epochs = rng.randint(1, 5)
    interval = rng.choice((1, 2, 5, 10))
    warmup = rng.choice((0.0, 0.03, 0.1))
    classes = rng.choice((None, 3))
    if classes is None:
        start = rng.uniform(0.8, 4.0)
        final = start * rng.uniform(0.05, 0.3)
    else:
        start = rng.uniform(8.0, 12.0)  # a label token the base model finds unlikely
        final = rng.uniform(0.05, 0.3)
    shape = rng.choice(("bloom", "slow"))
    sigma = rng.uniform(0.005, 0.10)
    spike_rate = rng.choice((0.0, 0.0, 0.005, 0.02))
    steps, epochs_ = _layout(rng, n, epochs, interval)
    progress = _lr_progress(n, warmup)
    if shape == "bloom":
        p0, width = rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.15)
        low, high = _logistic(-p0 / width), _logistic((1 - p0) / width)
        done = [(_logistic((p - p0) / width) - low) / (high - low) for p in progress]
        shape_params = dict(p0=p0, width=width)
    else:
        tau = rng.uniform(0.5, 1.5)
        done = [(1 - math.exp(-p / tau)) / (1 - math.exp(-1 / tau)) for p in progress]
        shape_params = dict(tau=tau)
    levels = [start - (start - final) * d for d in done]
    losses = [_noisy(rng, level, sigma, spike_rate) for level in levels]
    eval_every = rng.choice((0, max(1, n // 10)))
    lrs = _lr_schedule(n, warmup)
    points = []
    for i, (step, epoch, loss) in enumerate(zip(steps, epochs_, losses)):
        is_eval = bool(eval_every) and (i + 1) % eval_every == 0
        eval_loss = levels[i] * 1.1 if is_eval else None
        accuracy = None
        if is_eval and classes is not None:
            chance = 1.0 / classes
            accuracy = min(1.0, max(0.0, chance + (0.9 - chance) * done[i] + rng.gauss(0.0, 0.03)))
        label = classes is not None
        points.append(Point(step=step, epoch=epoch, loss=loss, label_loss=loss if label else None,
                            learning_rate=lrs[i], eval_loss=eval_loss, eval_label_loss=eval_loss if label else None,
                            eval_accuracy=accuracy))
    return SyntheticCurve(points, "late_bloomer", None, _boundaries(steps, epochs_),
                          dict(n=n, epochs=epochs, interval=interval, warmup=warmup, num_classes=classes, shape=shape,
                               start=start, final=final, sigma=sigma, spikes=spike_rate, **shape_params))


def too_slow(rng: random.Random, n: int | None = None) -> SyntheticCurve:
    """A 3-class label loss that falls far too slowly to converge by its last step; see the module docstring."""
    n = n if n is not None else int(round(_log_uniform(rng, 30, 3000)))
    epochs = rng.randint(1, 5)
    interval = rng.choice((1, 2, 5, 10))
    warmup = rng.choice((0.0, 0.03, 0.1))
    start = rng.uniform(8.0, 12.0)
    final = start * rng.uniform(0.3, 0.9)
    tau = rng.uniform(0.3, 2.0)
    floor = _floor_reaching(start, final, tau)
    sigma = rng.uniform(0.005, 0.15)
    spike_rate = rng.choice((0.0, 0.0, 0.005, 0.02))
    steps, epochs_ = _layout(rng, n, epochs, interval)
    progress = _lr_progress(n, warmup)
    levels = _decay_levels(start, floor, tau, progress)
    losses = [_noisy(rng, level, sigma, spike_rate) for level in levels]
    eval_every = rng.choice((0, max(1, n // 10)))
    lrs = _lr_schedule(n, warmup)
    points = []
    for i, (step, epoch, loss) in enumerate(zip(steps, epochs_, losses)):
        is_eval = bool(eval_every) and (i + 1) % eval_every == 0
        done = (start - levels[i]) / (start - 0.55)
        points.append(Point(step=step, epoch=epoch, loss=loss, label_loss=loss, learning_rate=lrs[i],
                            eval_label_loss=levels[i] * 1.05 if is_eval else None,
                            eval_accuracy=min(1.0, 1 / 3 + 0.06 * done + rng.gauss(0.0, 0.03)) if is_eval else None))
    return SyntheticCurve(points, "too_slow", None, _boundaries(steps, epochs_),
                          dict(n=n, epochs=epochs, interval=interval, warmup=warmup, start=start, final=final, tau=tau,
                               sigma=sigma, spikes=spike_rate, num_classes=3))


def collapse(rng: random.Random) -> SyntheticCurve:
    """A healthy start, then exactly one value at every log to the end; see the module docstring."""
    base = healthy(rng, n=int(round(_log_uniform(rng, 40, 3000))))
    points = base.points
    index = rng.randrange(2, max(3, len(points) - 12))
    start = points[0].loss
    value = 0.0 if rng.random() < 0.7 else round(start * rng.uniform(0.3, 1.2), 4)
    out = [p if i < index else Point(step=p.step, epoch=p.epoch, loss=value, eval_loss=p.eval_loss, learning_rate=p.learning_rate)
           for i, p in enumerate(points)]
    return SyntheticCurve(out, "collapse", points[index].step, base.boundary_steps, dict(base.params, index=index, value=value))


def blow_up(rng: random.Random) -> SyntheticCurve:
    """A healthy start, then the loss multiplied by 1.25-1.6 at every log to the end."""
    base = healthy(rng, n=int(round(_log_uniform(rng, 40, 3000))))
    points = base.points
    index = rng.randrange(max(2, len(points) // 10), len(points) - max(10, len(points) // 10))
    growth = rng.uniform(1.25, 1.6)
    sigma = min(base.params["sigma"], 0.05)
    level = sorted(p.loss for p in points[max(0, index - 5) : index])[len(points[max(0, index - 5) : index]) // 2]
    out = []
    for i, point in enumerate(points):
        loss = point.loss
        if i >= index:
            loss = level * growth ** min(i - index + 1, 40) * (1 + rng.gauss(0, sigma))  # capped: 1.6^40 is 1.3e8
        out.append(Point(step=point.step, epoch=point.epoch, loss=loss, eval_loss=point.eval_loss, learning_rate=point.learning_rate))
    return SyntheticCurve(out, "blow_up", points[index].step, base.boundary_steps, dict(base.params, index=index, growth=growth))


def spike(rng: random.Random) -> SyntheticCurve:
    """A healthy curve with a transient spike it recovers from, shorter than 4% of its steps."""
    base = healthy(rng, n=int(round(_log_uniform(rng, 200, 3000))))
    points = base.points
    n = len(points)
    length = rng.randint(2, min(8, int(0.04 * n)))
    index = rng.randrange(n // 10, int(0.8 * n))
    peak = rng.uniform(5.0, 40.0)
    up = (length + 1) // 2
    out = []
    for i, point in enumerate(points):
        loss = point.loss
        if index <= i < index + length:
            k = i - index
            loss *= 1 + (peak - 1) * ((k + 1) / up if k < up else (length - k) / (length - up + 1))
        out.append(Point(step=point.step, epoch=point.epoch, loss=loss, eval_loss=point.eval_loss, learning_rate=point.learning_rate))
    return SyntheticCurve(out, "spike", points[index].step, base.boundary_steps, dict(base.params, index=index, length=length, peak=peak))


def eval_rising(rng: random.Random) -> SyntheticCurve:
    """A healthy training decay whose eval loss falls to its best at 30-50% of the run, then rises to 2-3x it."""
    n = int(round(_log_uniform(rng, 100, 3000)))
    base = healthy(rng, n=n)
    turn = rng.uniform(0.3, 0.5)
    final = rng.uniform(2.0, 3.0)
    every = max(1, n // 20)
    first = base.points[0].loss
    best = first * rng.uniform(0.3, 0.6)
    out, best_step = [], None
    for i, point in enumerate(base.points):
        eval_loss = None
        if (i + 1) % every == 0:
            t = (i + 1) / n
            if t <= turn:
                eval_loss = first - (first - best) * t / turn
            else:
                eval_loss = best * (1 + (final - 1) * (t - turn) / (1 - turn))
                if best_step is None:
                    best_step = base.points[i - every].step
        out.append(Point(step=point.step, epoch=point.epoch, loss=point.loss, eval_loss=eval_loss, learning_rate=point.learning_rate))
    return SyntheticCurve(out, "eval_rising", best_step, base.boundary_steps, dict(base.params, turn=turn, final=final, every=every))
