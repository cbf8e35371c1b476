"""The frontier benchmark: each pruner's knobs swept on the replay, the least compute at target."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import frontier  # noqa: E402
from benchmarks import pruners as bench  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_pruners_replay import make_trial  # noqa: E402


@pytest.fixture
def sweep():
    # the best trial runs last, so the threshold rule has a bar from the finished ones before it
    return [make_trial(f"t{i}", 0.1 * (8 - i), epochs=3, final_f1=0.6 + 0.04 * i) for i in range(8)]


def test_the_threshold_rule_stops_trials_far_below_the_best_finished_one(sweep):
    strict = bench.simulate(sweep, "eval_f1", 1, frontier.ThresholdDriver(after=0.1, gain=0.0))
    lenient = bench.simulate(sweep, "eval_f1", 1, frontier.ThresholdDriver(after=0.1, gain=1.0))
    assert strict[0].completed, "nothing had finished yet: no bar"
    assert all(r.completed for r in lenient), "a gain of 1 can always reach the bar"
    assert sum(r.steps for r in strict) < sum(r.steps for r in lenient)


def test_every_configuration_measures_on_a_real_replay(sweep):
    configs = frontier.configurations()
    names = {c[0] for c in configs}
    assert {"ray-asha eval_f1", "ray-median eval_f1", "optuna-median eval_f1", "sweeper"} <= names
    assert sum("(default)" in c[1] for c in configs) == 1, "our default settings are one of the rows"
    for config in (c for c in configs if c[1] in ("grace 25, reduction 2", "n_warmup_steps 0") or "(default)" in c[1]):
        row = frontier.measure(config, [sweep])
        assert 0 < row["compute_fraction"] <= 1 and 0 <= row["best_kept_rate"] <= 1 and row["mean_regret"] >= 0


def test_the_frontier_picks_the_least_compute_that_keeps_the_best():
    rows = [
        {"pruner": "p", "knobs": "a", "compute_fraction": 0.5, "best_kept_rate": 0.96, "mean_regret": 0.0},
        {"pruner": "p", "knobs": "b", "compute_fraction": 0.4, "best_kept_rate": 0.95, "mean_regret": 0.0},
        {"pruner": "p", "knobs": "c", "compute_fraction": 0.3, "best_kept_rate": 0.60, "mean_regret": 0.1},
        {"pruner": "q", "knobs": "d", "compute_fraction": 0.9, "best_kept_rate": 0.90, "mean_regret": 0.0},
    ]
    p, q = frontier.frontier(rows)
    assert (p["least_compute_at_target_kept"], p["knobs_there"]) == (0.4, "b")
    assert (p["best_kept_at_target_compute"], p["knobs_at_target_compute"]) == (0.6, "c")
    assert q["least_compute_at_target_kept"] is None and q["best_kept_at_target_compute"] is None
    text = frontier.render(rows, [p, q], orders=1, wall=0.0)
    assert "| p | 40% (b) | 60% (c) |" in text and "| q | - (-) | - (-) |" in text
