"""The first Ctrl-C or SIGTERM stops a sweep cleanly; the exit code says which one came.

Ray Tune writes its final experiment snapshot on SIGINT, but `ray.init` answers SIGTERM (what
Kubernetes and Slurm send) with `sys.exit`, which skips that snapshot. So SIGTERM is turned into
the SIGINT Ray handles. Ray restores the previous SIGINT handler after the first one, so a second
Ctrl-C raises KeyboardInterrupt at once.
"""

from __future__ import annotations

import os
import signal
from types import FrameType

EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class StopSignals:
    """Install after `ray.init` (which sets its own SIGTERM handler); `received` is the first signal."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        for number in (signal.SIGINT, signal.SIGTERM):
            self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)  # type: ignore[arg-type]

    def _handle(self, number: int, frame: FrameType | None) -> None:
        # Reached before Ray's fit() installs its own SIGINT handler, or for SIGTERM at any time.
        if self.received is not None and number == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = self.received or signal.Signals(number)
        if number == signal.SIGTERM:
            os.kill(os.getpid(), signal.SIGINT)  # Ray's handler if fit() runs, else ours: stop cleanly
        else:
            raise KeyboardInterrupt  # before fit(): nothing has run yet

    def note_sigint(self) -> None:
        if self.received is None:
            self.received = signal.SIGINT

    @property
    def exit_code(self) -> int | None:
        return EXIT_CODES.get(self.received) if self.received is not None else None
