"""The diagnose benchmark's corpus holds what it claims, and the offline judgment keeps its scores."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks.diagnose import CLASSES, PARTS, judge_run, load_corpus, markdown, score, stream_run


def test_corpus_is_real_runs_with_sources_and_a_holdout():
    runs = load_corpus()
    assert len(runs) >= 40
    assert len({run["source"].split("@")[0] for run in runs}) >= 25
    for run in runs:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", run["source"]), run["id"]
        assert Path(run["file"]).is_file() and run["path"].endswith(Path(run["file"]).name), run["id"]
        assert run["label"] in CLASSES and run["part"] in PARTS and re.search(r"\d", run["reason"]), run["id"]
    holdout = sum(1 for run in runs if run["part"] == "holdout")
    assert 0.2 <= holdout / len(runs) <= 0.3
    assert {run["label"] for run in runs} == set(CLASSES)


def test_scores_every_divergence_caught_no_healthy_holdout_run_flagged():
    runs = load_corpus()
    for run in runs:
        run["verdict"], run["why"] = judge_run(run)
    scores = score(runs)
    for part in PARTS:
        assert scores[part]["divergence_missed"] == 0
        assert scores[part]["right"] >= 0.9 * scores[part]["total"], markdown(scores)
    assert scores["holdout"]["healthy_flagged"] == 0 and scores["tune"]["healthy_flagged"] == 0
    assert "| label \\ verdict |" in markdown(scores)


def test_online_the_pruner_stops_both_divergences_and_nothing_healthy():
    # Streamed through the pruner as a sweep would run them: the collapse to 0.0 (no grad_norm logged)
    # and the six named eval losses rising while the train loss falls are stopped; no run labelled
    # healthy, and none the whole-log judgment calls healthy, is.
    runs = load_corpus()
    for run in runs:
        run["verdict"], run["why"] = judge_run(run)
        run["stopped_by"], run["stopped_at"] = stream_run(run)
    scores = score(runs)
    for part in PARTS:
        assert scores[part]["online_healthy_stopped"] == 0 and scores[part]["online_offline_healthy_stopped"] == 0, markdown(scores)
        assert scores[part]["online_divergence_stopped"] == scores[part]["online_divergences"], markdown(scores)
    stops = {run["id"]: (run["stopped_by"], run["stopped_at"]) for run in runs}
    assert stops["aolinguo_lf_zero_collapse"] == ("collapsed", 110)  # the 10th log of 0.0 from step 20 (a log every 10 steps)
    assert stops["aigoncharov_30ep"][0] == "eval_rising"
