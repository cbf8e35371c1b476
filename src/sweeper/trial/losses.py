"""Total, label and explanation losses from one forward pass, and their sums over a window.

The per-token cross-entropy is computed once (next-token: logits at t score the token at t+1,
as HF causal LMs do); the segment of the scored token decides where its loss counts. So for
any batch:

    loss * n_target = label_loss * n_label + explanation_loss * n_explanation + other_loss * n_other

`loss` is the mean over all target tokens, what Trainer's default causal-LM loss computes for
the same labels.

Nothing here reads a tensor back to the host while a window fills: sums and counts stay on the
batch's device (a read is a host synchronisation, which stalls a GPU's queue), and `LossWindow.read`
copies the whole window over once, at a logging step.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from sweeper.trial.encode import IGNORE_INDEX, SEG_EXPLANATION, SEG_LABEL, SEG_OTHER

SEGMENTS = (SEG_LABEL, SEG_EXPLANATION, SEG_OTHER)
# Consecutive ids (a test checks), so segment_losses makes them with arange on the device: a
# tensor built from a Python list is a host-to-device copy, which waits for the GPU.


@dataclass
class LossParts:
    """Summed token losses and token counts of one batch, as tensors on the batch's device.

    `total_sum` keeps its graph; `sums` and `counts` hold one entry per SEGMENTS, in that order.
    """

    total_sum: torch.Tensor
    total_count: torch.Tensor
    sums: torch.Tensor
    counts: torch.Tensor

    @property
    def loss(self) -> torch.Tensor:
        return self.total_sum / self.total_count.clamp(min=1)


def token_losses(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-token next-token cross-entropy, float32, 0 where the shifted label is ignored.

    Shape: (batch, seq - 1); position t is the loss of predicting labels[:, t + 1].
    """
    shift_logits = logits[:, :-1, :].float()
    shift_labels = labels[:, 1:].to(shift_logits.device)
    losses = F.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)),
        shift_labels.reshape(-1),
        ignore_index=IGNORE_INDEX,
        reduction="none",
    )
    return losses.view(shift_labels.shape)


def segment_losses(logits: torch.Tensor, labels: torch.Tensor, segments: torch.Tensor) -> LossParts:
    """Sums and counts of the token losses, in total and per segment, from one set of logits."""
    per_token = token_losses(logits, labels)
    shift_labels = labels[:, 1:].to(per_token.device)
    shift_segments = segments[:, 1:].to(per_token.device)
    target = shift_labels != IGNORE_INDEX
    ids = torch.arange(SEGMENTS[0], SEGMENTS[-1] + 1, device=per_token.device)
    masks = target.unsqueeze(-1) & (shift_segments.unsqueeze(-1) == ids)  # (batch, seq - 1, segment)
    # where, not a product: a NaN loss on an ignored token must not leak into the sums
    sums = torch.where(masks, per_token.detach().unsqueeze(-1), 0.0).sum(dim=(0, 1))
    return LossParts(total_sum=per_token.sum(), total_count=target.sum(), sums=sums, counts=masks.sum(dim=(0, 1)))


@dataclass(frozen=True)
class LossTotals:
    """A window's sums and counts as plain numbers, read from the device."""

    total_sum: float = 0.0
    total_count: int = 0
    sums: dict[int, float] = field(default_factory=lambda: {s: 0.0 for s in SEGMENTS})
    counts: dict[int, int] = field(default_factory=lambda: {s: 0 for s in SEGMENTS})
    tokens: int = 0  # input tokens processed (not padding), for throughput

    def mean(self, segment: int | None = None) -> float | None:
        """The mean over all target tokens (segment None) or one segment; None without tokens."""
        if segment is None:
            return self.total_sum / self.total_count if self.total_count else None
        count = self.counts[segment]
        return self.sums[segment] / count if count else None

    def plus(self, values: list[float]) -> "LossTotals":
        """These totals plus a window vector read from the device (layout of `_window_vector`)."""
        n = len(SEGMENTS)
        return LossTotals(
            total_sum=self.total_sum + values[0],
            total_count=self.total_count + round(values[1 + n]),
            sums={s: self.sums[s] + values[1 + i] for i, s in enumerate(SEGMENTS)},
            counts={s: self.counts[s] + round(values[2 + n + i]) for i, s in enumerate(SEGMENTS)},
            tokens=self.tokens + round(values[-1]),
        )

    def state(self) -> dict[str, object]:
        return {
            "total_sum": self.total_sum,
            "total_count": self.total_count,
            "sums": {str(k): v for k, v in self.sums.items()},
            "counts": {str(k): v for k, v in self.counts.items()},
            "tokens": self.tokens,
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> "LossTotals":
        return cls(
            total_sum=float(state["total_sum"]),  # type: ignore[arg-type]
            total_count=int(state["total_count"]),  # type: ignore[arg-type]
            sums={int(k): float(v) for k, v in state["sums"].items()},  # type: ignore[union-attr]
            counts={int(k): int(v) for k, v in state["counts"].items()},  # type: ignore[union-attr]
            tokens=int(state.get("tokens", 0)),  # type: ignore[arg-type]
        )


def _window_vector(parts: LossParts, tokens: torch.Tensor | int) -> torch.Tensor:
    """[total_sum, sums..., total_count, counts..., tokens] in float64 (exact for counts < 2**53)."""
    device = parts.sums.device
    pieces = [
        parts.total_sum.detach().reshape(1),
        parts.sums,
        parts.total_count.reshape(1),
        parts.counts,
        torch.as_tensor(tokens, device=device).reshape(1),
    ]
    return torch.cat([p.to(device=device, dtype=torch.float64) for p in pieces])


class LossWindow:
    """Sums over several batches (one logging window, one eval pass), kept on the device.

    `add` costs no host synchronisation; `read` costs one. `start` carries a window reopened
    from a checkpoint. With `across_ranks`, `read` sums the window of every data-parallel rank
    (a collective: every rank must read at the same step).
    """

    def __init__(self, start: LossTotals | None = None, across_ranks: bool = False) -> None:
        self.start = start if start is not None else LossTotals()
        self._across_ranks = across_ranks
        self._sum: torch.Tensor | None = None

    def add(self, parts: LossParts, tokens: torch.Tensor | int = 0) -> None:
        vector = _window_vector(parts, tokens)
        self._sum = vector if self._sum is None else self._sum.add_(vector)

    def read(self) -> LossTotals:
        vector = self._sum
        if self._across_ranks and torch.distributed.is_available() and torch.distributed.is_initialized():
            if vector is None:
                vector = torch.zeros(3 + 2 * len(SEGMENTS), dtype=torch.float64, device=_rank_device())
            vector = vector.clone()
            torch.distributed.all_reduce(vector)
        if vector is None:
            return self.start
        return self.start.plus(vector.tolist())  # the one host synchronisation


def _rank_device() -> torch.device:
    """The device this rank's collectives run on (NCCL needs the rank's GPU)."""
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
