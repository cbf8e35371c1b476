"""The frontier benchmark: each pruner's knobs swept on the replay, fronts and the dominance check."""

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


def test_every_peer_and_signal_of_the_main_table_is_swept_with_its_main_table_settings():
    configs = frontier.configurations()
    keys = {(c.pruner, c.signal) for c in configs}
    for pruner in bench.RAY_POPULATION + bench.OPTUNA_POPULATION + bench.PER_TRIAL_PEERS + ("top-k-after-1-epoch",):
        for signal in bench.SIGNALS:
            assert (pruner, signal) in keys
            assert sum(c.pruner == pruner and c.signal == signal and "(main table)" in c.knobs for c in configs) == 1
    assert sum(c.knobs == "default settings" for c in configs) == 1, "our default settings are one of the rows"
    ours = frontier.our_settings()
    assert len(ours) == len(set(ours)), "no configuration of ours twice"


def test_the_main_table_settings_replay_as_the_pruner_benchmark_does(sweep):
    # the frontier reuses benchmarks.pruners' helpers: its main-table rows are that benchmark's
    # rows, with the corpus's own epoch and longest trial (topics: 60 and 240 steps)
    task = bench.TASKS["topics"]
    for config in frontier.configurations():
        if config.knobs == "default settings" or (config.pruner == "ray-asha" and "(main table)" in config.knobs):
            entry = bench.Entry(config.pruner, config.signal, "", bench.PrunerSettings(num_classes=3)
                                if config.pruner == frontier.OURS else None)
            expected = [bench.score(sweep, bench.run_entry(entry, sweep, c, task)) for c in bench.CONCURRENCY]
            row = frontier.measure(config, [sweep], task)
            assert row == frontier.summarise(config, expected)
            assert 0 < row["compute_fraction"] <= 1 and 0 <= row["best_kept_rate"] <= 1 and row["mean_regret"] >= 0


def test_a_grace_in_epochs_follows_the_corpus():
    assert frontier._epochs(1 / 3, bench.TASKS["demo"]) == 25
    assert frontier._epochs(1 / 3, bench.TASKS["topics"]) == 20


@pytest.mark.parametrize("points, front", [
    ([], []),
    ([(0.5, 0.9)], [0]),
    # (compute, best kept): the cheapest first, then each point that keeps more than all cheaper ones
    ([(0.6, 1.0), (0.3, 0.5), (0.4, 0.4), (0.5, 0.8)], [1, 3, 0]),
    # equal compute: the one that keeps more; equal best kept: the cheaper
    ([(0.5, 0.7), (0.5, 0.9), (0.7, 0.9)], [1]),
    # identical points: the first
    ([(0.5, 0.9), (0.5, 0.9)], [0]),
])
def test_the_pareto_front_is_the_least_compute_for_each_best_kept_level(points, front):
    assert frontier.pareto_front(points) == front


@pytest.mark.parametrize("ours, peer, expected", [
    # ours at or above the peer everywhere
    ([(0.5, 0.9), (0.7, 1.0)], [(0.5, 0.9), (0.8, 1.0)], []),
    # the peer keeps more at the same compute: the gap is at its point
    ([(0.5, 0.9)], [(0.5, 0.95)], [(0, 0.9)]),
    # the peer is cheaper than anything of ours: we keep nothing there
    ([(0.5, 1.0)], [(0.3, 0.5), (0.6, 1.0)], [(0, None)]),
    # a peer point that keeps the best in no sweep is not above "nothing"
    ([(0.5, 1.0)], [(0.2, 0.0)], []),
    # only the peer's front counts: its dominated point (0.6, 0.5) is not listed
    ([(0.4, 0.6), (0.7, 1.0)], [(0.5, 0.8), (0.6, 0.5), (0.9, 1.0)], [(0, 0.6)]),
])
def test_shortfalls_list_the_peer_front_points_our_front_does_not_reach(ours, peer, expected):
    assert frontier.shortfalls(ours, peer) == expected


def _row(pruner, signal, compute, kept, knobs="k"):
    return {"pruner": pruner, "signal": signal, "knobs": knobs, "compute_fraction": compute, "best_kept_rate": kept,
            "mean_regret": 0.0}


def test_dominance_names_the_peer_point_and_our_best_kept_there_and_skips_the_bound():
    rows = [
        _row(frontier.OURS, bench.OURS_SIGNAL, 0.6, 1.0, "a"),
        _row(frontier.OURS, bench.OURS_SIGNAL, 0.5, 0.9, "b"),
        _row("ray-asha", "eval_f1", 0.55, 0.95, "g1"),  # above us: we keep 0.9 at <= 0.55
        _row("ray-asha", "eval_f1", 0.7, 1.0, "g2"),  # not above us
        _row("ray-asha", "loss", 0.3, 0.4, "g3"),  # cheaper than anything of ours
        _row(frontier.BOUND, "eval_f1", 0.2, 1.0),  # the bound is not a peer
    ]
    frontier.mark_fronts(rows)
    beats = frontier.dominance(rows)
    assert [(b["signal"], b["knobs"], b["ours_best_kept"], b["ours_knobs"]) for b in beats] == [
        ("eval_f1", "g1", 0.9, "b"), ("loss", "g3", None, "-")]
    assert [r["on_front"] for r in rows] == [True, True, True, True, True, True]
    text = frontier.render({"demo": rows}, orders=1, workers=1, wall=0.0, seconds={})
    assert "| demo | ray-asha | eval_f1 | g1 | 55.0% | 95.0% | 90.0% | 5.0 pt | 50.0%, b |" in text
    assert "| demo | 50.0% | ray-asha | loss | 30.0% -> 40.0% (g3) |" in text
    assert "- **demo**: ours is NOT at or above every peer. Below our cheapest configuration (50.0% compute): 1 front " \
           "points of 1 peer-signal pairs keep the best in some sweeps. At compute we reach: 1 peer front points above " \
           "ours (largest gap 5.0 points)." in text


def test_dominance_says_so_when_ours_is_at_or_above_every_peer():
    rows = [_row(frontier.OURS, bench.OURS_SIGNAL, 0.5, 1.0), _row("ray-median", "loss", 0.5, 1.0)]
    frontier.mark_fronts(rows)
    assert frontier.dominance(rows) == []
    assert "our front is at or above every peer's" in frontier.render({"topics": rows}, 1, 1, 0.0, {})


def test_the_summary_picks_the_least_compute_that_keeps_the_best():
    task = bench.Task(3, 120, 75, 375, target_compute=1 / 3, target_best_kept=0.95)
    rows = [
        _row("p", "loss", 0.5, 0.96, "a"),
        _row("p", "loss", 0.4, 0.95, "b"),
        _row("p", "loss", 0.3, 0.60, "c"),
        _row("q", "loss", 0.9, 0.90, "d"),
    ]
    p, q = frontier.summary(rows, task)
    assert (p["least_compute_at_target_kept"], p["knobs_there"]) == (0.4, "b")
    assert (p["best_kept_at_target_compute"], p["knobs_at_target_compute"]) == (0.6, "c")
    assert q["least_compute_at_target_kept"] is None and q["best_kept_at_target_compute"] is None


def test_bad_corpora_are_usage_errors(capsys):
    assert frontier.main(["--corpora", "demo,nope"]) == 2
    assert "--corpora must name some of demo, parametric, topics" in capsys.readouterr().err
