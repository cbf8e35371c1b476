"""Fuzzing settings shared by every target.

`SWEEPER_FUZZ_EXAMPLES` sets the inputs per target: 500 in the normal suite (a few seconds
each), 10,000 with `make fuzz`. Runs are derandomized and keep no example database, so a
failure reproduces on any machine with the same count.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("SWEEPER_FUZZ_EXAMPLES", "500"))

settings.register_profile(
    "sweeper-fuzz",
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
