"""No duplicate trials: grids skip equivalent combinations, and a trial whose effective settings
equal an earlier trial's trains nothing (sweeper.orchestrate.space, sweeper.orchestrate.duplicates)."""

import json
import re

import pytest

from sweeper.orchestrate.duplicates import Claims, Owner, finished_owners
from sweeper.orchestrate.space import effective_params, grid_points, planned_trials, settings_key, space_size
from sweeper.results.leaderboard import TrialRecord
from sweeper.spec.schema import SearchSpec, TrainSettings
from tiny_sweep import tiny_spec

EXPLAIN = {"include_explanation": {"grid": [True, False]}, "explanation_position": {"grid": ["after", "before"]}}


@pytest.mark.parametrize(
    "algorithm, space, num_samples, train, expected",
    [
        # w-explain x {after, before} + wo-explain once: the 4th combination is the 3rd again.
        ("grid", EXPLAIN, 1, {}, 3),
        ("grid", {**EXPLAIN, "lora_rank": {"choice": [4, 8]}}, 1, {}, 6),
        ("grid", EXPLAIN, 2, {}, 6),  # repetitions of the grid (duplicates at run time)
        # Position searched while explanations are off for every trial: it never matters.
        ("grid", {"explanation_position": {"grid": ["after", "before"]}}, 1, {"include_explanation": False}, 1),
        ("grid", {"explanation_position": {"grid": ["after", "before"]}}, 1, {}, 2),
        ("grid", {"lora_rank": {"grid": [8, 8, 16]}}, 1, {}, 2),  # a value listed twice
        # List values stay Ray's own grid (Ray reads a list in a point as nested settings): the
        # repeated list is a trial, caught as a duplicate when it starts.
        ("grid", {"lora_target": {"grid": ["all", ["q_proj", "v_proj"], ["q_proj", "v_proj"]]}}, 1, {}, 3),
        ("grid", {"lora_target": {"grid": ["all", ["q_proj"]]}, **EXPLAIN}, 1, {}, 6),
        # Random search: only the grid dimensions are enumerated; a sampled parent is unknown, so
        # the position is kept (a repeat is caught at run time).
        ("random", {"include_explanation": {"choice": [True, False]}, "explanation_position": {"grid": ["after", "before"]}}, 3, {}, 6),
        ("random", {**EXPLAIN, "learning_rate": {"loguniform": [1e-4, 1e-2]}}, 2, {}, 6),
        ("random", {"learning_rate": {"loguniform": [1e-4, 1e-2]}}, 5, {}, 5),  # nothing enumerated
        ("optuna-tpe", {"include_explanation": {"choice": [True, False]}}, 4, {}, 4),
    ],
)
def test_planned_trials_count_distinct_grid_points(algorithm, space, num_samples, train, expected):
    search = SearchSpec(algorithm=algorithm, space=space, num_samples=num_samples)
    train = TrainSettings(**train)
    assert planned_trials(search, train) == expected
    points = grid_points(search, train)
    assert len(points) * (2 if "lora_target" in space else 1) in (0, expected)
    if points:
        # Ray enumerates every key of a point: each has a value the trial accepts.
        assert all(set(point) == set(points[0]) for point in points)
        distinct = {settings_key(search, point, train) for point in points}
        assert len(distinct) * num_samples == len(points)


def test_grid_points_order_and_unused_position():
    points = grid_points(SearchSpec(algorithm="grid", space=EXPLAIN, num_samples=1))
    assert points == [
        {"include_explanation": True, "explanation_position": "after"},
        {"include_explanation": True, "explanation_position": "before"},
        {"include_explanation": False, "explanation_position": "after"},  # unused: the first value
    ]


def test_space_size_counts_effective_configurations():
    assert space_size(SearchSpec(algorithm="grid", space=EXPLAIN)) == "3"
    lists = {"lora_target": {"grid": ["all", ["q_proj"], ["q_proj"]]}}
    assert space_size(SearchSpec(algorithm="grid", space={**lists, **EXPLAIN})) == "6"
    assert space_size(SearchSpec(algorithm="random", space={"learning_rate": {"loguniform": [1e-4, 1e-2]}})) == "continuous"


@pytest.mark.parametrize(
    "a, b, equal",
    [
        ({"include_explanation": False, "explanation_position": "before"}, {"include_explanation": False}, True),
        ({"include_explanation": False, "explanation_position": "before"},
         {"include_explanation": False, "explanation_position": "after"}, True),
        ({"include_explanation": True, "explanation_position": "before"},
         {"include_explanation": True, "explanation_position": "after"}, False),
        # Floats count only when exactly equal: two loguniform draws that are merely close are two runs.
        ({"include_explanation": True, "learning_rate": 1e-3}, {"include_explanation": True, "learning_rate": 1e-3}, True),
        ({"include_explanation": True, "learning_rate": 1e-3},
         {"include_explanation": True, "learning_rate": 1e-3 * (1 + 1e-12)}, False),
        ({"include_explanation": True, "lora_rank": 8}, {"include_explanation": True, "lora_rank": 8.0}, True),
    ],
)
def test_settings_key(a, b, equal):
    search = SearchSpec(space={"include_explanation": {"choice": [True, False]},
                               "explanation_position": {"choice": ["after", "before"]},
                               "learning_rate": {"loguniform": [1e-4, 1e-2]}, "lora_rank": {"choice": [4, 8]}})
    assert (settings_key(search, a) == settings_key(search, b)) is equal


def test_effective_params_blank_what_the_trial_does_not_use():
    search = SearchSpec(space={"explanation_position": {"choice": ["after", "before"]}})
    assert effective_params(search, {"explanation_position": "before"}) == {"explanation_position": "before"}
    off = TrainSettings(include_explanation=False)
    assert effective_params(search, {"explanation_position": "before"}, off) == {"explanation_position": None}


def test_claims_first_trains_later_ones_repeat_it():
    claims = Claims()
    assert claims.claim(("a",), "t1") is None  # first: trains
    running = claims.claim(("a",), "t2")
    assert running.trial_id == "t1" and not running.done  # in flight: t2 waits
    assert claims.claim(("a",), "t1") is None  # t1 retried by Ray: still its own
    assert claims.claim(("b",), "t2") is None  # other settings: trains
    claims.finish("t2", "completed", 0.5, "")  # t2 owns ("b",): finishing it does not touch ("a",)
    assert not claims.claim(("a",), "t3").done
    claims.finish("t1", "pruned", 0.25, "")
    ended = claims.claim(("a",), "t3")
    assert (ended.trial_id, ended.done, ended.status, ended.objective) == ("t1", True, "pruned", 0.25)


def test_claims_release_frees_the_settings_of_a_retried_owner():
    # The owner's process died and Ray retries it: a trial waiting on it must not hold the slot
    # the owner needs, so the first to claim next trains.
    claims = Claims()
    claims.claim(("a",), "t1")
    assert claims.claim(("a",), "t2").trial_id == "t1"
    claims.release("t1")
    assert claims.claim(("a",), "t2") is None
    assert claims.claim(("a",), "t1").trial_id == "t2"
    claims.release("t1")  # not the owner any more: nothing changes
    assert claims.claim(("a",), "t3").trial_id == "t2"
    claims.finish("t2", "completed", 1.0, "")
    claims.release("t2")  # a finished owner keeps its settings
    assert claims.claim(("a",), "t3").done


def test_a_resumed_sweep_knows_the_finished_owners():
    from sweeper.spec import validate_spec

    spec = validate_spec({"name": "x", "dataset": {"train": "t.jsonl", "labels": ["a", "b"]},
                          "search": {"algorithm": "random", "space": {"include_explanation": {"choice": [True, False]},
                                                                      "explanation_position": {"choice": ["after", "before"]}}}})
    records = [
        TrialRecord("t1", {"include_explanation": False, "explanation_position": None}, status="completed", objective=0.5),
        TrialRecord("t2", {"include_explanation": False, "explanation_position": None}, status="duplicate",
                    objective=0.5, duplicate_of="t1"),
        TrialRecord("t3", {"include_explanation": True, "explanation_position": "after"}, status="interrupted"),
    ]
    claims = Claims(finished_owners(spec, records))
    # A later trial drawing position "before" without explanations repeats t1 (the earlier run's).
    key = settings_key(spec.search, {"include_explanation": False, "explanation_position": "before"}, spec.train)
    owner = claims.claim(key, "t4")
    assert (owner.trial_id, owner.done, owner.objective) == ("t1", True, 0.5)
    assert claims.claim(settings_key(spec.search, {"include_explanation": True, "explanation_position": "after"}), "t5") is None


def test_finished_owner_is_plain_data():
    # It crosses from the registry actor to the trials: it must pickle.
    import pickle

    owner = Owner("t1", True, "completed", 0.5, "")
    assert pickle.loads(pickle.dumps(owner)) == owner


@pytest.mark.slow
def test_a_real_grid_sweep_trains_each_effective_configuration_once(tmp_path, demo_data, capsys):
    """include_explanation x explanation_position repeated twice (num_samples 2): the grid makes 3
    distinct points per repetition (6 trials), and each repeat of the second repetition trains nothing."""
    import csv

    from sweeper.orchestrate.sweep import run_sweep
    from sweeper.spec import validate_spec

    spec = validate_spec({**tiny_spec(tmp_path, demo_data, "dup", {"algorithm": "grid", "num_samples": 2, "space": EXPLAIN}),
                          "tracking": {"tensorboard": False}})
    assert planned_trials(spec.search, spec.train) == 6
    outcome = run_sweep(spec, num_cpus=2)
    printed = capsys.readouterr().out
    assert "sweep dup: 6 trials (grid)" in printed  # the progress count is the trials Ray makes
    from sweeper.cli.run import print_outcome

    print_outcome(outcome, top=6)
    assert re.search(r"6 trials: \d completed, \d pruned, 0 errored, 3 duplicates", capsys.readouterr().out)
    sweep_dir = tmp_path / "results" / "dup"
    with open(sweep_dir / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 6, rows
    trained = [row for row in rows if row["status"] in ("completed", "pruned")]
    duplicates = [row for row in rows if row["status"] == "duplicate"]
    assert len(trained) == 3 and len(duplicates) == 3, [(r["trial_id"], r["status"], r["reason"]) for r in rows]

    def effective(row):
        return row["include_explanation"], row["explanation_position"]

    assert len({effective(row) for row in trained}) == 3  # no two trained trials alike
    assert {effective(row) for row in trained} == {("True", "after"), ("True", "before"), ("False", "")}
    by_id = {row["trial_id"]: row for row in rows}
    for row in duplicates:
        original = by_id[row["duplicate_of"]]
        assert original["status"] in ("completed", "pruned") and effective(original) == effective(row)
        assert row["steps_done"] == "0" and row["score"] == ""  # it used no compute
        assert row["duplicate_of"] in row["reason"]
    # The searcher is told the original's result: the ledger keeps it as the duplicate's objective.
    ledger = {entry["trial_id"]: entry for entry in map(json.loads, (sweep_dir / "ledger.jsonl").read_text().splitlines())}
    for row in duplicates:
        assert ledger[row["trial_id"]]["objective"] == ledger[row["duplicate_of"]]["objective"] is not None
    assert outcome.steps_run == sum(int(row["steps_done"]) for row in trained)
    # The explanation-first trial was judged on its eval metrics, never on its label loss.
    for row in trained:
        first = effective(row) == ("True", "before")
        assert (ledger[row["trial_id"]]["facts"].get("signal") == "eval_metric") is first
        assert ("judged on its eval metrics only" in row["reason"]) is (first and row["verdict"] == "healthy")
    assert (sweep_dir / "curves.png").stat().st_size > 0


@pytest.mark.slow
def test_a_real_tpe_sweep_waits_for_a_trial_in_flight_with_the_same_settings(tmp_path, demo_data):
    """Explanations off for every trial: the searched position never matters, so TPE's two trials,
    started together, have one configuration. One trains; the other waits for it and repeats its
    result (the searcher is told it), training nothing."""
    import csv

    from sweeper.orchestrate.sweep import run_sweep
    from sweeper.spec import validate_spec

    search = {"algorithm": "optuna-tpe", "num_samples": 2, "seed": 0, "space": {"explanation_position": {"choice": ["after", "before"]}}}
    # TensorBoard on (the default): the duplicate's run ends as one
    spec = validate_spec(tiny_spec(tmp_path, demo_data, "wait", search, include_explanation=False))
    run_sweep(spec, num_cpus=2, quiet=True)
    sweep_dir = tmp_path / "results" / "wait"
    with open(sweep_dir / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sorted(row["status"] for row in rows) == ["completed", "duplicate"], rows
    trained, duplicate = sorted(rows, key=lambda row: row["status"])
    assert duplicate["duplicate_of"] == trained["trial_id"] and duplicate["steps_done"] == "0"
    assert trained["explanation_position"] == duplicate["explanation_position"] == ""  # unused: blank
    ledger = {entry["trial_id"]: entry for entry in map(json.loads, (sweep_dir / "ledger.jsonl").read_text().splitlines())}
    assert ledger[duplicate["trial_id"]]["objective"] == ledger[trained["trial_id"]]["objective"] is not None
