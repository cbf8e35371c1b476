"""The README's sweep YAML reference, generated from the schema so the two cannot drift apart.

`python -m sweeper.spec.reference` prints it; a test checks the README holds exactly this text.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from sweeper.spec.schema import DatasetSpec, ResourcesSpec, SearchSpec, SweepSpec, TemplateSpec, TrainSettings

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("(top level)", SweepSpec),
    ("dataset", DatasetSpec),
    ("dataset.template", TemplateSpec),
    ("train", TrainSettings),
    ("search", SearchSpec),
    ("resources", ResourcesSpec),
]
NESTED = {"dataset", "train", "search", "resources", "template"}


def _default(field: Any) -> str:
    if field.default is PydanticUndefined and field.default_factory is None:
        return "required"
    if field.default_factory is not None:
        return "see below" if field.default_factory in (TemplateSpec, TrainSettings, SearchSpec, ResourcesSpec) else "{}"
    value = field.default
    if value is None:
        return "none"
    return f"`{value!r}`".replace("|", "\\|").replace("\n", "\\n") if isinstance(value, str) else f"`{value}`"


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
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
