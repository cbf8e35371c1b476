"""Read a sweep spec from YAML, apply `--set` overrides, and turn every mistake into one line
that names the file, the line and the key."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Iterable, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from sweeper.errors import SweeperError
from sweeper.spec.schema import SweepSpec
from sweeper.text_files import read_user_text


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-4` as a float (YAML 1.1 wants `1.0e-4`), and reports a
    value it cannot build (a date like 2020-13-45, `!!float abc`) at its line, as YAML errors are."""

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as error:  # `!!bool maybe`: KeyError
            shown = repr(node.value) if isinstance(node, yaml.ScalarNode) else f"this {node.id}"
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            kind = str(node.tag).rsplit(":", 1)[-1]  # tag:yaml.org,2002:timestamp -> timestamp
            reason = "" if isinstance(error, KeyError) else f" ({error})"
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown} as a {kind}{reason}; quote it to keep it as text", node.start_mark
            ) from None


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
        |\.[0-9_]+(?:[eE][-+][0-9]+)?
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)

Path_ = tuple[Any, ...]


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Path_, int]]:
    """The YAML document and the 1-based line of every key and item, by path."""
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = error.problem or error.context or "invalid YAML"
        if error.context and error.context_mark and error.problem:
            problem += f" ({error.context} at line {error.context_mark.line + 1})"
        if "'\\t'" in problem:
            problem += "; indent with spaces: YAML does not allow tabs there"
        raise SweeperError(f"{where}: YAML syntax error: {problem}") from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        column = error.position - (text.rfind("\n", 0, error.position) + 1) + 1
        raise SweeperError(
            f"{source}:{line}:{column}: YAML error: unacceptable character #x{error.character:04x} "
            "(YAML allows no control characters)"
        ) from None
    except yaml.YAMLError as error:
        raise SweeperError(f"{source}: YAML error: {error}") from None
    except RecursionError:
        raise SweeperError(f"{source}: YAML nested too deeply") from None
    lines: dict[Path_, int] = {}
    if node is not None:
        _index_lines(node, (), lines)
    return data, lines


def _index_lines(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), lines)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _index_lines(item, path + (index,), lines)


def parse_override(text: str) -> tuple[list[str], Any]:
    """`train.learning_rate=1e-4` -> (["train", "learning_rate"], 0.0001)."""
    if "=" not in text:
        raise SweeperError(f"--set {text}: expected KEY.PATH=VALUE, e.g. --set train.learning_rate=1e-4")
    key, raw = text.split("=", 1)
    parts = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise SweeperError(f"--set {text}: the key path {key!r} is empty or has an empty part")
    try:
        value = yaml.load(raw, Loader=_Loader) if raw.strip() else ""
    except (yaml.YAMLError, RecursionError) as error:
        problem = getattr(error, "problem", None)
        because = f" ({problem})" if problem else ""
        raise SweeperError(f"--set {text}: the value {raw!r} is not valid YAML{because}") from None
    return parts, value


def apply_override(data: dict[str, Any], parts: list[str], value: Any, text: str) -> None:
    target = data
    for depth, part in enumerate(parts[:-1]):
        child = target.get(part)
        if child is None:
            child = target[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parts[: depth + 1])
            raise SweeperError(f"--set {text}: {where} is a {type(child).__name__}, not a section")
        target = child
    target[parts[-1]] = value


def load_spec(path: str | Path, overrides: Iterable[str] = ()) -> SweepSpec:
    """Load and validate a spec; raise SweeperError naming file, line and key on any mistake."""
    path = Path(path)
    source = str(path)
    text = read_user_text(path, source, "spec")
    data, lines = parse_yaml(text, source)
    if data is None:
        raise SweeperError(f"{source}: the spec is empty")
    if not isinstance(data, dict):
        raise SweeperError(f"{source}:1: the spec must be a mapping of keys (name, model, dataset, ...), got a {type(data).__name__}")
    _check_key_types(data, lines, source)
    overridden: dict[Path_, str] = {}
    for text_override in overrides:
        parts, value = parse_override(text_override)
        apply_override(data, parts, value, text_override)
        overridden[tuple(parts)] = text_override
    return validate_spec(data, source, lines, overridden)


def _check_key_types(data: Any, lines: dict[Path_, int], source: str, path: Path_ = ()) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(key, str):
                line = lines.get(path + (key,), lines.get(path, 1))
                raise SweeperError(f"{source}:{line}: key {key!r} must be a string")
            _check_key_types(value, lines, source, path + (key,))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            _check_key_types(item, lines, source, path + (index,))


@dataclass(frozen=True)
class SpecOrigin:
    """Where a spec came from: its file, the line of every key, and the `--set` overrides."""

    source: str
    lines: dict[Path_, int] = field(default_factory=dict)
    overridden: dict[Path_, str] = field(default_factory=dict)

    def locate(self, loc: Path_) -> str:
        """"sweeps/x.yaml:7: dataset.train", or "--set dataset.train=...: dataset.train" when an
        override gave that key (or a section around it, or a key inside it)."""
        key = _dotted(loc)
        for path, text in self.overridden.items():
            if loc and (loc[: len(path)] == path or path[: len(loc)] == loc):
                return f"--set {text}: {key}" if key else f"--set {text}"
        line = _line_of(loc, self.lines)
        where = f"{self.source}:{line}" if line else self.source
        return f"{where}: {key}" if key else where


def validate_spec(
    data: dict[str, Any],
    source: str = "<spec>",
    lines: dict[Path_, int] | None = None,
    overridden: dict[Path_, str] | None = None,
) -> SweepSpec:
    origin = SpecOrigin(source, lines or {}, overridden or {})
    try:
        spec = SweepSpec.model_validate(data)
    except ValidationError as error:
        raise SweeperError(_describe(error, origin)) from None
    if lines is not None or overridden:  # read from a file: later checks can name its lines
        spec._origin = origin
    return spec


def _describe(error: ValidationError, origin: SpecOrigin) -> str:
    errors = error.errors()
    first = errors[0]
    loc = tuple(first["loc"])
    if first["type"] == "missing":
        misspelt = _misspelling_of(loc, errors)
        if misspelt is not None:
            return f"{origin.locate(misspelt)}: unknown key '{misspelt[-1]}'; did you mean '{loc[-1]}'? ({_dotted(loc)} is required but missing)"
    explained = _explain(first, loc)
    if first["type"] == "value_error":
        # A model-level check whose message starts with the key it is about: point at that
        # key's line. Either a key of the model ("grace_steps must be >= 0, got -1.") or a
        # dotted path from the spec's root followed by ": " ("search.space.lora_rank: ...").
        named = explained.split(" ", 1)[0]
        head, colon, rest = explained.partition(": ")
        path = tuple(head.split(".")) if colon and rest and re.fullmatch(r"[A-Za-z_][\w.]*", head) else ()
        if path and path[: len(loc)] == loc:
            loc, explained = path, rest
        elif loc + (named,) in origin.lines:
            loc = loc + (named,)
    return f"{origin.locate(loc)}: {explained}"


def _misspelling_of(missing: Path_, errors: list[Any]) -> Path_ | None:
    """The unknown key beside a missing required one that looks like a misspelling of it (`nmae:` for `name:`)."""
    for other in errors:
        loc = tuple(other["loc"])
        if other["type"] in ("extra_forbidden", "unexpected_keyword_argument") and loc[:-1] == missing[:-1]:
            if get_close_matches(str(loc[-1]), [str(missing[-1])], n=1, cutoff=0.6):
                return loc
    return None


def _dotted(loc: Path_) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after[_ranges(), Dimension]",):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


def _line_of(loc: Path_, lines: dict[Path_, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None


def _explain(error: dict[str, Any], loc: Path_) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        valid = _fields_at(loc[:-1])
        near = get_close_matches(str(loc[-1]), valid, n=1) if valid else []
        hint = f"; did you mean '{near[0]}'?" if near else (f"; valid keys: {', '.join(valid)}" if valid else "")
        return f"unknown key '{loc[-1]}'{hint}"
    if kind == "missing":
        return "is required but missing"
    message = error["msg"]
    message = message.removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return message
    return f"{message}; got {value!r}"


def _fields_at(loc: Path_) -> list[str]:
    """The valid keys of the model found by walking `loc` from SweepSpec."""
    model: Any = SweepSpec
    dict_key = False  # the part is a key of a dict field (search.space.<name>), not a field
    for part in loc:
        if dict_key or isinstance(part, int):
            dict_key = False
            continue
        field = _model_fields(model).get(part) if isinstance(part, str) else None
        if field is None:
            return []
        dict_key = get_origin(field.annotation) is dict
        model = _model_of(field.annotation)
    return list(_model_fields(model))


def _model_fields(model: Any) -> dict[str, Any]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return model.model_fields
    return getattr(model, "__pydantic_fields__", {})


def _model_of(annotation: Any) -> Any:
    from typing import get_args

    if _model_fields(annotation):
        return annotation
    for arg in get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None
