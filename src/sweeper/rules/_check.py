"""Argument checks for the rules' constructors and settings: one wording for every rule.

Each returns the value (as float or int) or raises ValueError "<name> must be <what>, got <value>.".
"""

from __future__ import annotations

import math
from typing import Any, Sequence


def _fail(name: str, what: str, value: Any) -> ValueError:
    return ValueError(f"{name} must be {what}, got {value!r}.")


def _range_words(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low:g}"
    return f"{'<' if high_open else '<='} {high:g}"


def number(name: str, value: Any, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, high_open: bool = False) -> Any:
    """A finite number (never a bool) within the bounds; open bounds exclude their end."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise _fail(name, "a number " + _range_words(low, high, low_open, high_open), value)
    return value


def fraction(name: str, value: Any, *, low_open: bool = False, high_open: bool = True) -> float:
    """A number in [0, 1) (or the bounds asked for)."""
    return number(name, value, 0.0, 1.0, low_open=low_open, high_open=high_open)


def integer(name: str, value: Any, minimum: int, *, optional: bool = False, minimum_is: str = "") -> int | None:
    """A whole number >= minimum (never a bool); None too when `optional`. `minimum_is` names
    where the minimum comes from (another argument), for the message."""
    if optional and value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        bound = f"{minimum_is} ({minimum})" if minimum_is else f"{minimum}"
        raise _fail(name, f"an int >= {bound}" + (" or None" if optional else ""), value)
    return value


def positive(name: str, value: Any, *, optional: bool = False) -> float | None:
    """A finite number > 0; None too when `optional`."""
    if optional and value is None:
        return None
    try:
        return number(name, value, 0.0, low_open=True)
    except ValueError:
        raise _fail(name, "a number > 0" + (" or None" if optional else ""), value) from None


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(name, "a bool", value)
    return value


def choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise _fail(name, "one of " + ", ".join(map(repr, choices)), value)
    return value
