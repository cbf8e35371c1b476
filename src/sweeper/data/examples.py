"""Examples from JSONL, JSON arrays or a LLaMA-Factory `dataset_info.json`, checked and counted.

Every mistake in the data is a `SweeperError` that names the file and the line of the record
("data/train.jsonl:17: not valid JSON: ..."). Things that are not errors but change what the
metrics mean (duplicates between train and eval, a label with no examples) are warnings in the
`DataReport`.

LLaMA-Factory datasets (`dataset.dataset_info` + `dataset.dataset_name`) are read in its
`alpaca` formatting. Its `columns` mapping names the record fields:

    prompt    -> the text (default field "instruction")
    query     -> appended to the text after a newline when non-empty, as LLaMA-Factory does
                 (default field "input")
    response  -> the class label (default field "output")
    explanation -> the explanation (sweeper's own key; LLaMA-Factory ignores it). Without it,
                 the spec's `dataset.explanation_field` is used.

With `dataset_info`, `dataset.text_field` and `dataset.label_field` are not used: the
`columns` mapping (or LLaMA-Factory's defaults) decides.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Iterator

from sweeper.errors import SweeperError
from sweeper.spec.schema import DatasetSpec

# LLaMA-Factory's default alpaca column names (src/llamafactory/data/parser.py).
LF_DEFAULT_COLUMNS = {"prompt": "instruction", "query": "input", "response": "output"}
LF_KNOWN_COLUMNS = ("prompt", "query", "response", "system", "history", "explanation")


@dataclass(frozen=True, slots=True)
class Example:
    """One classification example and where it came from (file and 1-based line)."""

    text: str
    label: str
    explanation: str | None
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class DataReport:
    """Counts that say what the trials will see. `truncated`/`dropped` are filled by the encoder."""

    train: int = 0
    eval: int = 0
    eval_source: str = "file"  # "file": an eval file; "split": eval_fraction of train
    train_label_counts: dict[str, int] = field(default_factory=dict)
    eval_label_counts: dict[str, int] = field(default_factory=dict)
    duplicates_between_splits: int = 0  # eval examples whose text also occurs in train
    with_explanation: int = 0  # train + eval examples that carry a non-empty explanation
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


@dataclass(frozen=True)
class _Fields:
    """Which record fields hold the text, the label and the explanation."""

    text: str
    label: str
    explanation: str
    query: str | None = None  # LLaMA-Factory: appended to the text after a newline
    origin: str = ""  # how to name the field's source in messages


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
    labels = list(dataset.labels)
    if dataset.dataset_info is not None:
        train_files, fields = _from_dataset_info(dataset, base_dir)
    else:
        assert dataset.train is not None  # validated by DatasetSpec
        train_files = [(_resolve(dataset.train, base_dir), str(dataset.train))]
        fields = _Fields(dataset.text_field, dataset.label_field, dataset.explanation_field)

    train: list[Example] = []
    for path, shown in train_files:
        train.extend(_read_examples(path, shown, fields, labels, explanations_needed, labels_where))
    if not train:
        raise SweeperError(f"{train_files[0][1]}: no examples")

    report = DataReport()
    if dataset.eval is not None:
        eval_shown = str(dataset.eval)
        evals = list(
            _read_examples(_resolve(dataset.eval, base_dir), eval_shown, fields, labels, explanations_needed, labels_where)
        )
        if not evals:
            raise SweeperError(f"{eval_shown}: no examples")
        report.eval_source = "file"
    else:
        train, evals = split_examples(train, dataset.eval_fraction, dataset.split_seed)
        report.eval_source = "split"

    report.train = len(train)
    report.eval = len(evals)
    report.train_label_counts = _label_counts(train, labels)
    report.eval_label_counts = _label_counts(evals, labels)
    report.with_explanation = sum(1 for ex in train + evals if ex.explanation)
    report.duplicates_between_splits = count_duplicates(train, evals)
    report.warnings.extend(_warnings(report, labels))
    return LoadedData(train=train, eval=evals, report=report)


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


def read_records(path: Path, shown: str | None = None) -> Iterator[tuple[int, Any]]:
    """(1-based line, decoded value) for each record of a JSONL file or a JSON array file.

    A `.jsonl` file is JSONL (one JSON value a line, blank lines skipped); any other file whose
    first non-blank character is `[` is a JSON array, else JSONL.
    """
    shown = shown if shown is not None else str(path)
    text = _read_text(path, shown)
    if Path(path).suffix.lower() != ".jsonl" and text.lstrip().startswith("["):
        yield from _array_records(text, shown)
        return
    decoder = json.JSONDecoder()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value, end = decoder.raw_decode(line.strip())
        except json.JSONDecodeError as error:
            raise SweeperError(f"{shown}:{number}: not valid JSON: {error.msg} (column {error.colno})") from None
        if end != len(line.strip()):
            raise SweeperError(f"{shown}:{number}: not valid JSON: extra data after the record (one record a line)")
        yield number, value


def _array_records(text: str, shown: str) -> Iterator[tuple[int, Any]]:
    """Decode a JSON array item by item, so each record knows its line."""
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    first = True
    while True:
        pos = _skip_ws(text, pos)
        if pos >= len(text):
            raise SweeperError(f"{shown}:{_line_at(text, pos)}: not valid JSON: the array is not closed with ']'")
        if text[pos] == "]":
            rest = text[pos + 1 :].strip()
            if rest:
                raise SweeperError(f"{shown}:{_line_at(text, pos)}: not valid JSON: extra data after the array")
            return
        if not first:
            if text[pos] != ",":
                raise SweeperError(f"{shown}:{_line_at(text, pos)}: not valid JSON: expected ',' or ']' between records")
            pos = _skip_ws(text, pos + 1)
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as error:
            raise SweeperError(f"{shown}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})") from None
        yield _line_at(text, pos), value
        pos = end
        first = False


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _line_at(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _read_text(path: Path, shown: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweeperError(f"{shown}: no such data file") from None
    except IsADirectoryError:
        raise SweeperError(f"{shown}: is a folder, not a data file") from None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise SweeperError(f"{shown}:{line}: not UTF-8 text (byte {error.start}); save the data as UTF-8") from None
    except OSError as error:
        raise SweeperError(f"{shown}: cannot read: {error.strerror}") from None


def _read_examples(
    path: Path, shown: str, fields: _Fields, labels: list[str], explanations_needed: bool, labels_where: str
) -> Iterator[Example]:
    label_set = set(labels)
    for line, record in read_records(path, shown):
        where = f"{shown}:{line}"
        if not isinstance(record, dict):
            raise SweeperError(f"{where}: expected a JSON object with fields, got a {_json_type(record)}")
        text = _string_field(record, fields.text, where, fields.origin)
        if fields.query is not None and record.get(fields.query):
            query = _string_field(record, fields.query, where, fields.origin)
            text = f"{text}\n{query}" if text else query
        label = _label_field(record, fields.label, where, fields.origin)
        if label not in label_set:
            near = get_close_matches(label, labels, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise SweeperError(f"{where}: label {label!r} is not in the label set {labels} ({labels_where}){hint}")
        explanation = _explanation_field(record, fields.explanation, where, explanations_needed)
        yield Example(text=text, label=label, explanation=explanation, file=shown, line=line)


def _string_field(record: dict[str, Any], name: str, where: str, origin: str) -> str:
    if name not in record:
        raise SweeperError(f"{where}: missing field '{name}'{origin} (fields present: {sorted(record)})")
    value = record[name]
    if not isinstance(value, str):
        raise SweeperError(f"{where}: field '{name}' must be a string, got a {_json_type(value)}")
    return value


def _label_field(record: dict[str, Any], name: str, where: str, origin: str) -> str:
    if name not in record:
        raise SweeperError(f"{where}: missing field '{name}'{origin} (fields present: {sorted(record)})")
    value = record[name]
    # Integer class ids are common (0/1/2); they match labels written as "0", "1", "2".
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise SweeperError(f"{where}: field '{name}' (the label) must be a string, got a {_json_type(value)}")
    return str(value).strip()


def _explanation_field(record: dict[str, Any], name: str, where: str, needed: bool) -> str | None:
    value = record.get(name)
    if value is not None and not isinstance(value, str):
        raise SweeperError(f"{where}: field '{name}' (the explanation) must be a string, got a {_json_type(value)}")
    if value is None or not value.strip():
        if needed:
            state = "missing" if name not in record else "empty"
            raise SweeperError(
                f"{where}: explanation field '{name}' is {state}, but the sweep can train with explanations "
                "(include_explanation); give every example an explanation or search include_explanation: false only"
            )
        return None
    return value


def _json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


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


def _from_dataset_info(dataset: DatasetSpec, base_dir: Path | None) -> tuple[list[tuple[Path, str]], _Fields]:
    """The data files and field names of one LLaMA-Factory dataset entry."""
    assert dataset.dataset_info is not None and dataset.dataset_name is not None
    info_path = _resolve(dataset.dataset_info, base_dir)
    shown = str(dataset.dataset_info)
    try:
        info = json.loads(_read_text(info_path, shown))
    except json.JSONDecodeError as error:
        raise SweeperError(f"{shown}:{error.lineno}: not valid JSON: {error.msg} (column {error.colno})") from None
    if not isinstance(info, dict):
        raise SweeperError(f"{shown}: expected a JSON object of datasets, got a {_json_type(info)}")
    name = dataset.dataset_name
    if name not in info:
        near = get_close_matches(name, list(info), n=1)
        hint = f"; did you mean '{near[0]}'?" if near else f"; it has {sorted(info)[:10]}"
        raise SweeperError(f"{shown}: no dataset named '{name}'{hint}")
    entry = info[name]
    where = f"{shown}: dataset '{name}'"
    if not isinstance(entry, dict):
        raise SweeperError(f"{where}: expected an object, got a {_json_type(entry)}")
    for remote in ("hf_hub_url", "ms_hub_url", "om_hub_url", "script_url", "cloud_file_name"):
        if remote in entry and "file_name" not in entry:
            raise SweeperError(f"{where}: '{remote}' datasets are not supported; sweeper reads local files (file_name)")
    formatting = entry.get("formatting", "alpaca")
    if formatting != "alpaca":
        raise SweeperError(f"{where}: formatting '{formatting}' is not supported; sweeper reads alpaca formatting")
    if entry.get("ranking"):
        raise SweeperError(f"{where}: ranking (preference) datasets are not classification data")
    file_name = entry.get("file_name")
    if not isinstance(file_name, str) or not file_name:
        raise SweeperError(f"{where}: needs a 'file_name'")
    columns = entry.get("columns", {})
    if not isinstance(columns, dict):
        raise SweeperError(f"{where}: 'columns' must be an object, got a {_json_type(columns)}")
    unknown = sorted(set(columns) - set(LF_KNOWN_COLUMNS))
    if unknown:
        raise SweeperError(f"{where}: unknown columns {unknown}; known: {list(LF_KNOWN_COLUMNS)}")
    if columns.get("history"):
        raise SweeperError(f"{where}: multi-turn 'history' is not supported for classification")

    # LLaMA-Factory reads file_name relative to its dataset_dir, the folder of dataset_info.json.
    target = info_path.parent / file_name
    shown_dir = Path(shown).parent
    if target.is_dir():
        files = sorted(p for p in target.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file())
        if not files:
            raise SweeperError(f"{where}: folder {shown_dir / file_name} holds no .json or .jsonl files")
        found = [(p, str(shown_dir / file_name / p.name)) for p in files]
    else:
        found = [(target, str(shown_dir / file_name))]
    origin = f" (columns of '{name}' in {shown})"
    fields = _Fields(
        text=columns.get("prompt", LF_DEFAULT_COLUMNS["prompt"]),
        query=columns.get("query", LF_DEFAULT_COLUMNS["query"]),
        label=columns.get("response", LF_DEFAULT_COLUMNS["response"]),
        explanation=columns.get("explanation", dataset.explanation_field),
        origin=origin,
    )
    return found, fields
