"""explanation_position is sampled only under include_explanation: true (Optuna define-by-run)."""

import optuna
import pytest

from sweeper.orchestrate.space import conditional, define_by_run, tune_param_space
from sweeper.spec.schema import SearchSpec
from tiny_sweep import tiny_spec


def search(**space):
    return SearchSpec(space={"include_explanation": {"choice": [True, False]}, **space}, seed=0)


def test_position_only_under_explanations():
    spec = search(explanation_position={"choice": ["after", "before"]}, learning_rate={"loguniform": [1e-4, 1e-2]})
    assert conditional(spec) and tune_param_space(spec) == {}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    seen = []
    for _ in range(30):
        trial = study.ask()
        define_by_run(spec, trial)
        seen.append(dict(trial.params))
        study.tell(trial, trial.params["learning_rate"])
    assert all(("explanation_position" in p) == p["include_explanation"] for p in seen)
    assert {p["include_explanation"] for p in seen} == {True, False}
    assert {p.get("explanation_position") for p in seen if p["include_explanation"]} == {"after", "before"}
    assert all(1e-4 <= p["learning_rate"] <= 1e-2 for p in seen)


def test_plain_spaces_stay_ray_domains():
    spec = search(learning_rate={"loguniform": [1e-4, 1e-2]})
    assert not conditional(spec) and set(tune_param_space(spec)) == {"include_explanation", "learning_rate"}


@pytest.mark.slow
def test_a_real_tpe_sweep_over_the_conditional_space(tmp_path, demo_data):
    import csv

    from sweeper.orchestrate.sweep import run_sweep
    from sweeper.spec import validate_spec

    space = {"include_explanation": {"choice": [True, False]}, "explanation_position": {"choice": ["after", "before"]}}
    spec = validate_spec(tiny_spec(tmp_path, demo_data, "cond", {"num_samples": 3, "seed": 3, "space": space}, max_eval_samples=30))
    run_sweep(spec, num_cpus=2, quiet=True)
    with open(tmp_path / "results" / "cond" / "leaderboard.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and all(row["status"] in ("completed", "pruned", "duplicate") for row in rows), rows
    assert all((row["explanation_position"] != "") == (row["include_explanation"] == "True") for row in rows), rows
    # TPE may suggest a configuration again: that trial trains nothing and names the one it repeats.
    def effective(row):
        return row["include_explanation"], row["explanation_position"]

    trained = [row for row in rows if row["status"] != "duplicate"]
    assert len({effective(row) for row in trained}) == len(trained), rows
    by_id = {row["trial_id"]: row for row in rows}
    for row in rows:
        if row["status"] == "duplicate":
            assert effective(by_id[row["duplicate_of"]]) == effective(row) and row["steps_done"] == "0", rows
