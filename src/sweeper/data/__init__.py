"""Reading examples and making the demo dataset. Pure Python: no torch, no transformers.

`sweeper validate` imports this package, so it must stay fast to import.
"""

from sweeper.data.demo import DEMO_LABELS, DemoPaths, demo_records, write_demo_dataset
from sweeper.data.examples import DataReport, Example, LoadedData, load_examples, read_records

__all__ = [
    "DEMO_LABELS",
    "DataReport",
    "DemoPaths",
    "Example",
    "LoadedData",
    "demo_records",
    "load_examples",
    "read_records",
    "write_demo_dataset",
]
