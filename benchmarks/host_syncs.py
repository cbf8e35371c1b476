"""Counting host synchronisations on CPU.

On a GPU every read of a device tensor into Python (`.item()`, `.tolist()`, `float(t)`,
`int(t)`, `bool(t)`, `t.cpu()`, ...) waits for the queue of kernels to drain. On CPU nothing
waits, but the same calls are made: this counts them, by wrapping those methods of
`torch.Tensor` for the duration of a `with` block. Calls made inside C++ are not seen.
"""

from __future__ import annotations

import traceback
from collections import Counter
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import torch

READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


class SyncCount:
    def __init__(self) -> None:
        self.count = 0
        self.sites: Counter[str] = Counter()  # "file:line (method)" of each read
        self.paused = False

    def record(self, name: str) -> None:
        if self.paused:
            return
        self.count += 1
        frame = traceback.extract_stack(limit=3)[0]
        self.sites[f"{frame.filename}:{frame.lineno} ({name})"] += 1

    @contextmanager
    def pause(self) -> Iterator[None]:
        self.paused, before = True, self.paused
        try:
            yield
        finally:
            self.paused = before


@contextmanager
def count_host_syncs() -> Iterator[SyncCount]:
    counter = SyncCount()
    originals = {name: getattr(torch.Tensor, name) for name in READS}

    def wrap(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def counted(self: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            counter.record(name)
            with counter.pause():  # a read built on another read counts once
                return original(self, *args, **kwargs)

        return counted

    for name, original in originals.items():
        setattr(torch.Tensor, name, wrap(name, original))
    try:
        yield counter
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)
