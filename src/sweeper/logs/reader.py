"""`read_log(path) -> Curve`: detect the format from the content, never from the file name."""

from __future__ import annotations

import json
import re
from pathlib import Path

from sweeper.errors import SweeperError
from sweeper.logs.console import looks_like_console, read_console
from sweeper.logs.csvlog import looks_like_csv, read_csv
from sweeper.logs.curve import Curve
from sweeper.logs.jsonlogs import parse_jsonl, read_jsonl, read_log_history, read_trainer_state

FORMATS_HELP = (
    "expected an HF trainer_state.json, a LLaMA-Factory trainer_log.jsonl, an ms-swift or Megatron-SWIFT "
    "logging.jsonl, a CSV with step,epoch,loss columns, a console log of printed {'loss': ...} dicts, "
    "or a sweep's curves.parquet"
)
# In a folder, in this order: a sweep's results, then a run's own logs.
_DIR_LOGS = ("trainer_state.json", "trainer_log.jsonl", "logging.jsonl")
_PARQUET_MAGIC = b"PAR1"
_LFS_POINTER = b"version https://git-lfs.github.com/spec/"
# ms-swift writes each run into output/[model/]v<N>-<YYYYMMDD>-<HHMMSS>/
_SWIFT_RUN = re.compile(r"v(\d+)-(\d{8}-\d{6})")
_TRIAL_DIR = re.compile(r"trial_(.+)")  # a sweep's trial folder (orchestrate.sweep.trial_dirname)


def read_log(path: str | Path, trial: str | None = None) -> Curve:
    """Read one run's curve from a log file, a run's output folder, or a sweep's results.

    `trial` picks one trial of a sweep's `curves.parquet` (given as the file or its folder).
    Every problem with the input is a SweeperError with a one-line reason naming the file
    (and the line, for line formats).
    """
    path = Path(path)
    try:
        if path.is_dir():
            return _read_dir(path, trial)
        if not path.exists():
            raise SweeperError(f"{path}: no such file or directory")
        return _read_file(path, trial)
    except SweeperError:
        raise
    except OSError as error:
        raise SweeperError(f"{path}: cannot read: {error.strerror or error}") from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError, MemoryError) as error:
        # Belt and braces: every known bad input is reported above with its line; this keeps any
        # input we did not foresee a one-line error rather than a traceback.
        raise SweeperError(f"{path}: unreadable log ({type(error).__name__}: {error})"[:300]) from None


def _read_dir(path: Path, trial: str | None) -> Curve:
    sweep = path / "curves.parquet"
    if sweep.is_file():
        return _read_file(sweep, trial)
    trial_dir = _TRIAL_DIR.fullmatch(path.resolve().name)
    if trial is None and trial_dir and (path.resolve().parent / "curves.parquet").is_file():
        # Ray's progress.csv in a trial folder holds one row per batch of points; the sweep's
        # curves.parquet holds every point the pruner saw.
        curve = _read_file(path.resolve().parent / "curves.parquet", trial_dir.group(1))
        curve.notes.append(f"a trial folder of a sweep: judged from the sweep's curves.parquet (trial {trial_dir.group(1)})")
        return curve
    if trial is not None:
        raise SweeperError(f"{path}: --trial needs a sweep's results folder (with curves.parquet)")
    for name in _DIR_LOGS:
        candidate = path / name
        if candidate.is_file():
            return _read_file(candidate, None)
    checkpoints = sorted(
        (p for p in path.glob("checkpoint-*/trainer_state.json") if re.fullmatch(r"checkpoint-\d+", p.parent.name)),
        key=lambda p: int(p.parent.name.split("-")[1]),
    )
    if checkpoints:
        return _read_file(checkpoints[-1], None)
    csvs = sorted(path.glob("*.csv"))
    if len(csvs) == 1:
        return _read_file(csvs[0], None)
    runs = _swift_runs(path)
    if runs:
        newest = runs[-1]
        curve = _read_dir(newest, None)
        if len(runs) > 1:
            names = ", ".join(str(r.relative_to(path)) for r in runs)
            curve.notes.append(f"an ms-swift output folder with {len(runs)} runs ({names}): judged the newest, {newest.relative_to(path)}; pass another's folder to judge it")
        return curve
    raise SweeperError(
        f"{path}: no training log found (looked for curves.parquet, {', '.join(_DIR_LOGS)}, "
        "checkpoint-*/trainer_state.json, one *.csv, ms-swift v<N>-* run folders)"
    )


def _swift_runs(path: Path) -> list[Path]:
    """ms-swift run folders (v<N>-<date>-<time>) holding a log, here or one level down (output/<model>/), oldest first."""
    found = []
    for candidate in list(path.glob("v*-*")) + list(path.glob("*/v*-*")):
        match = _SWIFT_RUN.fullmatch(candidate.name)
        if match and candidate.is_dir() and any((candidate / name).is_file() for name in _DIR_LOGS):
            found.append((match.group(2), int(match.group(1)), candidate))
    return [run for _, _, run in sorted(found)]


def _read_file(path: Path, trial: str | None) -> Curve:
    source = str(path)
    data = path.read_bytes()
    if data.startswith(_PARQUET_MAGIC):
        from sweeper.logs.sweep import read_sweep_curves

        return _non_empty(read_sweep_curves(path, trial))
    if trial is not None:
        raise SweeperError(f"{source}: --trial applies only to a sweep's curves.parquet")
    if not data.strip():
        raise SweeperError(f"{source}: empty file")
    if data.startswith(_LFS_POINTER):
        raise SweeperError(f"{source}: a Git LFS pointer, not the log itself ({_lfs_facts(data)}); fetch the file with `git lfs pull`")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise SweeperError(f"{source}: not a text log (invalid UTF-8 at byte {error.start}); {FORMATS_HELP}") from None
    stripped = text.lstrip()
    if not stripped:  # only whitespace, some of it beyond ASCII (U+0085, U+3000, ...)
        raise SweeperError(f"{source}: empty file (only whitespace)")
    if looks_like_console(text):  # `{'loss'`: single quotes, never JSON
        return _non_empty(read_console(text, source))
    if stripped[0] in "{[":
        return _non_empty(_read_json(text, source))
    if looks_like_csv(text):
        return _non_empty(read_csv(text, source))
    raise SweeperError(f"{source}: unknown log format; {FORMATS_HELP}")


def _read_json(text: str, source: str) -> Curve:
    try:
        doc = json.loads(text)
    except RecursionError:
        raise SweeperError(f"{source}: JSON nested too deeply") from None
    except json.JSONDecodeError as error:
        records = None
        if error.msg == "Extra data" or _first_line_is_object(text):
            records = parse_jsonl(text, source)  # JSON lines (raises with the bad line's number)
        if records is None:
            raise SweeperError(
                f"{source}: truncated or invalid JSON at line {error.lineno} column {error.colno} ({error.msg})"
            ) from None
        return read_jsonl(records, source)
    if isinstance(doc, dict):
        if "log_history" in doc and not any(k in doc for k in ("current_steps", "global_step/max_steps")):
            curve = read_trainer_state(doc, source)
            if "global_step" in doc and "memory" in doc:  # ms-swift's summary line on its own
                curve.format = "swift_jsonl"
            return curve
        return read_jsonl([(1, doc)], source)  # a one-line JSON-lines log
    if isinstance(doc, list) and doc and all(isinstance(e, dict) for e in doc):
        return read_log_history(doc, source)
    raise SweeperError(f"{source}: unknown JSON log (no log_history, no step keys); {FORMATS_HELP}")


def _lfs_facts(data: bytes) -> str:
    fields = dict(line.split(" ", 1) for line in data.decode("utf-8", "replace").splitlines() if " " in line)
    oid = "oid " + fields.get("oid", "unknown")[:15]
    size = fields.get("size", "?").strip()
    return f"{oid}..., {size} bytes on the LFS server"


def _first_line_is_object(text: str) -> bool:
    for line in text.splitlines():
        if line.strip():
            try:
                return isinstance(json.loads(line), dict)
            except (ValueError, RecursionError):
                return False
    return False


def _non_empty(curve: Curve) -> Curve:
    if not curve.points:
        raise SweeperError(f"{curve.source}: no logged loss or eval values")
    return curve
