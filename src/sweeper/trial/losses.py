"""Total, label and explanation losses from one forward pass.

The per-token cross-entropy is computed once (next-token: logits at t score the token at t+1,
as HF causal LMs do); the segment of the scored token decides where its loss counts. So for
any batch:

    loss * n_target = label_loss * n_label + explanation_loss * n_explanation + other_loss * n_other

`loss` is the mean over all target tokens, what Trainer's default causal-LM loss computes for
the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from sweeper.trial.encode import IGNORE_INDEX, SEG_EXPLANATION, SEG_LABEL, SEG_OTHER

SEGMENTS = (SEG_LABEL, SEG_EXPLANATION, SEG_OTHER)


@dataclass
class LossParts:
    """Summed token losses and token counts of one batch. `total_sum` keeps its graph."""

    total_sum: torch.Tensor
    total_count: int
    sums: dict[int, torch.Tensor]
    counts: dict[int, int]

    @property
    def loss(self) -> torch.Tensor:
        return self.total_sum / max(self.total_count, 1)

    def mean(self, segment: int) -> float | None:
        """Mean loss over one segment's tokens; None when the batch has none."""
        count = self.counts.get(segment, 0)
        if count == 0:
            return None
        return float(self.sums[segment].detach()) / count


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
    sums: dict[int, torch.Tensor] = {}
    counts: dict[int, int] = {}
    for segment in SEGMENTS:
        mask = target & (shift_segments == segment)
        sums[segment] = torch.where(mask, per_token, torch.zeros_like(per_token)).sum()
        counts[segment] = int(mask.sum())
    return LossParts(total_sum=per_token.sum(), total_count=int(target.sum()), sums=sums, counts=counts)


@dataclass
class LossWindow:
    """Detached sums over several batches: the losses of one logging window or one eval pass."""

    total_sum: float = 0.0
    total_count: int = 0
    sums: dict[int, float] = field(default_factory=lambda: {s: 0.0 for s in SEGMENTS})
    counts: dict[int, int] = field(default_factory=lambda: {s: 0 for s in SEGMENTS})
    tokens: int = 0  # input tokens processed (not padding), for throughput

    def add(self, parts: LossParts, tokens: int = 0) -> None:
        self.total_sum += float(parts.total_sum.detach())
        self.total_count += parts.total_count
        for segment in SEGMENTS:
            self.sums[segment] += float(parts.sums[segment].detach())
            self.counts[segment] += parts.counts[segment]
        self.tokens += tokens

    def mean(self, segment: int | None = None) -> float | None:
        """The mean over all target tokens (segment None) or one segment; None without tokens."""
        if segment is None:
            return self.total_sum / self.total_count if self.total_count else None
        count = self.counts[segment]
        return self.sums[segment] / count if count else None

    def state(self) -> dict[str, object]:
        return {
            "total_sum": self.total_sum,
            "total_count": self.total_count,
            "sums": {str(k): v for k, v in self.sums.items()},
            "counts": {str(k): v for k, v in self.counts.items()},
            "tokens": self.tokens,
        }

    @classmethod
    def from_state(cls, state: dict[str, object]) -> "LossWindow":
        window = cls()
        window.total_sum = float(state["total_sum"])  # type: ignore[arg-type]
        window.total_count = int(state["total_count"])  # type: ignore[arg-type]
        window.sums = {int(k): float(v) for k, v in state["sums"].items()}  # type: ignore[union-attr]
        window.counts = {int(k): int(v) for k, v in state["counts"].items()}  # type: ignore[union-attr]
        window.tokens = int(state.get("tokens", 0))  # type: ignore[arg-type]
        return window

