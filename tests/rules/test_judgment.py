"""The offline judgment (sweeper.rules.judgment): the kinds of curves real logs show, as diagnose sees them whole."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from sweeper.logs import read_log
from sweeper.rules import Point, diagnose, synthetic
from sweeper.rules.judgment import MIN_POINTS, judge

CORPUS = Path(__file__).resolve().parents[1] / "diagnose_corpus" / "runs"


def _curve(losses, every=10, evals=None, epochs=None):
    points = []
    for i, loss in enumerate(losses):
        step = (i + 1) * every
        extra = {"eval_loss": evals[i]} if evals is not None and evals[i] is not None else {}
        epoch = {"epoch": step / (every * len(losses)) * epochs} if epochs else {}
        points.append(Point(step=step, loss=loss, **epoch, **extra))
    return points


def _decay(n, start=2.0, floor=0.5, tau=0.3, noise=0.01, seed=0):
    rng = random.Random(seed)
    return [floor + (start - floor) * math.exp(-i / (n * tau)) + rng.gauss(0, noise) for i in range(n)]


@pytest.mark.parametrize("n", [1, 5, 10, MIN_POINTS - 1])
def test_short_logs_are_insufficient_with_the_number_needed(n):
    result = judge(_curve(_decay(n)))
    assert result.verdict == "insufficient"
    assert f"{n} training points, judging a curve needs at least {MIN_POINTS}" in result.reason


def test_a_35_point_flat_log_is_a_plateau_with_its_numbers():
    # Online the plateau rule needs 60 points; offline a short flat curve is still judged.
    flat = [2.5, 2.2] + [2.17 - 0.001 * i + (0.01 if i % 2 else -0.01) for i in range(33)]
    result = judge(_curve(flat))
    assert (result.verdict, result.kind) == ("plateau", "flat")
    assert "over the second half of the run" in result.reason and "still high" in result.reason


def test_flat_but_eval_still_falling_is_healthy():
    flat = [2.17 - 0.0005 * i for i in range(60)]
    evals = [None] * 60
    for i in range(5, 60, 6):
        evals[i] = 2.0 - 0.02 * i
    assert judge(_curve(flat, evals=evals)).verdict == "healthy"


def test_a_flat_low_curve_says_only_flat():
    losses = _decay(200, start=2.0, floor=0.1, tau=0.05, noise=0.0)
    result = judge(_curve(losses))
    assert (result.verdict, result.kind) == ("plateau", "flat")
    assert "only flat" in result.reason


def test_blow_up_in_few_points_is_divergence():
    losses = [1.0 * 1.45 ** i for i in range(10)]  # 1 -> ~28 over 10 logs (constant lr 5e-3)
    result = judge(_curve(losses))
    assert (result.verdict, result.kind) == ("divergence", "blow_up")
    # Online (the pruner) the blow-up rule sees it too, at its 5th log (step 50): 4 rises, 4.4x its start.
    online = diagnose(_curve(losses), max_steps=100)
    assert (online.verdict, online.kind, online.findings[0].rule, online.findings[0].step) == ("divergence", "blow_up", "blow_up", 50)


def test_collapse_to_exactly_zero_is_divergence_real_log():
    curve = read_log(CORPUS / "aolinguo_lf_zero_collapse" / "trainer_log.jsonl")
    result = judge(curve.points)
    assert (result.verdict, result.kind) == ("divergence", "collapse")
    assert "exactly 0 at all 36 logs from step 20" in result.reason


def test_exactly_constant_nonzero_loss_is_divergence():
    losses = [3.1, 2.9] + [2.7725] * 30
    assert judge(_curve(losses)).kind == "collapse"


def test_a_converged_log_with_repeated_rounding_is_not_a_collapse():
    losses = [round(v, 4) for v in _decay(100, noise=0.002)] + [0.5012, 0.5012]
    assert judge(_curve(losses)).verdict != "divergence"


def test_near_zero_losses_are_not_a_divergence_real_log():
    # GeoLLM: 4.26 -> ~0.003, bumps of +0.01 are 135% "above the best" but nothing on the run's scale.
    curve = read_log(CORPUS / "aries_geollm_nearzero" / "trainer_state.json")
    for result in (judge(curve.points, max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch), diagnose(curve.points)):
        assert result.verdict == "healthy"  # online too: the rise must clear 5% of the run's start level


def test_recovered_spike_is_a_warning_with_its_steps():
    losses = _decay(400, start=0.6, floor=0.3, noise=0.005)
    for i, value in enumerate((1.5, 4.0, 12.0, 8.0, 3.0, 1.0)):
        losses[20 + i] = value  # 0.3 -> 12 in 40 steps, lr too high without warm-up, then recovered
    evals = [None] * 400
    for i in range(39, 400, 40):
        evals[i] = 0.5 - i * 0.0003
    points = _curve(losses, evals=evals)
    assert diagnose(points).verdict == "divergence"  # the online rules stopped on the spike
    result = judge(points)
    assert result.verdict == "healthy"
    warning = next(f for f in result.findings if f.kind == "recovered_spike")
    assert warning.verdict == "warning" and "came back" in warning.message


def test_a_plateau_the_rest_of_the_log_contradicts_is_revised():
    losses = [2.0 - 0.01 * i for i in range(40)] + [1.6 + (0.004 if i % 2 else -0.004) for i in range(80)] + [1.6 - 0.01 * i for i in range(80)]
    online = diagnose(_curve(losses))
    assert online.verdict == "plateau"  # found mid-stream, sticky online
    assert judge(_curve(losses)).verdict == "healthy"


def test_named_eval_losses_rising_are_a_divergence_real_log():
    # trainer_state_viz: train 1.1 -> 0.055 while all six eval sets' losses rose ~1.8x from step 1604.
    curve = read_log(CORPUS / "aigoncharov_30ep" / "trainer_state.json")
    result = judge(curve.points)
    assert (result.verdict, result.kind) == ("divergence", "eval_rising")


def test_staircase_with_eval_is_judged_by_the_eval_real_log():
    curve = read_log(CORPUS / "qwen_medical_3ep" / "trainer_log.jsonl")
    result = judge(curve.points, max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)
    assert (result.verdict, result.kind) == ("staircase", "memorising")


def test_absent_label_loss_is_never_a_divergence():
    # A window without label tokens reports no label_loss: absent, not NaN, so nothing to stop on.
    points = [Point(step=10 * (i + 1), loss=2.0 - 0.01 * i, label_loss=(None if i % 7 == 3 else 1.0 - 0.004 * i)) for i in range(80)]
    for result in (diagnose(points), judge(points)):
        assert result.verdict != "divergence"


def test_false_findings_on_healthy_decays_stay_rare():
    # As in test_properties: a healthy run may converge (plateau "converged", or flat and "only flat");
    # it is never broken, a staircase, stuck or flat while still high.
    false = []
    for seed in range(300):
        curve = synthetic.healthy(random.Random(seed))
        result = judge(curve.points)
        converged = result.kind == "converged" or (result.kind == "flat" and "only flat" in result.reason)
        if result.verdict in ("divergence", "staircase") or (result.verdict == "plateau" and not converged):
            false.append((seed, result.reason))
    assert len(false) <= 0.005 * 300, false[:3]


def test_late_bloomers_are_never_called_broken():
    for seed in range(100):
        curve = synthetic.late_bloomer(random.Random(seed))
        assert judge(curve.points).verdict not in ("divergence", "insufficient"), seed


def test_a_flat_lm_loss_is_reported_with_its_numbers_never_called_stuck_real_log():
    # NSLLM: 2.35 -> 1.97, second half 1.98 -> 1.97; an LM loss has no known floor.
    curve = read_log(CORPUS / "hsc748_nsllm_flat" / "trainer_log.jsonl")
    result = judge(curve.points, max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)
    assert (result.verdict, result.kind) == ("plateau", "flat")
    assert "1.979 -> 1.969 (-0.5%)" in result.reason and "only flat" in result.reason
    assert "stuck" not in result.reason


def test_a_flat_label_loss_is_judged_against_ln_c():
    losses = [1.2, 1.1, 1.0] + [0.98 + (0.005 if i % 2 else -0.005) for i in range(60)]
    assert "still high" in judge(_curve(losses), num_classes=3).reason  # 0.98 is 89% of ln 3
    low = [1.2, 0.6, 0.3] + [0.1 + (0.001 if i % 2 else -0.001) for i in range(60)]
    assert "low: " in judge(_curve(low), num_classes=3).reason


def test_an_online_collapse_the_loss_moved_on_from_is_a_warning():
    # 12 logs of exactly 0.0 (the pruner stops there), then the loss moves again: offline the collapse
    # is a warning with its steps (the climb back from 0.0 is the rising rule's to judge, as it is).
    losses = _decay(60) + [0.0] * 12 + _decay(40, start=0.6, floor=0.5)
    result = judge(_curve(losses))
    warning = next(f for f in result.findings if f.kind == "collapse_recovered")
    assert warning.verdict == "warning" and "then the loss moved again" in warning.message
    assert not any(f.kind == "collapse" for f in result.findings)
    assert diagnose(_curve(losses)).findings[0].kind == "collapse"  # what the pruner saw


def test_an_online_eval_rise_that_came_back_down_is_a_warning():
    # The eval loss 1.6x its best at 3 evals in a row (the pruner stops there), then back below its best.
    losses = _decay(100)
    evals = [None] * 100
    for k, value in enumerate([1.0, 0.8, 1.3, 1.35, 1.4, 0.75, 0.7, 0.7, 0.68, 0.66]):
        evals[10 * k + 9] = value
    result = judge(_curve(losses, evals=evals))
    assert any(f.kind == "eval_rising_recovered" and f.verdict == "warning" for f in result.findings)
    assert result.verdict != "divergence"
