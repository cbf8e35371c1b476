"""A data-parallel trial: `resources.workers_per_trial` workers train one configuration together.

The Tune trial (a function trainable, as for one worker) drives a Ray Train `TorchTrainer`
(Ray 2.60's Train V2 cannot be passed to a Tuner itself). Each worker runs the ordinary
`run_trial` under DDP (gloo on CPU, NCCL on GPU); its logging windows are summed over all
ranks, so every rank reports the same points with `ray.train.report` (a barrier: every rank
reports equally often), and Tune's `TuneReportCallback` passes rank 0's on to the scheduler.
A pruner's STOP ends the Tune trial, and with it the Train run and its workers.

Checkpoints are Train's: rank 0 reports each one, and a restarted worker group (a worker or
its node lost: Train's own retries) or a retried Tune trial (the same Train run name, so Train
reloads its checkpoint list) resumes from the latest via `ray.train.get_checkpoint()`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from sweeper.orchestrate.persisted import newest_checkpoint
from sweeper.orchestrate.trainable import RayReporter, TrialContext, _restore_checkpoint, node_name, replay_finished

# What the Tune trial itself holds while its workers train: no CPU (it only waits on them), and
# one byte of memory, because Tune rejects a trial that asks for nothing.
DRIVER_RESOURCES = {"cpu": 0, "memory": 1}
# Worker-group restarts Train makes within one Tune trial (a worker process or node lost).
WORKER_RESTARTS = 2


def run_name(trial_id: str) -> str:
    """The Train run of a Tune trial: the same on every retry, so a retry finds its checkpoints."""
    return f"train-{trial_id}"


class WorkerReporter(RayReporter):
    """A worker's reporter: every point at once (ranks must report equally often, and a time
    batch would differ between them); the checkpoint is rank 0's to upload."""

    def __init__(self, metric: str, mode: str, rank: int) -> None:
        super().__init__(metric, mode, flush_seconds=0.0, node=node_name())
        self._rank = rank

    def _send(self, result: dict[str, Any], checkpoint: Path | None) -> None:
        import ray.train

        if checkpoint is not None and self._rank == 0:
            ray.train.report(result, checkpoint=ray.train.Checkpoint.from_directory(str(checkpoint)))
        else:
            ray.train.report(result)


def distributed_trial(config: dict[str, Any], context: TrialContext) -> None:
    """Ray Tune's function trainable for `workers_per_trial` > 1."""
    import ray.train
    from ray import tune
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    resources = context.spec["resources"]
    workers = int(resources["workers_per_trial"])
    gpu = float(resources["gpu"])
    trial_id = tune.get_context().get_trial_id()
    if trial_id in context.finished:
        replay_finished(*context.finished[trial_id])
        return
    if context.duplicates is not None:
        from sweeper.orchestrate.duplicates import settle_duplicate
        from sweeper.spec import SweepSpec

        if settle_duplicate(context.duplicates, SweepSpec.model_validate(context.spec), config):
            return  # the same settings as a finished trial: its result was reported, no workers start
    storage = f"{str(context.spec['storage']).rstrip('/')}/{context.spec['name']}/train-runs"  # a path or a URI
    trainer = TorchTrainer(
        _worker,
        train_loop_config={"params": config, "context": context, "run_name": run_name(trial_id)},
        torch_config=TorchConfig(backend="nccl" if gpu else "gloo"),
        scaling_config=ray.train.ScalingConfig(
            num_workers=workers,
            use_gpu=gpu > 0,
            resources_per_worker={"CPU": float(resources["cpu"]), **({"GPU": gpu} if gpu else {})},
        ),
        run_config=ray.train.RunConfig(
            name=run_name(trial_id),
            storage_path=str(storage),
            callbacks=[TuneReportCallback()],
            failure_config=ray.train.FailureConfig(max_failures=WORKER_RESTARTS),
            checkpoint_config=ray.train.CheckpointConfig(num_to_keep=2),
        ),
    )
    trainer.fit()


def _worker(loop_config: dict[str, Any]) -> None:
    """One rank: the ordinary trial, its windows summed across ranks."""
    import ray.train
    import torch.distributed as dist

    from sweeper.spec import SweepSpec
    from sweeper.trial.train import TrialConfig, run_trial

    context: TrialContext = loop_config["context"]
    train_context = ray.train.get_context()
    rank, local_rank = train_context.get_world_rank(), train_context.get_local_rank()
    spec = SweepSpec.model_validate(context.spec)
    # One folder per trial and node, shared by its ranks: HF Trainer writes a checkpoint from
    # rank 0 and each rank's RNG state into the same checkpoint folder.
    work_dir = Path(tempfile.gettempdir()) / f"sweeper-{spec.name}-{loop_config['run_name']}"
    resume_from = None
    storage = train_context.get_storage()
    checkpoint = newest_checkpoint(ray.train.get_checkpoint(), storage.storage_filesystem, storage.experiment_fs_path)
    if local_rank == 0:
        work_dir.mkdir(parents=True, exist_ok=True)
        if checkpoint is not None:
            shutil.rmtree(work_dir, ignore_errors=True)  # a lost attempt's leftovers
            work_dir.mkdir(parents=True)
            resume_from = _restore_checkpoint(checkpoint, work_dir)
    dist.barrier()
    if checkpoint is not None and resume_from is None:
        resume_from = max(work_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    trial_config = TrialConfig(
        model=spec.model,
        dataset=spec.dataset,
        train=spec.trial_settings(loop_config["params"]),
        output_dir=work_dir,
        num_threads=max(1, int(spec.resources.cpu)),
    )
    reporter = WorkerReporter(context.metric, context.mode, rank)
    run_trial(trial_config, reporter, resume_from=resume_from, across_ranks=True)
    dist.barrier()
    if local_rank == 0:
        shutil.rmtree(work_dir, ignore_errors=True)
