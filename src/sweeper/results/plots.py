"""Curve plots: the raw loss beside the smoothed curve users were shown, with what the rules saw.

matplotlib is imported inside the function (Agg canvas, no pyplot state): importing this module
costs nothing, and it works on machines without a display.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from sweeper.errors import SweeperError
from sweeper.rules.point import Finding, Point
from sweeper.rules.signal import EVAL_METRIC
from sweeper.rules.smoothing import llamafactory_smooth
from sweeper.rules.staircase import epoch_index

_MARKERS = {
    "divergence": ("X", "#d62728"),
    "staircase": ("v", "#9467bd"),
    "plateau": ("s", "#8c564b"),
    "warning": ("^", "#ff7f0e"),
}


def _finite(values: Iterable[float]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _robust_top(values: Sequence[float]) -> float | None:
    """A y-axis top that keeps one huge early point (ms-swift's first loss of 20) from flattening the rest."""
    finite = sorted(_finite(values))
    if len(finite) < 10:
        return None
    p95 = finite[int(0.95 * (len(finite) - 1))]
    if finite[-1] > 3 * p95 > 0:
        return 1.5 * p95
    return None


def plot_curve(points: Sequence[Point], out_path: str | Path, findings: Iterable[Finding] = (), title: str = "") -> Path:
    """Write a PNG of one run: raw loss (and label loss), LLaMA-Factory's `--plot_loss` smoothing of
    the loss, eval loss, dashed lines at epoch boundaries, and a marker where each rule fired."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise SweeperError("--plot needs matplotlib (pip install matplotlib)") from None

    out_path = Path(out_path)
    points = sorted(points, key=lambda p: p.step)
    train = [p for p in points if p.loss is not None]
    labels = [p for p in points if p.label_loss is not None]
    evals = [p for p in points if p.eval_loss is not None]

    figure = Figure(figsize=(11, 5.5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    shown: list[float] = []
    if train:
        steps, losses = [p.step for p in train], [p.loss for p in train]
        axes.plot(steps, losses, color="#1f77b4", linewidth=0.8, alpha=0.55, label="loss (raw)")
        axes.plot(steps, llamafactory_smooth(losses), color="#1f77b4", linewidth=2.0, alpha=0.9,
                  label="loss as LLaMA-Factory --plot_loss smooths it")
        shown += losses
    if labels:
        values = [p.label_loss for p in labels]
        axes.plot([p.step for p in labels], values, color="#2ca02c", linewidth=0.8, alpha=0.7, label="label loss (raw)")
        shown += values
    if evals:
        values = [p.eval_loss for p in evals]
        axes.plot([p.step for p in evals], values, color="#d62728", marker="o", markersize=4, linewidth=1.2, label="eval loss")
        shown += values

    # Epoch boundaries: the first training point of each new epoch.
    previous = None
    first_boundary = True
    for point in train or points:
        if point.epoch is None or not math.isfinite(point.epoch):
            continue
        index = epoch_index(point.epoch)
        if previous is not None and index > previous:
            axes.axvline(point.step, color="grey", linestyle="--", linewidth=0.8,
                         label="epoch boundary" if first_boundary else None)
            first_boundary = False
        previous = index

    by_step = {p.step: p for p in points}
    used_labels = set()
    for finding in findings:
        marker, color = _MARKERS.get(finding.verdict, ("o", "black"))
        point = by_step.get(finding.step)
        y = None
        for key in ("level_after", "end_level", "level"):  # where the rule saw the loss, not one noisy point
            value = finding.evidence.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                y = float(value)
                break
        if y is None and point is not None:
            for value in (point.label_loss, point.loss, point.eval_loss):
                if value is not None and math.isfinite(value):
                    y = value
                    break
        if y is None:
            y = _finite(shown)[-1] if _finite(shown) else 0.0
        label = f"{finding.verdict} ({finding.kind})"
        axes.plot([finding.step], [y], linestyle="none", marker=marker, markersize=11, color=color,
                  markeredgecolor="black", label=label if label not in used_labels else None, zorder=5)
        used_labels.add(label)

    top = _robust_top(shown)
    if top is not None:
        bottom = min(_finite(shown))
        axes.set_ylim(bottom - 0.05 * (top - bottom), top)
        title = (title + "  " if title else "") + "(y axis clipped above the 95th percentile x1.5)"
    axes.set_xlabel("step")
    axes.set_ylabel("loss")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.25)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(out_path, format="png")
    except OSError as error:
        raise SweeperError(f"{out_path}: cannot write the plot: {error.strerror or error}") from None
    return out_path


_STATUS_STYLES = {"completed": "-", "pruned": "--", "errored": ":", "running": "-."}


def trial_label(record: object) -> str:
    """A trial's name in a legend: its id and its searched parameters."""
    params = ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
        for k, v in getattr(record, "params").items()
        if v is not None  # a setting the trial does not use
    )
    return f"{getattr(record, 'trial_id')} ({getattr(record, 'status')}) {params}".strip()


def judged_on_eval(record: object) -> bool:
    """Whether the pruner judged a trial on its eval metrics only: an explanation-first trial,
    whose label loss is teacher-forced right after the gold explanation (sweeper.rules.signal)."""
    return getattr(record, "facts").get("signal") == EVAL_METRIC


def plot_sweep(records: Sequence[object], out_path: str | Path, title: str = "") -> Path:
    """Write a PNG of a whole sweep (`sweep_figure`). `records` are TrialRecords
    (sweeper.results.leaderboard). Written atomically."""
    import io

    from sweeper.results.store import atomic_write

    figure = sweep_figure(records, title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    out_path = Path(out_path)
    atomic_write(out_path, lambda handle: handle.write(buffer.getvalue()))
    return out_path


def sweep_figure(records: Sequence[object], title: str = "") -> Any:
    """Every trial's judged signal against the share of its planned steps, one colour per trial
    named with its parameters in the legend, dashed when pruned, with an X where the pruner
    stopped it: on the left the raw label loss of the trials judged on it; on the right the eval
    macro-F1 of all, drawn thick for the explanation-first trials, which are judged on their eval
    metrics (read from generated text) and whose label loss, near zero whatever they learned, is
    not drawn."""
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(15, 5.5), dpi=100)
    FigureCanvasAgg(figure)
    loss_axes, f1_axes = figure.add_subplot(1, 2, 1), figure.add_subplot(1, 2, 2)
    records = [record for record in records if getattr(record, "status") != "duplicate"]  # no curve: its original's
    palette = colormaps["tab10" if len(records) <= 10 else "tab20"]
    for index, record in enumerate(records):
        points = getattr(record, "points")
        status = getattr(record, "status")
        planned = getattr(record, "facts").get("max_steps") or max((p["step"] for p in points), default=1)
        color = palette(index % 20)
        style = _STATUS_STYLES.get(status, "-")
        label = trial_label(record)
        on_eval = judged_on_eval(record)
        if on_eval:
            label += "  [judged on eval F1]"
        train = [p for p in points if p.get("label_loss") is not None and math.isfinite(p["label_loss"])]
        evals = [p for p in points if p.get("eval_macro_f1") is not None]
        if train and not on_eval:
            xs = [p["step"] / planned for p in train]
            loss_axes.plot(xs, [p["label_loss"] for p in train], color=color, linestyle=style, linewidth=0.8, alpha=0.8)
            if status == "pruned":
                loss_axes.plot([xs[-1]], [train[-1]["label_loss"]], "X", color=color, markersize=9, markeredgecolor="black")
        xs = [p["step"] / planned for p in evals]
        f1_axes.plot(xs, [p["eval_macro_f1"] for p in evals], color=color, linestyle=style, marker="D" if on_eval else "o",
                     markersize=4 if on_eval else 3, linewidth=2.0 if on_eval else 0.9, alpha=0.8, label=label)
        if on_eval and status == "pruned" and evals:
            f1_axes.plot([xs[-1]], [evals[-1]["eval_macro_f1"]], "X", color=color, markersize=9, markeredgecolor="black")
    loss_axes.set_yscale("log")
    loss_axes.set_xlabel("share of the trial's planned steps")
    loss_axes.set_ylabel("label loss (raw, log scale)")
    loss_axes.set_title("label loss: judged per trial,\ncomparable with and without explanations", fontsize=9)
    first = sum(1 for record in records if judged_on_eval(record))
    if first:
        loss_axes.text(
            0.02, 0.02, f"not drawn: {first} explanation-first trial{'s' if first > 1 else ''}, judged on eval F1 (right):\n"
            "their label follows the gold explanation, so its loss is near 0 whatever they learned",
            transform=loss_axes.transAxes, fontsize=7, va="bottom",
        )
    f1_axes.set_xlabel("share of the trial's planned steps")
    f1_axes.set_ylabel("eval macro-F1")
    f1_axes.set_ylim(0, 1)
    f1_axes.set_title(
        "eval macro-F1" + ("\n(thick: explanation-first trials, judged on it)" if first else ""),
        fontsize=9,
    )
    for axes in (loss_axes, f1_axes):
        axes.grid(alpha=0.25)
    if f1_axes.get_legend_handles_labels()[0]:
        f1_axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), title="trial (dashed: pruned)", title_fontsize=7)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return figure
