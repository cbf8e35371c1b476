"""Examples from data files or LLaMA-Factory `dataset_info.json` entries, checked and counted.

Every mistake in the data is a `SweeperError` that names the file and the line of the record
("data/train.jsonl:17: not valid JSON: ..."). Things that are not errors but change what the
metrics mean (duplicates between train and eval, a label with no examples) are warnings in the
`DataReport`.

Files: JSONL, JSON arrays, CSV, Parquet, or a folder of them (sweeper.data.records). Record
layouts: sweeper's fields, LF alpaca / sharegpt, OpenAI `messages`, ms-swift query/response
(sweeper.data.formats). A target that holds label and explanation together is split by
sweeper.data.targets.

LLaMA-Factory datasets (`dataset.dataset_info` + `dataset.dataset_name`, which may be a
comma-separated list as LF's `dataset: a,b`) are read as LF reads them: `formatting`,
`columns`, `tags`, `file_name` relative to the folder of dataset_info.json, `num_samples`
(a seeded sample, repeated when larger than the data). `columns: {explanation: ...}` is
sweeper's own key (LF ignores it); without it the explanation is read from the target.
`dataset.max_samples` keeps the first N records of each dataset, as LF's `max_samples` does.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Iterator

from sweeper.data.formats import ALPACA_COLUMNS, SHAREGPT_COLUMNS, SHAREGPT_TAGS, Layout, Raw, detect, layout
from sweeper.data.records import data_files, json_type, read_records
from sweeper.data.targets import TargetReader
from sweeper.errors import SweeperError
from sweeper.spec.schema import DatasetSpec
from sweeper.text_files import read_user_text

LF_KNOWN_COLUMNS = ("prompt", "query", "response", "system", "history", "messages", "tools", "explanation")
LF_REMOTE = ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name")


@dataclass(frozen=True, slots=True)
class Example:
    """One classification example and where it came from (file and 1-based line)."""

    text: str
    label: str
    explanation: str | None
    file: str
    line: int
    system: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class DataReport:
    """Counts that say what the trials will see. `truncated`/`dropped` are filled by the encoder."""

    train: int = 0
    eval: int = 0
    eval_source: str = "file"  # "file": an eval file or dataset; "split": eval_fraction of train
    test: int = 0  # held-out test examples (never seen by the pruner or the searcher)
    train_label_counts: dict[str, int] = field(default_factory=dict)
    eval_label_counts: dict[str, int] = field(default_factory=dict)
    duplicates_between_splits: int = 0  # eval examples whose text also occurs in train
    with_explanation: int = 0  # train + eval examples that carry a non-empty explanation
    combined_targets: int = 0  # train + eval examples whose explanation was read from the target
    truncated: int = 0
    dropped: int = 0
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadedData:
    train: list[Example]
    eval: list[Example]
    report: DataReport
    test: list[Example] = field(default_factory=list)


@dataclass(frozen=True)
class _Source:
    """One dataset: its files, how to read them (None: detect per file), LF's num_samples."""

    files: list[tuple[Path, str]]
    layout: Layout | None = None
    num_samples: int | None = None


def load_examples(
    dataset: DatasetSpec,
    *,
    explanations_needed: bool = False,
    base_dir: Path | None = None,
    labels_where: str = "dataset.labels",
) -> LoadedData:
    """Read, check and split the examples a spec names.

    `explanations_needed`: the search space can include explanations (a trial may train on
    them), so every example must carry a non-empty one. `base_dir`: relative paths are read
    from there (default: the current folder); messages name paths as the spec wrote them.
    `labels_where`: where the label set was written, for the message of a label outside it.
    """
    reader = _Reader(dataset, explanations_needed, labels_where)
    if dataset.dataset_info is not None:
        assert dataset.dataset_name is not None  # validated by DatasetSpec
        train = reader.read(_from_dataset_info(dataset, dataset.dataset_name, base_dir))
    else:
        assert dataset.train is not None  # validated by DatasetSpec
        train = reader.read(_file_sources(dataset.train, base_dir))

    report = DataReport()
    if dataset.eval is not None or dataset.eval_dataset_name is not None:
        if dataset.eval_dataset_name is not None:
            evals = reader.read(_from_dataset_info(dataset, dataset.eval_dataset_name, base_dir))
        else:
            evals = reader.read(_file_sources(dataset.eval, base_dir))
        report.eval_source = "file"
    else:
        train, evals = split_examples(train, dataset.eval_fraction, dataset.split_seed)
        report.eval_source = "split"
    test: list[Example] = []
    if dataset.test is not None:
        test = reader.read(_file_sources(dataset.test, base_dir))
    elif dataset.test_fraction is not None:
        train, test = _hold_out(train, dataset.test_fraction, dataset.split_seed + 1, "test")

    labels = list(dataset.labels)
    report.train = len(train)
    report.eval = len(evals)
    report.test = len(test)
    report.train_label_counts = _label_counts(train, labels)
    report.eval_label_counts = _label_counts(evals, labels)
    report.with_explanation = sum(1 for ex in train + evals if ex.explanation)
    report.combined_targets = reader.combined
    report.duplicates_between_splits = count_duplicates(train, evals)
    report.warnings.extend(_warnings(report, labels))
    return LoadedData(train=train, eval=evals, report=report, test=test)


def split_examples(examples: list[Example], eval_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Hold out `eval_fraction` of the examples (at least one, leaving at least one), seeded.

    Both parts keep the file order, so the split does not depend on anything but the seed.
    """
    if len(examples) < 2:
        where = examples[0].file if examples else "the dataset"
        raise SweeperError(f"{where}: needs at least 2 examples to hold some out for evaluation; add an eval file")
    n_eval = min(len(examples) - 1, max(1, round(len(examples) * eval_fraction)))
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    held_out = set(order[:n_eval])
    train = [ex for i, ex in enumerate(examples) if i not in held_out]
    evals = [ex for i, ex in enumerate(examples) if i in held_out]
    return train, evals


def count_duplicates(train: list[Example], evals: list[Example]) -> int:
    """Eval examples whose text (whitespace-normalised) also occurs in train."""
    seen = {_norm(ex.text) for ex in train}
    return sum(1 for ex in evals if _norm(ex.text) in seen)


class _Reader:
    """Reads sources into examples: layout, target split, explanation and label checks."""

    def __init__(self, dataset: DatasetSpec, explanations_needed: bool, labels_where: str) -> None:
        self.dataset = dataset
        self.explanations_needed = explanations_needed
        self.labels_where = labels_where
        self.targets = TargetReader(dataset.labels, dataset.template, dataset.target_pattern)
        self.combined = 0  # examples whose explanation came out of the target

    def read(self, sources: list[_Source]) -> list[Example]:
        out: list[Example] = []
        for source in sources:
            examples: list[Example] = []
            for path, shown in source.files:
                examples.extend(self._file(path, shown, source.layout))
            if not examples:
                raise SweeperError(f"{source.files[0][1]}: no examples")
            if self.dataset.max_samples is not None:
                examples = examples[: self.dataset.max_samples]
            if source.num_samples is not None:
                examples = _sample(examples, source.num_samples, self.dataset.split_seed)
            out.extend(examples)
        return out

    def raws(self, path: Path, shown: str, fixed: Layout | None) -> Iterator[tuple[Raw, dict[str, Any], int]]:
        """(what the record says, the record, its line) for each record of one file."""
        dataset = self.dataset
        read = None
        for line, record in read_records(path, shown):
            where = f"{shown}:{line}"
            if not isinstance(record, dict):
                raise SweeperError(f"{where}: expected a JSON object with fields, got a {json_type(record)}")
            if read is None:
                chosen = fixed or layout(
                    dataset.format if dataset.format != "auto" else detect(record, dataset.text_field, dataset.label_field),
                    text_field=dataset.text_field,
                    label_field=dataset.label_field,
                    explanation_field=dataset.explanation_field,
                )
                read = chosen.reader()
            yield read(record, where), record, line

    def _file(self, path: Path, shown: str, fixed: Layout | None) -> list[Example]:
        out: list[Example] = []
        for raw, record, line in self.raws(path, shown, fixed):
            where = f"{shown}:{line}"
            if raw.explanation is not None:
                label, explanation = raw.target, raw.explanation
                self.targets.check_label(label, None, where, self.labels_where)
            else:
                target = self.targets.read(raw.target, where, self.labels_where)
                label, explanation = target.label, target.explanation
                self.combined += explanation is not None
            if explanation is None and self.explanations_needed:
                name = (fixed.columns.get("explanation") if fixed else None) or self.dataset.explanation_field
                state = "empty" if record.get(name) is not None else "missing"
                raise SweeperError(
                    f"{where}: explanation field '{name}' is {state} and the target {raw.target[:40]!r} holds none, "
                    "but the sweep can train with explanations (include_explanation); give every example an "
                    "explanation or search include_explanation: false only"
                )
            out.append(Example(raw.text, label, explanation, shown, line, raw.system))
        return out


def raw_targets(dataset: DatasetSpec, base_dir: Path | None = None) -> list[str]:
    """Every training target as stored (before the split into label and explanation): what
    `sweeper init` reads a label set from."""
    reader = _Reader(dataset, False, "dataset.labels")
    if dataset.dataset_info is not None:
        assert dataset.dataset_name is not None
        sources = _from_dataset_info(dataset, dataset.dataset_name, base_dir)
    else:
        sources = _file_sources(dataset.train, base_dir)
    return [raw.target for source in sources for path, shown in source.files for raw, _, _ in reader.raws(path, shown, source.layout)]


def _sample(examples: list[Example], n: int, seed: int) -> list[Example]:
    """LF's num_samples: a seeded sample; larger than the data: every example, then a sample again."""
    rng = random.Random(seed)
    out: list[Example] = []
    while len(out) + len(examples) <= n:
        out.extend(examples)
    return out + rng.sample(examples, n - len(out))


def _hold_out(examples: list[Example], fraction: float, seed: int, what: str) -> tuple[list[Example], list[Example]]:
    if len(examples) < 3:
        raise SweeperError(f"{examples[0].file if examples else 'the dataset'}: too few examples to hold out a {what} split")
    return split_examples(examples, fraction, seed)

def _label_counts(examples: list[Example], labels: list[str]) -> dict[str, int]:
    counts = {label: 0 for label in labels}
    for ex in examples:
        counts[ex.label] += 1
    return counts


def _warnings(report: DataReport, labels: list[str]) -> list[str]:
    out = []
    if report.duplicates_between_splits:
        out.append(
            f"{report.duplicates_between_splits} of {report.eval} eval examples also occur in train (same text): "
            "eval metrics overstate generalisation"
        )
    empty = [label for label in labels if report.train_label_counts.get(label, 0) == 0]
    if empty:
        out.append(f"labels {empty} have no training examples")
    missing_eval = [label for label in labels if report.eval_label_counts.get(label, 0) == 0]
    if missing_eval:
        out.append(f"labels {missing_eval} have no eval examples: eval metrics cannot judge them")
    return out


def _norm(text: str) -> str:
    return " ".join(text.split())


def _resolve(path: Path, base_dir: Path | None) -> Path:
    path = Path(path).expanduser()
    if base_dir is not None and not path.is_absolute():
        return Path(base_dir) / path
    return path


def _file_sources(path: Path | None, base_dir: Path | None) -> list[_Source]:
    assert path is not None
    return [_Source(data_files(_resolve(path, base_dir), str(path)))]


def _from_dataset_info(dataset: DatasetSpec, names: str, base_dir: Path | None) -> list[_Source]:
    """The datasets `names` (comma-separated, as LF's `dataset: a,b`) of a LLaMA-Factory dataset_info.json."""
    assert dataset.dataset_info is not None
    info_path = _resolve(dataset.dataset_info, base_dir)
    shown = str(dataset.dataset_info)
    try:
        info = json.loads(read_user_text(info_path, shown, "data"))
    except json.JSONDecodeError as error:
        raise SweeperError(f"{shown}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(info, dict):
        raise SweeperError(f"{shown}: expected a JSON object of datasets, got a {json_type(info)}")
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    return [_entry_source(info, name, info_path, shown, dataset.explanation_field) for name in wanted]


def _entry_source(info: dict[str, Any], name: str, info_path: Path, shown: str, explanation: str) -> _Source:
    if name not in info:
        near = get_close_matches(name, list(info), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else f"; it has {sorted(info)[:10]}"
        raise SweeperError(f"{shown}: no dataset named '{name}'{hint}")
    entry = info[name]
    where = f"{shown}: dataset '{name}'"
    if not isinstance(entry, dict):
        raise SweeperError(f"{where}: expected an object, got a {json_type(entry)}")
    for remote in LF_REMOTE:
        if remote in entry and "file_name" not in entry:
            raise SweeperError(f"{where}: '{remote}' datasets are not supported; sweeper reads local files (file_name)")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in ("alpaca", "sharegpt"):
        raise SweeperError(f"{where}: formatting '{formatting}' is not supported; LLaMA-Factory has alpaca and sharegpt")
    if entry.get("ranking"):
        raise SweeperError(f"{where}: ranking (preference) datasets are not classification data")
    file_name = entry.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise SweeperError(f"{where}: needs a 'file_name'")
    columns = entry.get("columns", {})
    if not isinstance(columns, dict):
        raise SweeperError(f"{where}: 'columns' must be an object, got a {json_type(columns)}")
    unknown = sorted(set(columns) - set(LF_KNOWN_COLUMNS))
    if unknown:
        raise SweeperError(f"{where}: unknown columns {unknown}; known: {list(LF_KNOWN_COLUMNS)}")
    tags = entry.get("tags", {})
    if not isinstance(tags, dict) or set(tags) - set(SHAREGPT_TAGS):
        raise SweeperError(f"{where}: 'tags' must be an object with keys from {list(SHAREGPT_TAGS)}; got {tags!r}")
    num_samples = entry.get("num_samples")
    if num_samples is not None and (isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1):
        raise SweeperError(f"{where}: 'num_samples' must be a positive whole number, got {num_samples!r}")
    origin = f" (columns of '{name}' in {shown})"
    if formatting == "alpaca":
        chosen = Layout("alpaca", {**ALPACA_COLUMNS, "explanation": explanation, **columns}, origin=origin)
    else:
        chosen = Layout("sharegpt", {**SHAREGPT_COLUMNS, **columns}, {**SHAREGPT_TAGS, **tags}, origin=origin)
    # LLaMA-Factory reads file_name relative to its dataset_dir, the folder of dataset_info.json.
    files = data_files(info_path.parent / file_name, str(Path(shown).parent / file_name))
    return _Source(files, chosen, num_samples)
