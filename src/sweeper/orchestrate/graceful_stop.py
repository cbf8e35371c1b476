"""The first Ctrl-C or SIGTERM ends a sweep without losing training.

No new trial starts; every trial in flight saves a checkpoint at its next step and waits; once all
have (or after `grace_seconds`), Ray is stopped the way its own Ctrl-C stops it (SIGUSR1: it writes
its final snapshot), and the trials are left `interrupted`, each with a checkpoint at the step it
reached, for `sweeper resume`. The trials learn of the stop from a flag in a small Ray actor,
which they read at most once a second.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any, Callable

from ray.tune import Callback

from sweeper.orchestrate.driver_node import on_driver_node
from sweeper.orchestrate.duplicates import DUPLICATE_OF

GRACE_SECONDS = 120.0  # longest wait for the trials' checkpoints (a real step and a save fit well in it)


def stop_flag() -> Any:
    """A Ray actor holding one flag; its handle goes to every trial (TrialContext.stop_flag)."""
    import ray

    @ray.remote(num_cpus=0)
    class StopFlag:
        def __init__(self) -> None:
            self._set = False

        def set(self) -> None:
            self._set = True

        def is_set(self) -> bool:
            return self._set

    return StopFlag.options(**on_driver_node()).remote()


class GracefulStop(Callback):
    def __init__(
        self, signals: Any, flag: Any, hold: Callable[[], None], say: Callable[[str], None], grace_seconds: float = GRACE_SECONDS
    ) -> None:
        self._signals = signals  # sweeper.orchestrate.signals.StopSignals: `received` is the first signal
        self._flag = flag
        self._hold = hold  # stops new trials from starting
        self._say = say
        self._grace_seconds = grace_seconds
        self._asked_at: float | None = None
        self._waiting: set[str] = set()
        self._stopping = False

    def __getstate__(self) -> dict[str, Any]:
        return {}  # Ray pickles callbacks into tuner.pkl: this one only lives while its sweep runs

    def setup(self, **info: Any) -> None:
        self._signals.graceful = True

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._signals.graceful = False

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if self._signals.received is None or self._stopping:
            return
        if self._asked_at is None:
            self._asked_at = time.monotonic()
            # A trial waiting for another with the same settings trains nothing: nothing to save.
            self._waiting = {
                trial.trial_id
                for trial in trials
                if trial.status == "RUNNING" and not (trial.last_result or {}).get(DUPLICATE_OF)
            }
            self._hold()
            self._flag.set.remote()
            self._say(
                f"stopping: {len(self._waiting)} trials in flight save a checkpoint at their next step "
                "(Ctrl-C again to stop at once)"
            )
        if not self._waiting or time.monotonic() - self._asked_at > self._grace_seconds:
            self._stopping = True
            os.kill(os.getpid(), signal.SIGUSR1)  # Ray's own interrupt: ends fit() after a last snapshot

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        if self._asked_at is not None:
            self._waiting.discard(trial.trial_id)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._waiting.discard(trial.trial_id)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._waiting.discard(trial.trial_id)
