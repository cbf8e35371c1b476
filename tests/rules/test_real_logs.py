"""The four real logs in ../shared/fixtures/real-logs: verdicts match their hand-given labels."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweeper.logs import read_log
from sweeper.rules import CurveMonitor, PrunerSettings, diagnose

REAL_LOGS = Path(__file__).resolve().parents[2] / ".." / "shared" / "fixtures" / "real-logs"

# file -> verdicts its label allows ("mixed": a mild cliff the rules may or may not call a staircase)
LABELS = {
    "mistral7b_lora_translator_4ep_staircase_trainer_state.json": {"staircase"},
    "gemma7b_lora_kgllm_5ep_healthy_nangrad_trainer_state.json": {"healthy"},
    "qwen25_7b_lora_medical_3ep_mixed_trainer_log.jsonl": {"staircase", "healthy"},
    "dsr1_qwen3_8b_lora_swift_1ep_healthy_logging.jsonl": {"healthy"},
}


def _log(name: str) -> Path:
    path = REAL_LOGS / name
    if not path.is_file():
        pytest.skip(f"../shared/fixtures/real-logs not found: {path.resolve()}")
    return path


def _diagnose(name: str):
    curve = read_log(_log(name))
    return curve, diagnose(curve.points, max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)


@pytest.mark.parametrize("name, verdicts", sorted(LABELS.items()))
def test_verdict_matches_label(name, verdicts):
    _, result = _diagnose(name)
    assert result.verdict in verdicts
    # nothing on these runs is broken, stuck or too slow
    assert not [f for f in result.findings if f.verdict == "divergence" or (f.verdict == "plateau" and f.kind in ("stuck", "too_slow"))]


def test_mistral_cliff_at_every_boundary():
    _, result = _diagnose("mistral7b_lora_translator_4ep_staircase_trainer_state.json")
    stairs = [f for f in result.findings if f.verdict == "staircase"]
    assert [f.step for f in stairs] == [2170, 4340, 6500]  # first logged step of epochs 2, 3, 4
    assert all(f.kind == "unjudged" for f in stairs)  # the log has no eval points
    assert [round(f.evidence["rel_drop"], 2) for f in stairs] == [0.22, 0.35, 0.30]
    assert all(f.evidence["ratio"] >= 5 for f in stairs)


def test_gemma_nan_grad_norm_is_a_warning_only():
    _, result = _diagnose("gemma7b_lora_kgllm_5ep_healthy_nangrad_trainer_state.json")
    assert [(f.verdict, f.kind, f.step, f.evidence["count"]) for f in result.findings] == [
        ("warning", "non_finite_grad_norm", 1, 3)
    ]


def test_qwen_epoch_3_cliff_is_memorising_when_found():
    _, result = _diagnose("qwen25_7b_lora_medical_3ep_mixed_trainer_log.jsonl")
    stairs = [f for f in result.findings if f.verdict == "staircase"]
    for finding in stairs:  # the mild epoch-2 -> 3 drop while eval loss rises
        assert (finding.step, finding.kind) == (4510, "memorising")
        assert finding.evidence["eval_loss_change"] > 0


@pytest.mark.parametrize("name", sorted(LABELS))
def test_streaming_with_defaults_stops_only_the_memorising_staircase(name):
    # As a sweep would run them (max_steps known, default policy): the healthy runs finish; qwen's
    # loss creeps down at 70-80% of its start (an LM loss over free text), but its eval loss keeps
    # improving, so neither the not-improving test nor the pace rule may stop it before its
    # memorising epoch-3 cliff (step 4510, judged at its first eval after the boundary).
    curve = read_log(_log(name))
    monitor = CurveMonitor(PrunerSettings(), max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)
    stopped = None
    for point in curve.points:
        if monitor.observe(point).stop:
            stopped = monitor.stopped
            break
    if name.startswith("qwen"):
        assert stopped is not None and (stopped.verdict, stopped.kind) == ("staircase", "memorising")
    else:
        assert stopped is None


@pytest.mark.parametrize("name", sorted(LABELS))
def test_streaming_monitor_agrees_with_diagnose(name):
    curve, result = _diagnose(name)
    monitor = CurveMonitor(PrunerSettings(enabled=False), max_steps=curve.max_steps, steps_per_epoch=curve.steps_per_epoch)
    for point in curve.points:
        assert monitor.observe(point).action == "continue"  # enabled=False: judge, never stop
    monitor.finish()
    assert monitor.verdict == result.verdict
