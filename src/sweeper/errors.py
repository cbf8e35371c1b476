"""The one error type users see: a one-line message naming what is wrong and where."""

from __future__ import annotations


class SweeperError(Exception):
    """Bad input or an unusable environment. The CLI prints `error: <message>` and exits 2."""

    def __init__(self, message: str) -> None:
        # One line, always: multi-line messages hide the part that matters in a terminal.
        super().__init__(" ".join(str(message).split()))

    @property
    def message(self) -> str:
        return str(self)
