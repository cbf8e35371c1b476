"""Records from data files: JSONL, JSON arrays, CSV, Parquet, or a folder of them (as LLaMA-Factory reads).

Each record comes with the 1-based line it starts on (JSON, JSONL, CSV) or its 1-based row
(Parquet), so every message can name `file:line`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterator

from sweeper.errors import SweeperError
from sweeper.text_files import read_user_text

SUFFIXES = (".json", ".jsonl", ".csv", ".parquet")


def data_files(path: Path, shown: str) -> list[tuple[Path, str]]:
    """The data files behind `path`: the file itself, or a folder's files with a known suffix."""
    if not path.is_dir():
        return [(path, shown)]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not files:
        raise SweeperError(f"{shown}: folder holds no {', '.join(SUFFIXES)} files")
    return [(p, str(Path(shown) / p.name)) for p in files]


def read_records(path: Path, shown: str | None = None) -> Iterator[tuple[int, Any]]:
    """(1-based line or row, decoded value) for each record of a data file.

    `.csv` and `.parquet` by suffix; a `.jsonl` file is JSONL (one JSON value a line, blank lines
    skipped); any other file whose first non-blank character is `[` is a JSON array, else JSONL.
    """
    shown = shown if shown is not None else str(path)
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_records(Path(path), shown)
        return
    text = read_user_text(Path(path), shown, "data")
    if suffix == ".csv":
        yield from _csv_records(text, shown)
        return
    if suffix != ".jsonl" and text.lstrip().startswith("["):
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


def _csv_records(text: str, shown: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    start = 2  # line 1 is the header
    try:
        for row in reader:
            if None in row:
                raise SweeperError(f"{shown}:{start}: more cells than the header's {len(reader.fieldnames or [])} columns")
            yield start, {key: value for key, value in row.items()}
            start = reader.line_num + 1
    except csv.Error as error:
        raise SweeperError(f"{shown}:{reader.line_num}: not valid CSV: {error}") from None


def _parquet_records(path: Path, shown: str) -> Iterator[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    if not path.exists():
        raise SweeperError(f"{shown}: no such data file")
    try:
        rows = pq.read_table(path).to_pylist()
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise SweeperError(f"{shown}: not a readable Parquet file: {' '.join(str(error).split())[:200]}") from None
    for number, row in enumerate(rows, start=1):
        yield number, row


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


def json_type(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )
