"""`ledger.jsonl`: the durable list of a sweep's finished trials and their final records.

Ray's experiment snapshot can be seconds older than the last trial that finished; after a kill,
Ray re-runs such a trial. The ledger is appended and fsync'd the moment a trial finishes, so a
resumed sweep knows every finished trial and never trains one twice.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from sweeper.results.leaderboard import TrialRecord

FILENAME = "ledger.jsonl"
FINISHED = ("completed", "pruned", "errored", "duplicate")


class Ledger:
    def __init__(self, sweep_dir: Path) -> None:
        self.path = Path(sweep_dir) / FILENAME

    def append(self, record: TrialRecord) -> None:
        line = json.dumps(dataclasses.asdict(record), allow_nan=True) + "\n"
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def load(self) -> dict[str, TrialRecord]:
        """Finished trials by id; a line cut short by a kill mid-write is ignored."""
        records: dict[str, TrialRecord] = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return records
        for line in lines:
            try:
                record = TrialRecord(**json.loads(line))
            except (ValueError, TypeError):
                continue
            records[record.trial_id] = record
        return records
