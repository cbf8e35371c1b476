"""A sweep folder read back: its leaderboard rows, its resolved spec, its curves and trial times.

What `compare`, `report` and `export` read; a folder still being written reads as it stands.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sweeper.errors import SweeperError
from sweeper.results.leaderboard import METRIC_MODES, param_columns, read_leaderboard, typed


@dataclass
class SweepView:
    folder: Path
    rows: list[dict[str, Any]]
    params: list[str]
    spec: dict[str, Any]
    _curves: dict[str, list[dict[str, Any]]] | None = field(default=None, repr=False)

    @classmethod
    def load(cls, folder: str | Path) -> "SweepView":
        folder = Path(folder)
        if folder.name == "leaderboard.csv":
            folder = folder.parent
        raw = read_leaderboard(folder)
        spec: dict[str, Any] = {}
        spec_path = folder / "spec.yaml"
        if spec_path.is_file():
            import yaml

            try:
                spec = yaml.safe_load(spec_path.read_text(encoding="utf-8")) or {}
            except yaml.YAMLError as error:
                raise SweeperError(f"{spec_path}: unreadable spec ({str(error).splitlines()[0]})") from None
        header = list(raw[0]) if raw else []
        return cls(folder, [typed(row) for row in raw], param_columns(header), spec)

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or self.folder.name)

    @property
    def metric(self) -> str:
        return str(self.spec.get("search", {}).get("metric") or "eval_macro_f1")

    @property
    def mode(self) -> str:
        return self.spec.get("search", {}).get("mode") or METRIC_MODES.get(self.metric, "max")

    @property
    def space(self) -> dict[str, dict[str, Any]]:
        """Searched parameter -> {kind: values} as spec.yaml writes it (unused kinds dropped)."""
        space = self.spec.get("search", {}).get("space") or {}
        return {name: {k: v for k, v in dim.items() if v is not None} for name, dim in space.items()}

    def fixed(self) -> dict[str, Any]:
        """Every setting of the spec that is the same for all its trials, as dotted keys."""
        flat: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict):
                for key, inner in value.items():
                    walk(f"{prefix}.{key}" if prefix else str(key), inner)
            else:
                flat[prefix] = value

        for section in ("model", "dataset", "train", "pruner", "resources"):
            if section in self.spec:
                walk(section, self.spec[section])
        walk("search.metric", self.metric)
        for name in self.space:
            flat.pop(f"train.{name}", None)  # searched here: not fixed
        return flat

    def curves(self) -> dict[str, list[dict[str, Any]]]:
        """trial_id -> its points in step order (curves.parquet)."""
        if self._curves is None:
            path = self.folder / "curves.parquet"
            by_trial: dict[str, list[dict[str, Any]]] = {}
            if path.is_file():
                import pyarrow.parquet as pq

                for row in pq.read_table(path).to_pylist():
                    by_trial.setdefault(str(row["trial_id"]), []).append(row)
            for points in by_trial.values():
                points.sort(key=lambda p: p["step"])
            self._curves = by_trial
        return self._curves

    def times(self, trial_id: str) -> tuple[datetime | None, datetime | None]:
        """When a trial started and last reported, from Ray's result.json in its folder."""
        path = self.folder / f"trial_{trial_id}" / "result.json"
        try:
            lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
            first, last = json.loads(lines[0]), json.loads(lines[-1])
        except (OSError, IndexError, ValueError):
            return None, None

        def at(seconds: float) -> datetime:
            return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(tzinfo=None)

        start = float(first["timestamp"]) - float(first.get("time_total_s") or 0.0)
        return at(start), at(float(last["timestamp"]))
