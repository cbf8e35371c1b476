"""Whether a place a user names (`storage`, a sweep folder) is an object-store URI or a path."""

from __future__ import annotations

import re
from typing import Any

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(location: Any) -> bool:
    """s3://bucket/prefix, gs://..., file:///... : anything with a scheme; a plain path is not."""
    return isinstance(location, str) and bool(_URI.match(location))
