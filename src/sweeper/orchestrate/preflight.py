"""Checks that run before Ray starts, so a typo fails in the first second, not after an hour."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from sweeper.data.examples import DataReport, load_examples
from sweeper.errors import SweeperError
from sweeper.rules import PrunerSettings
from sweeper.spec import SweepSpec


@dataclass
class Preflight:
    data: DataReport
    pruner: PrunerSettings


def can_include_explanation(spec: SweepSpec) -> bool:
    dim = spec.search.space.get("include_explanation")
    if dim is None:
        return spec.train.include_explanation
    return any(bool(v) for v in dim.values)


def pruner_settings(spec: SweepSpec) -> PrunerSettings:
    """The spec's pruner settings; the label set gives the number of classes unless set."""
    if spec.pruner.num_classes is None:
        return replace(spec.pruner, num_classes=len(spec.dataset.labels))
    return spec.pruner


def preflight(spec: SweepSpec) -> Preflight:
    if not spec.model.startswith("builtin:"):
        path = Path(spec.model)
        if not path.exists():
            raise SweeperError(f"model: no such local model folder {spec.model!r} (sweeper never downloads models)")
        if not (path / "config.json").exists():
            raise SweeperError(f"model: {spec.model!r} has no config.json; point at a transformers model folder")
    pruner = pruner_settings(spec)
    loaded = load_examples(spec.dataset, explanations_needed=can_include_explanation(spec))
    return Preflight(data=loaded.report, pruner=pruner)
