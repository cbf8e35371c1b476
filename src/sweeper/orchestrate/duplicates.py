"""A trial whose effective settings equal an earlier trial's of the same sweep is not trained again.

Effective settings (sweeper.orchestrate.space.settings_key): the searched values, a setting the
trial does not use (explanation_position without explanations) blanked; values equal as Python
compares them. A float drawn from a range (a loguniform learning rate) repeats only if it is the
very same number: two draws that are merely close are two runs.

When a trial starts it claims its settings in a small Ray actor the driver made (`Registry`). The
first trial with those settings owns them and trains. A later one trains nothing:

- the owner has finished: the later trial ends at once with the owner's objective (the searcher is
  told, as it was told for the owner), or with the owner's error. The leaderboard lists it with
  status `duplicate` (`errored` when the owner errored) and `duplicate_of` = the owner, 0 steps.
- the owner is still in flight: the later trial waits for it (polling once a second; it holds
  its slot but no compute: running the same run twice would cost the whole run), then ends as
  above. While it waits it reports `duplicate_of`, so the leaderboard shows what it waits for, and
  a graceful stop does not wait for it to checkpoint. If the owner's process dies and Ray retries
  it, the settings are free again: the first of the two to claim them next trains (so a waiting
  trial can never hold the slot its owner needs).

The driver tells the registry when a trial finishes (the recorder's `_finish`) or is retried
(`on_trial_recover`); a resumed sweep starts it with the finished trials of its ledger.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Hashable, Iterable

from sweeper.orchestrate.driver_node import on_driver_node
from sweeper.orchestrate.space import OBJECTIVE, settings_key
from sweeper.rules.point import BATCH_KEY

DUPLICATE_OF = "duplicate_of"  # result key and leaderboard column: the trial this one repeats
DUPLICATE = "duplicate"  # the status of a trial that repeated a finished trial's result
POLL_SECONDS = 1.0

Key = tuple[Hashable, ...]


@dataclass
class Owner:
    """The trial that trains a set of settings, and how it ended (once it has)."""

    trial_id: str
    done: bool = False
    status: str = ""  # completed, pruned, errored
    objective: float | None = None
    error: str = ""


class Claims:
    """The registry's logic over plain values (the actor below only holds one of these)."""

    def __init__(self, finished: Iterable[tuple[Key, Owner]] = ()) -> None:
        self._owners: dict[Key, Owner] = {}
        self._keys: dict[str, Key] = {}
        for key, owner in finished:
            self._owners.setdefault(key, owner)
            self._keys[owner.trial_id] = key

    def claim(self, key: Key, trial_id: str) -> Owner | None:
        """None: `trial_id` owns `key` now (it is the first, or its owner was retried), so it trains.
        Else the owner, finished or not."""
        owner = self._owners.get(key)
        if owner is None or owner.trial_id == trial_id:
            self._owners[key] = Owner(trial_id)
            self._keys[trial_id] = key
            return None
        return owner

    def finish(self, trial_id: str, status: str, objective: float | None, error: str) -> None:
        owner = self._owners.get(self._keys.get(trial_id, ()))
        if owner is not None and owner.trial_id == trial_id and not owner.done:
            owner.done, owner.status, owner.objective, owner.error = True, status, objective, error

    def release(self, trial_id: str) -> None:
        """The owner's process died and Ray retries it: its settings are free until claimed again."""
        key = self._keys.get(trial_id)
        owner = self._owners.get(key) if key is not None else None
        if owner is not None and owner.trial_id == trial_id and not owner.done:
            del self._owners[key]


def registry(finished: Iterable[tuple[Key, Owner]] = ()) -> Any:
    """The Ray actor holding the sweep's claims; its handle goes to every trial (TrialContext.duplicates)."""
    import ray

    @ray.remote(num_cpus=0)
    class Registry:
        def __init__(self, finished: list[tuple[Key, Owner]]) -> None:
            self._claims = Claims(finished)

        def claim(self, key: Key, trial_id: str) -> Owner | None:
            return self._claims.claim(key, trial_id)

        def finish(self, trial_id: str, status: str, objective: float | None, error: str) -> None:
            self._claims.finish(trial_id, status, objective, error)

        def release(self, trial_id: str) -> None:
            self._claims.release(trial_id)

    return Registry.options(**on_driver_node()).remote(list(finished))


def finished_owners(spec: Any, records: Iterable[Any]) -> list[tuple[Key, Owner]]:
    """The finished trials (TrialRecords of a resumed sweep's ledger) that own their settings."""
    owners = []
    for record in records:
        if record.status in ("completed", "pruned", "errored") and not record.duplicate_of:
            key = settings_key(spec.search, record.params, spec.train)
            owners.append((key, Owner(record.trial_id, True, record.status, record.objective, record.error)))
    return owners


def settle_duplicate(handle: Any, spec: Any, config: dict[str, Any]) -> bool:
    """In the trial (`config`: its sampled parameters; `spec`: the SweepSpec), before training:
    False when this trial owns its settings (train them); True when it repeated a finished trial's
    result (it has reported and must end). Raises the owner's error when the owner errored."""
    import ray
    from ray import tune

    from sweeper.orchestrate.trainable import TrialRaised

    key = settings_key(spec.search, config, spec.train)
    trial_id = tune.get_context().get_trial_id()
    said_waiting = False
    while True:
        owner = ray.get(handle.claim.remote(key, trial_id))
        if owner is None:
            return False
        if owner.done:
            break
        if not said_waiting:
            tune.report({BATCH_KEY: [], DUPLICATE_OF: owner.trial_id})
            said_waiting = True
        time.sleep(POLL_SECONDS)
    if owner.status == "errored":
        if not said_waiting:
            tune.report({BATCH_KEY: [], DUPLICATE_OF: owner.trial_id})
        raise TrialRaised(f"the same settings as trial {owner.trial_id}, which errored: {owner.error}")
    result: dict[str, Any] = {BATCH_KEY: [], DUPLICATE_OF: owner.trial_id, "duplicate_status": owner.status}
    if owner.objective is not None:
        result[OBJECTIVE] = owner.objective
    tune.report(result)
    return True
