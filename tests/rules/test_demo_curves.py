"""Real curves of the demo task (tests/rules/fixtures/demo_curves.jsonl): the decision on each.

The 12 trials of the demo sweep (`python -m sweeper run sweeps/explain.yaml`, a tiny LLaMA with
LoRA on a 3-class task, label loss every 2 steps, evals every 25 steps and at each epoch end), which
the rules once let all run to the end, plus 7 trials run with `run_trial` on the same spec (ids
"gen-..."): w-explain runs at a good learning rate, whose label loss decays slower, and one of each
failure. Each is replayed point by point through
`CurveMonitor(PrunerSettings(num_classes=3), max_steps=..., steps_per_epoch=...)`, as the sweep's
scheduler feeds it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sweeper.rules import CurveMonitor, Point, PrunerSettings

FIXTURE = Path(__file__).parent / "fixtures" / "demo_curves.jsonl"


def _trials() -> dict[str, dict]:
    lines = FIXTURE.read_text().splitlines()
    columns = json.loads(lines[0])["columns"]
    trials = {}
    for line in lines[1:]:
        trial = json.loads(line)
        trial["points"] = [Point.from_mapping(dict(zip(columns, row))) for row in trial.pop("rows")]
        trials[trial["trial"]] = trial
    return trials


TRIALS = _trials()


def _replay(trial: dict) -> tuple[CurveMonitor, tuple[int, object] | None]:
    monitor = CurveMonitor(PrunerSettings(num_classes=3), max_steps=trial["max_steps"], steps_per_epoch=trial["steps_per_epoch"])
    stop = None
    for point in trial["points"]:
        decision = monitor.observe(point)
        if decision.stop and stop is None:
            stop = (point.step, decision.finding)
    monitor.finish()
    return monitor, stop


KEEP = [
    # (trial, why it must run to its end)
    ("efefef43", "lr 3.4e-3, 4 epochs: eval F1 0.94, the best trial"),
    ("ad7c0448", "lr 4.1e-3, 2 epochs: F1 0.93. Label loss ~1.2 and eval accuracy 0.38 (chance) for its first 60 steps: "
                 "the prior plateau every good run passes through, never judged stuck so early"),
    ("5af4d728", "lr 9.5e-3, 3 epochs: F1 0.85, also at chance through step 50"),
    ("99707ec4", "lr 2.3e-3, w-explain: label loss ~1.1 (= ln 3) from step 90 on, but eval accuracy climbs 0.29 -> 0.64"),
    ("2d4631b7", "lr 2.0e-3, w-explain: as 99707ec4, eval accuracy 0.35 -> 0.62"),
    ("3ad84443", "lr 5.3e-3, 1 epoch: eval accuracy 0.41 -> 0.64 at its last step"),
    ("gen-lr0.003-ep3-xTrue", "w-explain at the good lr: label loss decays slower, eval accuracy reaches 0.68"),
    ("gen-lr0.005-ep3-xTrue", "w-explain at 5e-3: eval accuracy 0.68"),
    ("gen-lr0.003-ep5-xTrue", "w-explain over 5 epochs: eval accuracy 0.74"),
    ("gen-lr0.001-ep3-xFalse", "lr 1e-3: slow but converging, eval accuracy 0.84"),
]


@pytest.mark.parametrize("trial, why", KEEP, ids=[k[0] for k in KEEP])
def test_good_and_slow_but_learning_runs_are_not_stopped(trial, why):
    monitor, stop = _replay(TRIALS[trial])
    assert stop is None, (why, monitor.reason)
    assert not [f for f in monitor.findings if f.verdict == "plateau" and f.kind in ("stuck", "too_slow")], why


STOP = [
    # (trial, (rule, kind) of the stop, stopped at or before this step of max_steps, why)
    # Collapsed to the class prior: label loss 1.1-1.8 (ln 3 = 1.10) with 20% point noise and eval
    # accuracy 0.27-0.38 at every eval. Never confidently flat, but not improving either.
    ("1762a1c8", ("plateau", "stuck"), 135, "lr 2.6e-2: the textbook stuck run"),
    # A 5-epoch run waits for a flat stretch of stuck_span (45% of 375 steps: from step ~180) before the
    # not-improving test may call it stuck (a late bloomer sits at chance that long); its eval accuracy
    # then wobbles up to 0.40 (held-out "learning"), so the pace rule stops it at step 252.
    ("a4dc68e7", ("plateau", "stuck"), 260, "lr 1.6e-2, 5 epochs: at ln 3 and chance from step 10 to 375"),
    ("gen-lr0.03-ep3-xFalse", ("plateau", "stuck"), 145, "lr 3e-2: collapsed to the class prior (flat over 45% of 225 steps)"),
    # Learning far too slowly: label loss 11 -> 9.5 in its only epoch, eval accuracy ~0.38.
    ("c5988f32", ("plateau", "too_slow"), 50, "lr 1.5e-4, 1 epoch of 75 steps"),
    ("99d8ebf4", ("plateau", "too_slow"), 50, "lr 2.2e-4, w-explain, 1 epoch of 75 steps"),
    ("gen-lr0.0001-ep1-xFalse", ("plateau", "too_slow"), 50, "lr 1e-4: 11.4 -> 10.4 in its epoch"),
    # lr 2e-4 over 2 epochs: 11 -> 3.5 by the end (3x ln 3), eval accuracy 0.38 -> 0.46; its straight
    # fall to step 100 keeps the projection hopeful until the cosine schedule has flattened it.
    ("66016cbd", ("plateau", "too_slow"), 140, "lr 2e-4, 2 epochs: ends at 3.5, far above ln 3"),
    # lr 8e-4 with explanations: 11 -> 1.6, eval accuracy 0.39-0.47 (F1 0.46): judged too slow only
    # near its end, when the projection no longer reaches the stuck line.
    ("762220fd", ("plateau", "too_slow"), 220, "lr 8e-4, w-explain: F1 0.46"),
    # Rank 32 over 6 epochs memorises: train label loss falls off a cliff at each epoch boundary while
    # eval F1 stalls.
    ("gen-lr0.003-ep6-xFalse-r32", ("staircase", "memorising"), 350, "rank 32, 6 epochs (two evals of the new epoch agree)"),
]


@pytest.mark.parametrize("trial, stop, by_step, why", STOP, ids=[s[0] for s in STOP])
def test_stuck_too_slow_and_memorising_runs_are_stopped(trial, stop, by_step, why):
    monitor, stopped = _replay(TRIALS[trial])
    assert stopped is not None, (why, monitor.reason)
    step, finding = stopped
    assert (finding.verdict, finding.kind) == stop, (why, monitor.reason)
    assert step <= by_step, (why, monitor.reason)
    assert monitor.reason.startswith(f"stopped: {stop[0]} ({stop[1]}) at step ")


def test_every_trial_in_the_fixture_has_an_expected_decision():
    assert sorted(TRIALS) == sorted([k[0] for k in KEEP] + [s[0] for s in STOP])


def test_the_good_trials_keep_their_results():
    # the acceptance line of the demo sweep: every one of its trials with eval F1 >= 0.85 runs to its end
    good = [t for t, trial in TRIALS.items() if not t.startswith("gen-") and trial["best_eval_macro_f1"] >= 0.85]
    assert sorted(good) == ["5af4d728", "ad7c0448", "efefef43"]
    for trial in good:
        assert _replay(TRIALS[trial])[1] is None


def test_too_slow_reason_names_the_projection():
    _, (step, finding) = _replay(TRIALS["c5988f32"])
    evidence = finding.evidence
    assert evidence["projected"] > evidence["stuck_line"] == pytest.approx(0.5 * 1.0986, rel=1e-3)
    assert evidence["max_steps"] == 75 and evidence["margin"] == 2.0
    assert "too slow: label loss is about" in finding.message and "above the stuck line (0.5 x ln 3 = 0.549)" in finding.message
    assert "eval accuracy 0.367" in finding.message


def test_stop_when_too_slow_false_lets_a_slow_run_finish():
    trial = TRIALS["c5988f32"]
    monitor = CurveMonitor(PrunerSettings(num_classes=3, stop_when_too_slow=False), max_steps=trial["max_steps"], steps_per_epoch=trial["steps_per_epoch"])
    assert all(monitor.observe(p).action == "continue" for p in trial["points"])
    assert monitor.verdict == "plateau" and monitor.reason.startswith("plateau (too_slow) at step 46: too slow:")
