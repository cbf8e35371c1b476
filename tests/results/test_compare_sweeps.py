"""`sweeper compare` on two real sweeps that differ only in include_explanation."""

import pytest

from sweeper.cli import main
from sweeper.results.compare import compare
from sweeper.results.sweep_view import SweepView

pytestmark = pytest.mark.slow


def test_compare_names_the_better_setting_and_the_differing_settings(sweeps, capsys):
    assert main(["compare", str(sweeps["with"]), str(sweeps["without"])]) == 0
    captured = capsys.readouterr()
    assert "warning: fixed settings differ between the sweeps: train.include_explanation" in captured.err
    assert "explain-with: True" in captured.err and "explain-without: False" in captured.err
    # only include_explanation differs: no other fixed setting is listed
    assert captured.err.count("(") == 1

    views = [SweepView.load(sweeps["with"]), SweepView.load(sweeps["without"])]
    best = {}
    for view in views:
        scores = [row["score"] for row in view.rows if row["status"] == "completed" and row["score"] is not None]
        best[view.spec["train"]["include_explanation"]] = max(scores)
    winner = "with explanations" if best[True] > best[False] else "without explanations"
    answer = captured.out.splitlines()[0]
    assert answer.startswith(f"with explanations: best {best[True]:.2f}")
    assert f"without: best {best[False]:.2f}" in answer
    assert f"{winner} is better" in answer

    result = compare(views)
    groups = {g["value"]: g for g in result.groups["include_explanation"]}
    assert groups[True]["best"] == best[True] and groups[False]["best"] == best[False]
    assert groups[True]["explanation_loss"] is not None and groups[False]["explanation_loss"] is None
    assert groups[True]["label_loss"] is not None
    assert set(result.differing) == {"train.include_explanation"}
    assert any(entry["learning_rate"] == 3e-3 for entry in result.same_config)
