"""The sweep spec: schema and YAML loading with errors that name file, line and key."""

from sweeper.spec.loader import load_spec, validate_spec
from sweeper.spec.schema import (
    DatasetSpec,
    Dimension,
    ResourcesSpec,
    SearchSpec,
    SweepSpec,
    TemplateSpec,
    TrainSettings,
)

__all__ = [
    "DatasetSpec",
    "Dimension",
    "ResourcesSpec",
    "SearchSpec",
    "SweepSpec",
    "TemplateSpec",
    "TrainSettings",
    "load_spec",
    "validate_spec",
]
