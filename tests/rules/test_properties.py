"""Properties over generated curve families with known truth (sweeper.rules.synthetic).

Deterministic: plain random.Random(seed) loops, and hypothesis with derandomize=True.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sweeper.rules import diagnose, synthetic

SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
PROPERTY = settings(derandomize=True, deadline=None, max_examples=120, suppress_health_check=[HealthCheck.too_slow])


def _false_findings(result):
    """Findings a healthy decay must never get. A converged plateau is not one: a healthy run may converge."""
    return [f for f in result.findings if f.rule in ("divergence", "staircase") or (f.rule == "plateau" and f.kind == "stuck")]


def test_false_finding_rate_on_500_healthy_decays():
    # lengths 10-10,000 points (log-uniform), 1-5 epochs, logging every 1/5/10/50 steps,
    # noise 0.5-10%, rare spikes, warm-up + cosine schedules, evals on some runs.
    false = []
    for seed in range(500):
        curve = synthetic.healthy(random.Random(seed))
        result = diagnose(curve.points)
        if _false_findings(result):
            false.append((seed, curve.params, [(f.rule, f.kind, f.step) for f in _false_findings(result)]))
    rate = len(false) / 500
    print(f"false-finding rate on 500 healthy decays: {rate:.1%} ({len(false)})")
    assert rate <= 0.01, false
    assert not any(rule == "divergence" for _, _, found in false for rule, _, _ in found)


@PROPERTY
@given(seed=SEEDS)
def test_staircase_found_at_the_boundary_where_it_starts(seed):
    curve = synthetic.staircase(random.Random(seed))
    result = diagnose(curve.points)
    stairs = [f for f in result.findings if f.rule == "staircase"]
    assert stairs, curve.params
    assert stairs[0].step == curve.onset_step, curve.params  # not before: smooth boundaries stay quiet
    assert stairs[0].kind == ("memorising" if curve.params["memorising"] else "improving"), curve.params
    assert result.verdict == "staircase"


@PROPERTY
@given(seed=SEEDS)
def test_stuck_plateau_found_within_a_window_of_its_onset(seed):
    curve = synthetic.stuck(random.Random(seed), max_sigma=0.02)
    n, onset, sigma = len(curve.points), curve.params["onset"], curve.params["sigma"]
    # The earliest point at which the rule can know: its trailing third lies in the plateau, it has
    # 3 x 20 points, and the window resolves a 2% fall from this noise (z * se < 2%, with a 1.5x
    # margin for the noise estimate).
    resolvable = 1.5 * 9 * (2 * 2.66 * sigma / 0.02) ** 2
    ready = max(60, 1.5 * onset, resolvable)
    assume(n >= ready + n / 3)
    index_of = {p.step: i for i, p in enumerate(curve.points)}
    plateaus = [f for f in diagnose(curve.points).findings if f.rule == "plateau"]
    assert plateaus, curve.params
    first = plateaus[0]
    assert first.kind == "stuck", curve.params
    assert index_of[first.step] <= ready + first.evidence["window_points"], curve.params


@PROPERTY
@given(seed=SEEDS)
def test_non_finite_loss_found_at_once(seed):
    curve = synthetic.non_finite(random.Random(seed))
    result = diagnose(curve.points)
    divergence = [f for f in result.findings if f.rule == "divergence"]
    assert [(f.kind, f.step) for f in divergence] == [("non_finite", curve.onset_step)]
    assert result.verdict == "divergence"


@PROPERTY
@given(seed=SEEDS)
def test_sustained_rise_found_within_a_few_points(seed):
    curve = synthetic.rising(random.Random(seed))
    steps = [p.step for p in curve.points]
    divergence = [f for f in diagnose(curve.points).findings if f.rule == "divergence"]
    assert divergence and divergence[0].kind == "rising", curve.params
    # median of 5 flips within 3 + ramp points, then 5 points of patience
    delay = steps.index(divergence[0].step) - steps.index(curve.onset_step)
    assert 0 <= delay <= 3 + curve.params["ramp"] + 5, curve.params
