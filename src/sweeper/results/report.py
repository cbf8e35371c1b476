"""`report.html`: one self-contained page (plotly's JS embedded, no network) for one or more sweeps.

The answer line and the with/without-explanations table first, then the leaderboard, then every
trial's raw loss and label loss with the LLaMA-Factory-smoothed curves beside them, epoch
boundaries and the pruning point with its reason, its eval metrics over steps, the metric against
each numeric parameter coloured by explanation inclusion, and parameter importance. Hovering a
curve or point names the trial and its parameters.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from sweeper.results.compare import EXPLAIN, Comparison, compare
from sweeper.results.store import atomic_write_text
from sweeper.results.sweep_view import SweepView
from sweeper.rules.smoothing import llamafactory_smooth
from sweeper.rules.staircase import epoch_index

BOARD_COLUMNS = ["trial_id", "status", "verdict", "stopped_by", "score", "score_se", "final_score", "steps_done",
                 "max_steps", "saved_share", "final_label_loss", "final_explanation_loss", "eval_accuracy",
                 "eval_macro_f1", "test_accuracy", "test_macro_f1", "samples_truncated", "samples_dropped",
                 "adapter_path", "reason"]
GROUP_COLUMNS = ["value", "completed", "pruned", "best", "best_se", "best_trial", "median", "median_low",
                 "median_high", "label_loss", "explanation_loss"]
NUMERIC_AXES = ("learning_rate", "lora_rank", "num_train_epochs")
EXPLAIN_COLORS = {True: "#d62728", False: "#1f77b4", None: "#7f7f7f"}

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.answer { font-size: 1.1em; background: #f4f8ff; border-left: 4px solid #1f77b4; padding: .6em 1em; }
.warning { background: #fff6e5; border-left: 4px solid #ff9800; padding: .5em 1em; }
table { border-collapse: collapse; font-size: .85em; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.reason { max-width: 40em; }
tr.pruned td { color: #8a2b2b; } tr.errored td { color: #777; }
.plot { width: 100%; height: 360px; }
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.3g}" if (abs(value) < 1e-3 or abs(value) >= 1e4) and value != 0 else f"{value:.4g}"
    return str(value)


def board_columns(view: SweepView) -> list[str]:
    """A sweep's leaderboard columns: its parameters after the verdict, and `duplicate_of` (the
    trial whose result a duplicate repeated) only when the sweep has duplicates."""
    duplicates = ["duplicate_of"] if any(row.get("duplicate_of") for row in view.rows) else []
    return BOARD_COLUMNS[:2] + duplicates + BOARD_COLUMNS[2:4] + view.params + BOARD_COLUMNS[4:]


def _table(rows: list[dict[str, Any]], columns: list[str], status_class: bool = False) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cls = f' class="{html.escape(str(row.get("status")))}"' if status_class else ""
        cells = "".join(
            f'<td{" class=reason" if c == "reason" else ""}>{html.escape(_fmt(row.get(c)))}</td>' for c in columns
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _params_text(row: dict[str, Any], names: list[str]) -> str:
    return ", ".join(f"{name}={_fmt(row.get(name))}" for name in names)


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Plots:
    """Plot divs and the script that draws them (plotly.newPlot over JSON figures)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def add(self, traces: list[dict], layout: dict) -> str:
        div = f"plot{len(self.calls)}"
        figure = json.dumps({"data": traces, "layout": layout}, allow_nan=False, default=str)
        self.calls.append(f"Plotly.newPlot('{div}', ...(f => [f.data, f.layout])({figure}), {{responsive: true}});")
        return f'<div id="{div}" class="plot"></div>'


def _clean(values: list[Any]) -> list[Any]:
    return [v if _finite(v) else None for v in values]  # JSON has no NaN; a gap in the line instead


def _trial_plots(plots: _Plots, view: SweepView, row: dict[str, Any], points: list[dict[str, Any]], factors: list[str]) -> str:
    names = view.params + [f for f in factors if f not in view.params]
    fixed = view.spec.get("train", {})
    values = {name: row.get(name) if name in view.params else fixed.get(name) for name in names}
    who = f"{view.name}/{row['trial_id']}: {_params_text(values, names)}"
    hover = f"{html.escape(who)}<br>step %{{x}}<br>%{{fullData.name}} %{{y:.4g}}<extra></extra>"
    train = [p for p in points if p.get("loss") is not None]
    traces: list[dict] = []
    for key, color in (("loss", "#1f77b4"), ("label_loss", "#2ca02c")):
        series = [p for p in train if _finite(p.get(key))]
        if not series:
            continue
        steps, ys = [p["step"] for p in series], [p[key] for p in series]
        traces.append({"x": steps, "y": _clean(ys), "name": f"{key} (raw)", "mode": "lines", "hovertemplate": hover,
                       "line": {"color": color, "width": 1}, "opacity": 0.6})
        traces.append({"x": steps, "y": _clean(llamafactory_smooth(ys)), "name": f"{key} as LLaMA-Factory smooths it",
                       "mode": "lines", "hovertemplate": hover, "line": {"color": color, "width": 2.5, "dash": "dot"}})
    shapes = []
    previous = None
    for point in train:
        epoch = point.get("epoch")
        if not _finite(epoch):
            continue
        index = epoch_index(epoch)
        if previous is not None and index > previous:
            shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": point["step"], "x1": point["step"],
                           "y0": 0, "y1": 1, "line": {"color": "#999", "dash": "dash", "width": 1}})
        previous = index
    if row.get("status") == "pruned" and train:
        last = train[-1]
        y = last.get("label_loss") if _finite(last.get("label_loss")) else last.get("loss")
        traces.append({"x": [last["step"]], "y": _clean([y]), "name": f"pruned: {row.get('stopped_by') or 'stopped'}",
                       "mode": "markers", "marker": {"symbol": "x", "size": 14, "color": "#d62728"},
                       "hovertemplate": f"{html.escape(who)}<br>{html.escape(str(row.get('reason')))}<extra></extra>"})
    loss_layout = {"title": {"text": html.escape(who), "font": {"size": 12}}, "xaxis": {"title": {"text": "step"}},
                   "yaxis": {"title": {"text": "loss"}, "type": "log"}, "shapes": shapes,
                   "margin": {"t": 40, "b": 40}, "legend": {"font": {"size": 10}}}
    evals = [p for p in points if any(_finite(p.get(k)) for k in ("eval_accuracy", "eval_macro_f1", "eval_label_loss"))]
    eval_traces = []
    for key, color in (("eval_accuracy", "#9467bd"), ("eval_macro_f1", "#ff7f0e"), ("eval_label_loss", "#8c564b")):
        series = [p for p in evals if _finite(p.get(key))]
        if series:
            eval_traces.append({"x": [p["step"] for p in series], "y": [p[key] for p in series], "name": key,
                                "mode": "lines+markers", "hovertemplate": hover, "line": {"color": color},
                                "yaxis": "y2" if key == "eval_label_loss" else "y"})
    eval_layout = {"title": {"text": "eval metrics", "font": {"size": 12}}, "xaxis": {"title": {"text": "step"}},
                   "yaxis": {"title": {"text": "accuracy / macro-F1"}, "range": [0, 1]},
                   "yaxis2": {"title": {"text": "eval label loss"}, "overlaying": "y", "side": "right"},
                   "shapes": shapes, "margin": {"t": 40, "b": 40}, "legend": {"font": {"size": 10}}}
    reason = f"<p><b>{html.escape(str(row.get('status')))}</b>: {html.escape(str(row.get('reason') or ''))}</p>"
    evals_html = plots.add(eval_traces, eval_layout) if eval_traces else "<p>no evaluation before it stopped</p>"
    return (f"<h3>{html.escape(who)}</h3>{reason}<div style='display:flex'>"
            f"<div style='flex:3'>{plots.add(traces, loss_layout)}</div>"
            f"<div style='flex:2'>{evals_html}</div></div>")


def _scatter_plots(plots: _Plots, result: Comparison) -> str:
    metric = result.views[0].metric
    out = []
    for axis in NUMERIC_AXES:
        trials = [t for t in result.trials if _finite(t.get("score")) and _finite(_axis_value(t, axis, result))]
        if len({_axis_value(t, axis, result) for t in trials}) < 2:
            continue  # one value: nothing to plot against
        traces = []
        for flag in (True, False, None):
            chosen = [t for t in trials if t.get(EXPLAIN) is flag or (flag is None and not isinstance(t.get(EXPLAIN), bool))]
            if not chosen:
                continue
            label = {True: "with explanations", False: "without explanations", None: "explanation unknown"}[flag]
            traces.append({
                "x": [_axis_value(t, axis, result) for t in chosen], "y": [t["score"] for t in chosen],
                "mode": "markers", "name": label,
                "marker": {"color": EXPLAIN_COLORS[flag], "size": 10,
                           "symbol": ["circle" if t.get("status") == "completed" else "x" for t in chosen]},
                "text": [html.escape(f"{t['sweep']}/{t['trial_id']} ({t.get('status')}): "
                                     + _params_text(t, _names(result))) for t in chosen],
                "hovertemplate": "%{text}<br>" + axis + " %{x}<br>" + metric + " %{y:.3f}<extra></extra>",
            })
        layout = {"title": {"text": f"{metric} at the kept checkpoint vs {axis} (x: pruned)", "font": {"size": 12}},
                  "xaxis": {"title": {"text": axis}, "type": "log" if axis == "learning_rate" else "linear"},
                  "yaxis": {"title": {"text": metric}}, "margin": {"t": 40}}
        out.append(plots.add(traces, layout))
    return "".join(out)


def _names(result: Comparison) -> list[str]:
    names: list[str] = []
    for view in result.views:
        names += [n for n in view.params if n not in names]
    return names + [n for n in result.groups if n not in names]


def _axis_value(trial: dict[str, Any], axis: str, result: Comparison) -> Any:
    if trial.get(axis) is not None:
        return trial[axis]
    view = next(v for v in result.views if v.name == trial["sweep"])
    return view.spec.get("train", {}).get(axis)


def render_report(views: list[SweepView]) -> str:
    from plotly.offline import get_plotlyjs

    result = compare(views)
    plots = _Plots()
    parts = [f"<h1>sweeper report: {html.escape(', '.join(v.name for v in views))}</h1>",
             f'<p class="answer">{html.escape(result.answer)}</p>']
    if result.differing:
        items = "".join(
            f"<li><code>{html.escape(key)}</code>: "
            + html.escape(", ".join(f"{s}: {v}" for s, v in values.items())) + "</li>"
            for key, values in result.differing.items()
        )
        parts.append(f'<div class="warning">Fixed settings differ between these sweeps:<ul>{items}</ul></div>')
    metric = views[0].metric
    for name, rows in result.groups.items():
        title = "with vs without explanations" if name == EXPLAIN else name
        parts.append(f"<h2>{html.escape(title)}</h2><p>score: {html.escape(metric)} at the kept checkpoint; best with its "
                     "binomial SE over the eval rows; median over completed trials with a bootstrap 95% interval; "
                     "median final label and explanation losses.</p>" + _table(rows, GROUP_COLUMNS))
    parts.append("<h2>Leaderboard</h2>")
    for view in views:
        parts.append(f"<h3>{html.escape(view.name)}</h3>" + _table(view.rows, board_columns(view), True))
    parts.append("<h2>Metric against the parameters</h2>" + _scatter_plots(plots, result))
    parts.append("<h2>Parameter importance</h2>")
    if result.importance:
        bars = [{"type": "bar", "x": list(result.importance.values()), "y": list(result.importance), "orientation": "h",
                 "hovertemplate": "%{y}: %{x:.3f}<extra></extra>"}]
        parts.append(f"<p>{html.escape(result.importance_note)}</p>"
                     + plots.add(bars, {"xaxis": {"title": {"text": "importance"}}, "margin": {"l": 160, "t": 20}}))
    else:
        parts.append(f"<p>{html.escape(result.importance_note)}</p>")
    parts.append("<h2>Every trial: raw curves beside the smoothed ones users are shown</h2>")
    factors = list(result.groups)
    for view in views:
        curves = view.curves()
        for row in view.rows:
            points = curves.get(str(row["trial_id"]), [])
            if points:
                parts.append(_trial_plots(plots, view, row, points, factors))
    script = "\n".join(plots.calls)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>sweeper report</title>"
        f"<style>{STYLE}</style><script>{get_plotlyjs()}</script></head><body>"
        + "\n".join(parts)
        + f"<script>{script}</script></body></html>"
    )


def write_report(views: list[SweepView], out: Path) -> Path:
    out = Path(out)
    atomic_write_text(out, render_report(views))
    return out
