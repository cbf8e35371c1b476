"""Helpers shared by the fuzz targets."""

from __future__ import annotations

from typing import Any


def json_paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path (keys and indices) into a JSON-like value, the root included."""
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(json_paths(child, prefix + (key,)))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out.extend(json_paths(child, prefix + (index,)))
    return out
