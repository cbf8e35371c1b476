"""Reading a user's text file (a spec, a data file): every failure is one line naming the file."""

from __future__ import annotations

from pathlib import Path

from sweeper.errors import SweeperError


def read_user_text(path: Path, shown: str, kind: str) -> str:
    """The file's UTF-8 text; `shown` is how the user named it, `kind` what it is ("spec", "data")."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweeperError(f"{shown}: no such {kind} file") from None
    except IsADirectoryError:
        raise SweeperError(f"{shown}: is a folder, not a {kind} file") from None
    except UnicodeDecodeError as error:
        line = error.object[: error.start].count(b"\n") + 1
        raise SweeperError(f"{shown}:{line}: not UTF-8 text (byte {error.start}); save the {kind} as UTF-8") from None
    except OSError as error:
        raise SweeperError(f"{shown}: cannot read: {error.strerror}") from None
