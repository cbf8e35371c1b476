"""Run a sweep: pre-flight checks, Ray Tune with the searcher and the convergence scheduler,
live progress, and the results folder."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sweeper.errors import SweeperError
from sweeper.orchestrate.preflight import Preflight, preflight
from sweeper.orchestrate.progress import Progress
from sweeper.orchestrate.space import (
    CHECKPOINT_SCORE,
    effective_params,
    planned_trials,
    ray_num_samples,
    searcher,
    tune_param_space,
)
from sweeper.results.store import (
    MARKER,
    SweepLock,
    atomic_write_text,
    ensure_writable_dir,
    is_empty_dir,
    is_sweep_dir,
)
from sweeper.spec import SweepSpec
from sweeper.spec.schema import ray_head

if TYPE_CHECKING:
    from sweeper.orchestrate.resume import StoredSweep
    from sweeper.results.remote import MirroredSweep

# Quiet Ray down before it is imported: the user watches our progress, not Ray's.
_RAY_QUIET_ENV = {
    "RAY_DEDUP_LOGS": "1",
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "TOKENIZERS_PARALLELISM": "false",
    # Training points carry no eval metric (so no objective): that is the point of streaming them.
    "TUNE_DISABLE_STRICT_METRIC_CHECKING": "1",
    # Ray's experiment snapshot at most a second old (by default up to 10 s or more): a trial made
    # and finished between two snapshots would be unknown to a resume, and suggested again.
    "TUNE_GLOBAL_CHECKPOINT_S": "1",
    # Ctrl-C is sweeper's (sweeper.orchestrate.graceful_stop), which stops Ray after checkpoints.
    "TUNE_DISABLE_SIGINT_HANDLER": "1",
}

REACH_TIMEOUT_S = 30.0  # how long `--address` may take to answer before the sweep gives up


@dataclass
class SweepOutcome:
    sweep_dir: Path | str  # the sweep's folder; on object storage, its URI
    rows: list[dict[str, Any]]
    steps_run: int
    steps_planned: int
    param_names: list[str]
    exit_code: int = 0  # 130 / 143 when a first SIGINT / SIGTERM stopped it, 1 when every trial errored

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row["status"]] = counts.get(row["status"], 0) + 1
        return counts


def absolute_paths(spec: SweepSpec) -> SweepSpec:
    """Paths resolved against the current folder, so trials find files wherever Ray runs them."""
    dataset = spec.dataset.model_copy(
        update={
            name: Path(getattr(spec.dataset, name)).resolve()
            for name in ("train", "eval", "dataset_info")
            if getattr(spec.dataset, name) is not None
        }
    )
    model = spec.model if spec.model.startswith("builtin:") else str(Path(spec.model).resolve())
    storage = spec.storage if spec.remote else str(Path(spec.storage).resolve())
    return spec.model_copy(update={"dataset": dataset, "model": model, "storage": storage})


def run_sweep(
    spec: SweepSpec,
    *,
    overwrite: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
    quiet: bool = False,
    checked: Preflight | None = None,
) -> SweepOutcome:
    """Run a sweep; `checked` is the result of `preflight(spec)` when the caller already ran it.
    `address` (the --address flag) wins over the spec's cluster.address."""
    address = cluster_address(spec, address)
    if checked is None:
        checked = preflight(spec, local_devices=address is None)
    spec = absolute_paths(spec)
    if address is not None:
        check_reachable(address)
    if spec.remote:
        return _run_on_object_storage(spec, checked, overwrite=overwrite, address=address, num_cpus=num_cpus, quiet=quiet)
    sweep_dir = ensure_writable_dir(Path(spec.storage)) / spec.name
    if is_sweep_dir(sweep_dir):
        if not overwrite:
            raise SweeperError(
                f"{sweep_dir}: a sweep already ran here; continue it with `sweeper resume {sweep_dir}`, "
                f"replace it with --overwrite, or pass --set name=... to keep both"
            )
    elif not is_empty_dir(sweep_dir):
        # sweeper never deletes a file it did not write: a folder it did not make is left alone.
        raise SweeperError(
            f"{sweep_dir}: this folder holds files that are not a sweep's; nothing was touched. "
            f"Pick another name (--set name=...) or storage"
        )
    sweep_dir.mkdir(parents=True, exist_ok=True)
    with SweepLock(sweep_dir):
        if overwrite:
            _clear(sweep_dir)
        atomic_write_text(sweep_dir / MARKER, "a sweeper sweep folder: `sweeper run --overwrite` may empty it\n")
        atomic_write_text(sweep_dir / "spec.yaml", yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
        return execute(spec, checked, sweep_dir, address=address, num_cpus=num_cpus, quiet=quiet)


def _run_on_object_storage(
    spec: SweepSpec, checked: Preflight, *, overwrite: bool, address: str | None, num_cpus: int | None, quiet: bool
) -> SweepOutcome:
    """A sweep whose folder is on object storage: sweeper's files in a local mirror, uploaded as they change."""
    import tempfile

    from sweeper.results.remote import LOCK, MirroredSweep, RemoteLock

    with tempfile.TemporaryDirectory(prefix="sweeper-mirror-") as work:
        mirror = MirroredSweep(spec.sweep_uri, Path(work) / spec.name)
        if mirror.is_sweep():
            if not overwrite:
                raise SweeperError(
                    f"{mirror.uri}: a sweep already ran here; continue it with `sweeper resume {mirror.uri}`, "
                    f"replace it with --overwrite, or pass --set name=... to keep both"
                )
        elif set(mirror.remote.names()) - {LOCK}:
            raise SweeperError(
                f"{mirror.uri}: this folder holds objects that are not a sweep's; nothing was touched. "
                f"Pick another name (--set name=...) or storage"
            )
        with RemoteLock(mirror.remote) as lock:
            if overwrite:
                mirror.remote.delete_tree()
                lock.refresh()
            mirror.lock = lock
            mirror.local.mkdir(parents=True)
            atomic_write_text(mirror.local / MARKER, "a sweeper sweep folder: `sweeper run --overwrite` may empty it\n")
            atomic_write_text(mirror.local / "spec.yaml", yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False))
            mirror.push()
            return execute(spec, checked, mirror.local, address=address, num_cpus=num_cpus, quiet=quiet, mirror=mirror)


def cluster_address(spec: SweepSpec, flag: str | None) -> str | None:
    """The Ray cluster a sweep joins: --address when given, else the spec's cluster.address."""
    return flag if flag is not None else spec.cluster.address


def check_reachable(address: str, timeout: float | None = None) -> None:
    """A Ray head that does not answer fails in seconds with one line, not minutes of retries."""
    import socket
    import time

    try:
        head = ray_head(address)
    except ValueError as error:
        raise SweeperError(f"--address {address}: {error}") from None
    if head is None:
        return  # Ray finds "auto" itself; a ray:// client address is Ray Client's to check
    host, port = head
    deadline = time.monotonic() + (REACH_TIMEOUT_S if timeout is None else timeout)
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=5):
                return
        except OSError as error:
            if time.monotonic() >= deadline or isinstance(error, socket.gaierror):
                raise SweeperError(
                    f"--address {address}: no Ray head answers there ({error.strerror or error}); check that "
                    f"`ray start --head --port={port}` runs on {host} and that this machine can reach that port"
                ) from None
            time.sleep(1.0)


def trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def _clear(sweep_dir: Path) -> None:
    for child in sweep_dir.iterdir():
        if child.name == SweepLock.FILENAME:
            continue
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def execute(
    spec: SweepSpec,
    checked: Preflight,
    sweep_dir: Path,
    *,
    address: str | None,
    num_cpus: int | None,
    quiet: bool,
    stored: "StoredSweep | None" = None,
    mirror: "MirroredSweep | None" = None,
) -> SweepOutcome:
    """Run the sweep in `sweep_dir` (locked by the caller): a new one, or, with `stored` (what an
    earlier run of it recorded), the same sweep continued from Ray's snapshot. With `mirror`, the
    sweep's folder is on object storage and `sweep_dir` is its local mirror."""
    for key, value in _RAY_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    import optuna
    import ray
    from ray import tune

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A failing trial is a row of the leaderboard (status errored, the error's last line), not a
    # traceback on the terminal; the full text stays in the trial's folder (error.txt).
    logging.getLogger("ray.tune").setLevel(logging.CRITICAL)

    from sweeper.adapters.ray_scheduler import ConvergenceScheduler
    from sweeper.orchestrate.duplicates import finished_owners, registry
    from sweeper.orchestrate.graceful_stop import GracefulStop, stop_flag
    from sweeper.orchestrate.held_out import score_best_on_test
    from sweeper.orchestrate.recorder import SweepRecorder
    from sweeper.orchestrate.signals import StopSignals
    from sweeper.orchestrate.tracking import TrackingCallback
    from sweeper.orchestrate.trainable import TrialContext, sweep_trial
    from sweeper.results.plots import plot_sweep

    mode = spec.search.resolved_mode
    param_names = list(spec.search.space)
    scheduler = ConvergenceScheduler(checked.pruner)
    progress = Progress(planned_trials(spec.search, spec.train), stream=open(os.devnull, "w") if quiet else None)
    recorder = SweepRecorder(
        sweep_dir, param_names, spec.search.metric, mode, scheduler, on_change=lambda r: progress.update(r.records),
        effective=partial(effective_params, spec.search, train=spec.train),
        on_written=mirror.push if mirror is not None else None,
        checkpoints_in=spec.sweep_uri if mirror is not None else None,
    )
    if stored is not None:
        stored.restore(recorder, scheduler)
    started_ray = not ray.is_initialized()
    if started_ray:
        from sweeper.results.remote import storage_env

        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            # Ray Train frees a stopped data-parallel trial's placement group only when its cleaner
            # can ask the State API (served by the dashboard) that the trial's controller is dead;
            # without it the next trial waits for workers forever.
            include_dashboard=spec.resources.workers_per_trial > 1,
            dashboard_host="127.0.0.1",
            log_to_driver=False,
            logging_level=logging.ERROR,
            # On a cluster, trials upload their checkpoints to the object store themselves.
            runtime_env={"env_vars": storage_env()} if address and mirror is not None else None,
        )
    try:
        cpus = ray.cluster_resources().get("CPU", 0)
        gpus = ray.cluster_resources().get("GPU", 0)
        workers = spec.resources.workers_per_trial
        fits = int(cpus // (spec.resources.cpu * workers)) if spec.resources.cpu else 0
        if spec.resources.gpu:
            fits = min(fits, int(gpus // (spec.resources.gpu * workers)))
        if fits < 1:
            per = f" per worker x {workers} workers" if workers > 1 else ""
            raise SweeperError(
                f"resources: a trial asks for {spec.resources.cpu:g} cpu and {spec.resources.gpu:g} gpu{per}, "
                f"but Ray sees {cpus:g} CPUs and {gpus:g} GPUs"
            )
        in_flight = min(fits, spec.search.max_concurrent or fits)
        progress.say(
            f"sweep {spec.name}: {planned_trials(spec.search, spec.train)} trials ({spec.search.algorithm}), "
            f"Ray sees {cpus:g} CPUs / {gpus:g} GPUs -> up to {in_flight} in flight; results in {spec.sweep_uri}"
        )
        flag = stop_flag()
        # Which trial trains which effective settings: a trial repeating another's trains nothing.
        recorder.duplicates = registry(finished_owners(spec, stored.records.values()) if stored is not None else ())
        context = TrialContext(
            spec=spec.model_dump(mode="json"),
            metric=spec.search.metric,
            mode=mode,
            pruner=checked.pruner,
            finished=stored.replays() if stored is not None else {},
            stop_flag=flag,
            duplicates=recorder.duplicates,
        )
        if workers > 1:
            from sweeper.orchestrate.distributed import DRIVER_RESOURCES, distributed_trial

            # The trial only drives its Train workers, whose resources Tune does not see: so
            # in_flight caps the trials, or they would wait for workers and time out.
            trainable = tune.with_resources(tune.with_parameters(distributed_trial, context=context), DRIVER_RESOURCES)
        else:
            trainable = tune.with_resources(
                tune.with_parameters(sweep_trial, context=context),
                {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu},
            )
        signals = StopSignals()
        callbacks = [
            recorder,
            TrackingCallback(sweep_dir, spec.name, param_names, scheduler, spec.tracking),
            GracefulStop(signals, flag, hold=scheduler.hold, say=progress.say),
        ]
        max_concurrent = in_flight if workers > 1 else spec.search.max_concurrent
        if stored is None:
            tuner = tune.Tuner(
                trainable,
                param_space=tune_param_space(spec.search),
                tune_config=tune.TuneConfig(
                    # The searcher has its metric; the scheduler judges curves, not a metric.
                    search_alg=searcher(spec.search, spec.train, max_concurrent),
                    scheduler=scheduler,
                    num_samples=ray_num_samples(spec.search, spec.train),  # a grid: its distinct points
                    # A data-parallel trial's actor must end with its trial: a STOP reaches its Train
                    # run (controller and workers) only by killing the actor that owns it, and a
                    # reused actor stays blocked in the run it drives.
                    reuse_actors=workers == 1,
                    trial_dirname_creator=trial_dirname,
                ),
                run_config=tune.RunConfig(
                    name=spec.name,
                    storage_path=str(spec.storage),
                    callbacks=callbacks,
                    verbose=0,
                    # Ray keeps the latest checkpoint too: so each trial keeps its best and its latest.
                    checkpoint_config=tune.CheckpointConfig(
                        num_to_keep=1, checkpoint_score_attribute=CHECKPOINT_SCORE, checkpoint_score_order=mode
                    ),
                    failure_config=tune.FailureConfig(max_failures=spec.resources.max_retries),
                ),
            )
        else:
            from sweeper.orchestrate.resume import restored_tuner

            tuner = restored_tuner(spec.sweep_uri, trainable, spec, scheduler, callbacks, max_concurrent)
        with signals, progress:
            tuner.fit()
        if any(record.status in ("running", "pending") for record in recorder.records.values()):
            signals.note_sigint()  # Ray was interrupted from outside (its SIGUSR1)
            recorder.mark_interrupted()
        recorder.flush()
        if not signals.exit_code and score_best_on_test(spec, recorder.records, recorder.checkpoints_in):
            recorder.flush()
        plot_sweep(list(recorder.records.values()), sweep_dir / "curves.png", title=f"sweep {spec.name}")
        if mirror is not None:
            mirror.push(tensorboard=True)
    finally:
        if started_ray:
            ray.shutdown()
    rows = recorder.rows()
    steps_run = sum(int(row.get("steps_done") or 0) for row in rows)
    steps_planned = sum(int(row.get("max_steps") or row.get("steps_done") or 0) for row in rows)
    exit_code = signals.exit_code or 0
    if not exit_code and rows and all(row["status"] == "errored" for row in rows):
        exit_code = 1
    return SweepOutcome(
        sweep_dir=spec.sweep_uri if mirror is not None else sweep_dir,
        rows=rows,
        steps_run=steps_run,
        steps_planned=steps_planned,
        param_names=param_names,
        exit_code=exit_code,
    )
