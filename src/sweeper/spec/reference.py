"""The README's sweep YAML reference, generated from the schema so the two cannot drift apart.

`python -m sweeper.spec.reference` prints it, `--write-readme` puts it into README.md; a test
checks the README holds exactly this text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from sweeper.spec.llamafactory import flag_table
from sweeper.spec.schema import (
    ClusterSpec, DatasetSpec, ResourcesSpec, SearchSpec, SweepSpec, TemplateSpec, TrackingSpec, TrainSettings,
)

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("(top level)", SweepSpec),
    ("dataset", DatasetSpec),
    ("dataset.template", TemplateSpec),
    ("train", TrainSettings),
    ("search", SearchSpec),
    ("resources", ResourcesSpec),
    ("tracking", TrackingSpec),
    ("cluster", ClusterSpec),
]
NESTED = {"dataset", "train", "search", "resources", "template", "tracking", "cluster"}


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    if field.default_factory is not None:
        return "see below" if field.default_factory in (TemplateSpec, TrainSettings, SearchSpec, ResourcesSpec, TrackingSpec, ClusterSpec) else "{}"
    value = field.default
    if value is None:
        return "none"
    return f"`{value!r}`".replace("|", "\\|").replace("\n", "\\n") if isinstance(value, str) else f"`{value}`"


def _attribute_docs(cls: type) -> dict[str, str]:
    """The docstrings written under a dataclass's fields (PrunerSettings documents itself so)."""
    import ast
    import inspect
    import textwrap

    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body  # type: ignore[attr-defined]
    docs = {}
    for field_node, doc_node in zip(body, body[1:]):
        if (
            isinstance(field_node, ast.AnnAssign)
            and isinstance(field_node.target, ast.Name)
            and isinstance(doc_node, ast.Expr)
            and isinstance(doc_node.value, ast.Constant)
            and isinstance(doc_node.value.value, str)
        ):
            docs[field_node.target.id] = " ".join(doc_node.value.value.split())
    return docs


def _pruner_reference() -> list[str]:
    from dataclasses import MISSING, fields

    from sweeper.rules import PrunerSettings

    docs = _attribute_docs(PrunerSettings)
    lines = ["#### `pruner`", "", "| key | default | meaning |", "|---|---|---|"]
    for field in fields(PrunerSettings):
        default = "none" if field.default is None else f"`{field.default!r}`" if field.default is not MISSING else "required"
        if field.name == "num_classes":
            default = "the number of labels"
        lines.append(f"| `{field.name}` | {default} | {docs.get(field.name, '')} |")
    return lines + [""]


def reference() -> str:
    lines = []
    for title, model in SECTIONS:
        lines += [f"#### `{title}`", "", "| key | default | meaning |", "|---|---|---|"]
        for name, field in model.model_fields.items():
            if model is SweepSpec and name in NESTED:
                meaning = f"{field.description} See `{name}` below."
            elif model is DatasetSpec and name == "template":
                meaning = f"{field.description} See `dataset.template` below."
            else:
                meaning = field.description or ""
            lines.append(f"| `{name}` | {_default(field)} | {meaning} |")
        lines.append("")
    lines += _pruner_reference()
    lines += flag_table()
    return "\n".join(lines).rstrip() + "\n"


def write_into_readme(readme: str = "README.md") -> None:
    """Replace the block between the README's REFERENCE markers with the generated reference."""
    from pathlib import Path

    path = Path(readme)
    text = path.read_text()
    start = text.index("\n", text.index("<!-- REFERENCE:START")) + 1
    end = text.index("<!-- REFERENCE:END -->")
    path.write_text(text[:start] + "\n" + reference() + "\n" + text[end:])


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write-readme"]:
        write_into_readme()
    else:
        print(reference(), end="")
