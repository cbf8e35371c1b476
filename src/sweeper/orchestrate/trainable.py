"""The function Ray Tune runs for each trial: a real LoRA SFT run whose reports go to `tune.report`.

The trial code itself (sweeper.trial) knows nothing of Ray; this module injects a reporter.
"""

from __future__ import annotations

import math
import shutil
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweeper.orchestrate.decisive import DecisivePoints
from sweeper.orchestrate.persisted import newest_checkpoint
from sweeper.orchestrate.space import CHECKPOINT_SCORE, OBJECTIVE
from sweeper.rules.monitor import PrunerSettings
from sweeper.rules.point import BATCH_KEY


RAISED = "raised.txt"  # in the trial's folder: the Python error a trial raised


class TrialRaised(RuntimeError):
    """A trial that raised in Python (bad data, CUDA error) raises the same error on Ray's retry at
    once: retries are for processes that died (killed, node lost), whose run may go on."""


@dataclass(frozen=True)
class TrialContext:
    """What every trial of a sweep shares; plain data so Ray can ship it to workers."""

    spec: dict[str, Any]  # SweepSpec.model_dump(mode="json"), paths made absolute by the driver
    metric: str
    mode: str
    pruner: PrunerSettings  # the sweep's checked pruner settings (preflight), which its scheduler judges with
    # Trials an earlier run of the sweep finished (ledger.jsonl), which Ray may queue again after a
    # resume: trial_id -> (the objective the searcher was told, the error if it errored).
    finished: dict[str, tuple[float | None, str]] = field(default_factory=dict)
    stop_flag: Any = None  # sweeper.orchestrate.graceful_stop's flag, set when the sweep is stopping
    duplicates: Any = None  # sweeper.orchestrate.duplicates' registry: which trial trains which settings


class RayReporter:
    """Sends the trial's points to Ray Tune in small batches, with the running best of the sweep's
    metric as `objective`.

    Each `tune.report` is a round trip to the driver (scheduler, searcher, callbacks); on a tiny
    model that costs more than a training step. So points are held for up to `flush_seconds`
    and sent together (every point still reaches the rules, in order); a checkpoint is sent at
    once, with the points before it, and so is every point `decisive` says the driver may stop
    the trial at (sweeper.orchestrate.decisive), so that a stop lands where it was decided.
    Real trials, whose steps take seconds, send every point as it comes.
    """

    def __init__(
        self,
        metric: str,
        mode: str,
        flush_seconds: float = 1.0,
        node: str | None = None,
        stop_flag: Any = None,
        decisive: DecisivePoints | None = None,
    ) -> None:
        self._decisive = decisive
        self._stop_flag = stop_flag  # sweeper.orchestrate.graceful_stop's flag: is the sweep stopping?
        self._stopping = False
        self._last_poll = time.monotonic()
        self._metric = metric
        self._node = {"node": node} if node is not None else {}
        self._sign = 1.0 if mode == "max" else -1.0
        self._best: float | None = None
        self._flush_seconds = flush_seconds
        self._pending: list[dict[str, Any]] = []
        self._last_flush = time.monotonic()
        self._last_eval: tuple[int, float] | None = None  # (step, value) of the latest eval of the metric

    def report(self, metrics: dict[str, Any], checkpoint: Path | None = None) -> None:
        value = metrics.get(self._metric)
        if value is not None and math.isfinite(value):
            if self._best is None or self._sign * value > self._sign * self._best:
                self._best = float(value)
            self._last_eval = (int(metrics["step"]), float(value))
        self._pending.append({**metrics, **self._node})
        decisive = self._decisive is not None and self._decisive.send_now(metrics)  # sees every point
        if decisive or checkpoint is not None or time.monotonic() - self._last_flush >= self._flush_seconds:
            self.flush(checkpoint)

    def flush(self, checkpoint: Path | None = None) -> None:
        if not self._pending:
            return
        result = {**self._pending[-1], BATCH_KEY: self._pending}
        if self._best is not None:
            result[OBJECTIVE] = self._best
        if checkpoint is not None:
            scored = self._last_eval is not None and self._last_eval[0] == result.get("step")
            result[CHECKPOINT_SCORE] = self._last_eval[1] if scored else -self._sign * math.inf
        self._pending = []
        self._last_flush = time.monotonic()
        self._send(result, checkpoint)

    def stop_requested(self) -> bool:
        """True once the sweep is stopping; asked of the driver at most every flush_seconds."""
        if self._stop_flag is not None and not self._stopping:
            if time.monotonic() - self._last_poll >= self._flush_seconds:
                import ray

                self._last_poll = time.monotonic()
                self._stopping = bool(ray.get(self._stop_flag.is_set.remote()))
        return self._stopping

    def _send(self, result: dict[str, Any], checkpoint: Path | None) -> None:
        from ray import tune

        if checkpoint is None:
            tune.report(result)
        else:
            tune.report(result, checkpoint=tune.Checkpoint.from_directory(str(checkpoint)))


def node_name() -> str:
    """The Ray node this process runs on, by the name `ray start --node-name` gave it (default:
    the node's IP address)."""
    import ray

    node_id = ray.get_runtime_context().get_node_id()
    for node in ray.nodes():
        if node["NodeID"] == node_id:
            return str(node.get("NodeName") or node.get("NodeManagerAddress") or node_id)
    return node_id


def sweep_trial(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune's function trainable. `config` holds the sampled parameters."""
    import ray
    from ray import tune
    from ray.train._internal.session import get_session

    from sweeper.orchestrate.duplicates import settle_duplicate
    from sweeper.spec import SweepSpec
    from sweeper.trial.train import TrialConfig, run_trial

    finished = context.finished.get(tune.get_context().get_trial_id())
    if finished is not None:
        replay_finished(*finished)
        return
    spec = SweepSpec.model_validate(context.spec)
    settings = spec.trial_settings(config)
    if context.duplicates is not None and settle_duplicate(context.duplicates, spec, config):
        return  # the same settings as a finished trial: its result was reported, nothing trains
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    raised = Path(tune.get_context().get_trial_dir()) / RAISED
    if raised.exists():
        raise TrialRaised(raised.read_text(encoding="utf-8"))
    work_dir = Path(tempfile.mkdtemp(prefix="sweeper-trial-"))
    try:
        storage = get_session().storage
        resume_from = _restore_checkpoint(
            newest_checkpoint(tune.get_checkpoint(), storage.storage_filesystem, storage.trial_fs_path), work_dir
        )
        trial_config = TrialConfig(
            model=spec.model,
            dataset=spec.dataset,
            train=settings,
            output_dir=work_dir,
            num_threads=max(1, int(cpus)),
        )
        reporter = RayReporter(
            context.metric, context.mode, node=node_name(), stop_flag=context.stop_flag,
            decisive=DecisivePoints(context.pruner),
        )
        try:
            summary = run_trial(trial_config, reporter, resume_from=resume_from)
        except Exception as error:
            raised.parent.mkdir(parents=True, exist_ok=True)
            raised.write_text(traceback.format_exception_only(error)[-1].strip(), encoding="utf-8")
            raise
        reporter.flush()  # the last points; a trial that raised loses at most flush_seconds of them
        if summary.steps_done < summary.max_steps and reporter.stop_requested():
            # Saved at the step the sweep stopped: stay in flight (not completed) until Ray stops,
            # so that its snapshot holds this trial as interrupted, with that checkpoint.
            while True:
                time.sleep(1.0)
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def replay_finished(objective: float | None, error: str) -> None:
    """A trial the sweep already finished ends at once as it ended then: the searcher is told its
    result (or its error) exactly once, and nothing trains again."""
    from ray import tune

    if error:
        raise TrialRaised(error)
    tune.report({BATCH_KEY: [], **({OBJECTIVE: objective} if objective is not None else {})})


def _restore_checkpoint(checkpoint: Any, work_dir: Path) -> Path | None:
    """Copy Ray's persisted checkpoint into the trial's work folder, where Trainer resumes from it."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as source:
        state = Path(source) / "trainer_state.json"
        step = _step_of(state)
        target = work_dir / f"checkpoint-{step}"
        shutil.copytree(source, target)
    return target


def _step_of(trainer_state: Path) -> int:
    import json

    try:
        return int(json.loads(trainer_state.read_text())["global_step"])
    except (OSError, KeyError, ValueError):
        return 0
