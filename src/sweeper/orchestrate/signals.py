"""The first Ctrl-C or SIGTERM stops a sweep cleanly; the exit code says which one came.

While Ray runs the sweep (`graceful`, set by sweeper.orchestrate.graceful_stop), the first signal
is only noted: the graceful stop has the trials checkpoint, then stops Ray. Ray's own SIGINT
handler is off (TUNE_DISABLE_SIGINT_HANDLER), and `ray.init` answers SIGTERM (what Kubernetes and
Slurm send) with `sys.exit`, which would skip Ray's final snapshot: both come here. Before or after
that, and for a second signal at any time, KeyboardInterrupt ends it at once.
"""

from __future__ import annotations

import signal
from types import FrameType

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class StopSignals:
    """Install after `ray.init` (which sets its own SIGTERM handler); `received` is the first signal."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self.graceful = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]

    def _handle(self, number: int, frame: FrameType | None) -> None:
        first = self.received is None
        self.received = self.received or signal.Signals(number)
        if not (first and self.graceful):
            raise KeyboardInterrupt

    def note_sigint(self) -> None:
        if self.received is None:
            self.received = signal.SIGINT

    @property
    def exit_code(self) -> int | None:
        return EXIT_CODES.get(self.received) if self.received is not None else None
