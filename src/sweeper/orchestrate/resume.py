"""`sweeper resume DIR`: a stopped sweep continues where it stopped.

Ray restores its trials (statuses, checkpoints) and the searcher (TPE and every trial it was told)
from its snapshot in DIR. It does not restore what sweeper keeps, which comes from the sweep's own
files: the curves (curves.parquet), the finished trials and their final results (ledger.jsonl,
written the moment each finished) and the scheduler's judgement of every trial (Ray restores no
scheduler). Ray's snapshot can be a second behind the ledger: a finished trial it queues again
replays its stored result and ends at once, so nothing trains twice and the searcher is told once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from sweeper.errors import SweeperError
from sweeper.orchestrate.ledger import Ledger
from sweeper.results.leaderboard import TrialRecord
from sweeper.results.store import SweepLock, is_sweep_dir
from sweeper.rules.point import POINT_FIELDS, Point
from sweeper.spec import SweepSpec, load_spec
from sweeper.spec.loader import parse_override
from sweeper.uri import is_uri

# What `resume --set` may change: none of it changes what a finished trial means.
RESUMABLE_KEYS = ("search.num_samples", "resources.max_retries", "cluster.address")
RAY_SNAPSHOT = "tuner.pkl"  # Ray's run configuration, written when the sweep's Tuner was made


@dataclass
class StoredSweep:
    """What an earlier run of a sweep recorded: every trial's record, and which are final."""

    records: dict[str, TrialRecord]
    finished: list[str]  # ledger order: the order trials finished

    @classmethod
    def load(cls, sweep_dir: Path, param_names: list[str]) -> "StoredSweep":
        ledger = Ledger(sweep_dir).load()
        records = _curve_records(Path(sweep_dir) / "curves.parquet", param_names)
        for record in records.values():
            record.status = "interrupted"  # until it reports again
        records.update(ledger)
        return cls(records, list(ledger))

    def restore(self, recorder: Any, scheduler: Any) -> None:
        recorder.restore(self.records, set(self.finished))
        for trial_id in self.finished:
            record = self.records[trial_id]
            scheduler.restore_trial(trial_id, _points(record), record.facts, record.status)
        for trial_id, record in self.records.items():
            if trial_id not in self.finished:
                scheduler.restore_trial(trial_id, _points(record), record.facts, record.status)

    def replays(self) -> dict[str, tuple[float | None, str]]:
        """trial_id -> (objective, error) of each finished trial, for the trainable to replay."""
        replays = {}
        for trial_id in self.finished:
            record = self.records[trial_id]
            replays[trial_id] = (record.objective, record.error if record.status == "errored" else "")
        return replays


def resume_spec(sweep_dir: Path, overrides: Iterable[str], storage: str | None = None) -> SweepSpec:
    """The spec stored in the sweep folder, with the `--set` changes a resume allows. `storage`:
    where the sweep folder is when `sweep_dir` is a local mirror of one on object storage."""
    sweep_dir = Path(sweep_dir)
    if not is_sweep_dir(sweep_dir) or not (sweep_dir / "spec.yaml").is_file():
        raise SweeperError(f"{sweep_dir}: not a sweep folder (no spec.yaml written by `sweeper run`)")
    overrides = list(overrides)
    for text in overrides:
        key = ".".join(parse_override(text)[0])
        if key not in RESUMABLE_KEYS:
            raise SweeperError(
                f"--set {text}: a resumed sweep keeps what its finished trials mean; only "
                f"{' and '.join(RESUMABLE_KEYS)} may change (for the rest, start a new sweep: "
                "sweeper run SPEC --set name=...)"
            )
    spec = load_spec(sweep_dir / "spec.yaml", overrides)
    # The folder may have moved since (another mount, a copy): its place is where it is now.
    storage = storage if storage is not None else str(sweep_dir.resolve().parent)
    return spec.model_copy(update={"storage": storage, "name": sweep_dir.name})


def check_extension(spec: SweepSpec, stored: StoredSweep, overrides: Iterable[str]) -> None:
    if not any(".".join(parse_override(text)[0]) == "search.num_samples" for text in overrides):
        return
    if spec.search.algorithm != "optuna-tpe":
        raise SweeperError(
            f"--set search.num_samples: a {spec.search.algorithm} sweep drew its configurations when it "
            "started; extending one needs algorithm optuna-tpe (or a new sweep: sweeper run SPEC --set name=...)"
        )
    if spec.search.num_samples < len(stored.records):
        raise SweeperError(
            f"--set search.num_samples={spec.search.num_samples}: the sweep already has "
            f"{len(stored.records)} trials"
        )


def resume_sweep(
    sweep_dir: Path,
    overrides: Iterable[str] = (),
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    quiet: bool = False,
) -> Any:
    """Continue the sweep in `sweep_dir` (a path, or a URI on object storage); returns its SweepOutcome."""
    overrides = list(overrides)
    options = {"address": address, "num_cpus": num_cpus, "quiet": quiet}
    if is_uri(str(sweep_dir)):
        return _resume_on_object_storage(str(sweep_dir).rstrip("/"), overrides, **options)
    sweep_dir = Path(sweep_dir).resolve()
    spec = resume_spec(sweep_dir, overrides)
    with SweepLock(sweep_dir):
        return _continue(spec, sweep_dir, overrides, has_snapshot=(sweep_dir / RAY_SNAPSHOT).is_file(), **options)


def _resume_on_object_storage(uri: str, overrides: list[str], **options: Any) -> Any:
    import tempfile

    from sweeper.results.remote import MirroredSweep, RemoteLock

    with tempfile.TemporaryDirectory(prefix="sweeper-mirror-") as work:
        mirror = MirroredSweep(uri, Path(work) / uri.rsplit("/", 1)[-1])
        if not mirror.is_sweep():
            raise SweeperError(f"{uri}: not a sweep folder (no spec.yaml written by `sweeper run`)")
        with RemoteLock(mirror.remote) as lock:
            mirror.lock = lock
            mirror.pull()
            spec = resume_spec(mirror.local, overrides, storage=uri.rsplit("/", 1)[0])
            has_snapshot = mirror.remote.exists(RAY_SNAPSHOT)
            return _continue(spec, mirror.local, overrides, has_snapshot=has_snapshot, mirror=mirror, **options)


def _continue(
    spec: SweepSpec, sweep_dir: Path, overrides: list[str], *, has_snapshot: bool, mirror: Any = None,
    address: str | None, num_cpus: int | None, quiet: bool,
) -> Any:
    from sweeper.orchestrate.preflight import preflight
    from sweeper.orchestrate.sweep import check_reachable, cluster_address, execute

    address = cluster_address(spec, address)
    checked = preflight(spec, local_devices=address is None)
    if address is not None:
        check_reachable(address)
    stored = StoredSweep.load(sweep_dir, list(spec.search.space))
    check_extension(spec, stored, overrides)
    if not has_snapshot:
        stored = None  # stopped before Ray made its run: nothing ran, so it starts afresh
    options = {"address": address, "num_cpus": num_cpus, "quiet": quiet, "stored": stored, "mirror": mirror}
    return execute(spec, checked, sweep_dir, **options)


def restored_tuner(
    sweep_dir: str, trainable: Any, spec: SweepSpec, scheduler: Any, callbacks: list[Any], max_concurrent: int | None
) -> Any:
    """Ray's Tuner for the sweep in `sweep_dir` (a path or a URI), restored from its snapshot, with sweeper's live parts.

    Ray restores the run's configuration as it was pickled before the first fit(): the scheduler
    and callbacks in it know nothing of what happened since. They are replaced by the ones rebuilt
    from the sweep's files (Ray offers no public way to pass them to a restore), and so are the
    settings `resume --set` may change.
    """
    from ray import tune

    from sweeper.adapters.ray_search import with_sample_limit

    tuner = tune.Tuner.restore(str(sweep_dir), trainable, resume_unfinished=True, resume_errored=False)
    internal = tuner._local_tuner
    internal._run_config.callbacks = callbacks
    internal._run_config.failure_config = tune.FailureConfig(max_failures=spec.resources.max_retries)
    internal._tune_config.scheduler = scheduler
    internal._tune_config.max_concurrent_trials = None  # the searcher holds the cap (space.searcher)
    searcher = internal._tune_config.search_alg
    if spec.search.algorithm == "optuna-tpe":
        if isinstance(searcher, tune.search.ConcurrencyLimiter):
            if max_concurrent:
                searcher.max_concurrent = max_concurrent  # this run's cluster may differ from the last's
        elif max_concurrent:
            searcher = tune.search.ConcurrencyLimiter(searcher, max_concurrent=max_concurrent)
        internal._tune_config.search_alg = with_sample_limit(searcher, spec.search.num_samples)
    return tuner


def _curve_records(path: Path, param_names: list[str]) -> dict[str, TrialRecord]:
    """The trials of curves.parquet with their points (what the recorder last wrote)."""
    if not path.is_file():
        return {}
    import pyarrow.parquet as pq

    records: dict[str, TrialRecord] = {}
    for row in pq.read_table(path).to_pylist():
        trial_id = str(row["trial_id"])
        record = records.get(trial_id)
        if record is None:
            params = {name: row.get(f"param_{name}") for name in param_names}
            record = records[trial_id] = TrialRecord(trial_id=trial_id, params=params, status=row.get("status") or "")
        record.points.append({name: row[name] for name in POINT_FIELDS if row.get(name) is not None})
    for record in records.values():
        record.points.sort(key=lambda point: point["step"])
    return records


def _points(record: TrialRecord) -> list[Point]:
    return [Point.from_mapping(point) for point in record.points]
