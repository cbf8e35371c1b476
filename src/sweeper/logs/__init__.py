"""Training-log readers: every supported format into one Curve.

Pure Python (stdlib only) except a sweep's curves.parquet, which imports pyarrow lazily.
"""

from sweeper.logs.curve import Curve
from sweeper.logs.reader import FORMATS_HELP, read_log

__all__ = ["Curve", "FORMATS_HELP", "read_log"]
