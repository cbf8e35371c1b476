"""curves.png: explanation-first trials are shown on their judged signal, the eval macro-F1."""

import pytest

pytest.importorskip("matplotlib")

from sweeper.results.leaderboard import TrialRecord  # noqa: E402
from sweeper.results.plots import judged_on_eval, plot_sweep, sweep_figure  # noqa: E402


def _record(trial_id, position, facts, status="completed"):
    points = []
    for step in range(1, 41):
        points.append({"step": step, "loss": 2.0 - step / 40, "label_loss": 0.01 if position == "before" else 1.0 - step / 50})
        if step % 10 == 0:
            points.append({"step": step, "eval_macro_f1": step / 50})
    return TrialRecord(trial_id, {"include_explanation": True, "explanation_position": position}, status=status,
                       points=points, facts={"max_steps": 40, **facts})


def test_explanation_first_trials_are_drawn_on_eval_f1_only(tmp_path):
    after = _record("a", "after", {})
    before = _record("b", "before", {"signal": "eval_metric"})
    duplicate = TrialRecord("c", dict(after.params), status="duplicate", duplicate_of="a")
    assert not judged_on_eval(after) and judged_on_eval(before)
    figure = sweep_figure([after, before, duplicate])
    loss_axes, f1_axes = figure.axes[:2]
    # Left: only the label-first trial's label loss; the explanation-first one's (near 0) is not drawn.
    assert len(loss_axes.get_lines()) == 1
    assert "not drawn: 1 explanation-first trial" in " ".join(text.get_text() for text in loss_axes.texts)
    # Right: both trials' eval F1, the explanation-first one thick and labelled as its judged signal;
    # the duplicate has no curve of its own.
    lines = {line.get_label(): line for line in f1_axes.get_lines()}
    assert len(lines) == 2
    judged = [label for label in lines if "[judged on eval F1]" in label]
    assert len(judged) == 1 and judged[0].startswith("b ") and lines[judged[0]].get_linewidth() > 1.5
    assert "judged on it" in f1_axes.get_title()
    assert plot_sweep([after, before], tmp_path / "curves.png").stat().st_size > 0


def test_without_explanation_first_trials_the_plot_is_as_before():
    figure = sweep_figure([_record("a", "after", {})])
    loss_axes, f1_axes = figure.axes[:2]
    assert len(loss_axes.get_lines()) == 1 and not loss_axes.texts and f1_axes.get_title() == "eval macro-F1"
