"""What every task's criterion takes and returns, so that the trainer and the evaluator run
any task's criterion the same way: ``criterion(model_output, targets) -> LossOutput``."""

from __future__ import annotations

from typing import NamedTuple, Protocol

import torch
from torch import Tensor

from yolov9.models.yolov9 import ModelOutput

LABELS = ("boxes", "masks", "semantic", "captions")  # the kinds of labels a batch may carry


class Targets(NamedTuple):
    """The ground truth of one batch, in network-input pixels.

    Attributes:
        boxes: (N, 6) rows of (image index in the batch, class, x1, y1, x2, y2).
        masks: instance masks for segmentation criteria, one per row of ``boxes``
            (None for detection).
        semantic: panoptic criteria: (B, K, h, w) multi-hot semantic target over the model's
            channels (things, then stuff); a pixel may be set in several channels or none.
        semantic_ignore: (B, h, w) bool, pixels the semantic terms leave out (void,
            unlabelled, the letterbox padding); None: none.
        captions: caption criteria: (B, T) token ids of one caption per image (BOS ... EOS,
            padding after).
        labels: the kinds of labels the batch carries (:data:`LABELS`; a batch of a mixture
            of datasets that each carry some of them); None: every kind the criterion
            needs. A criterion computes the terms of the kinds present and gives the others 0.
    """

    boxes: Tensor
    masks: Tensor | None = None
    semantic: Tensor | None = None
    semantic_ignore: Tensor | None = None
    captions: Tensor | None = None
    labels: frozenset[str] | None = None

    def has(self, kind: str) -> bool:
        """Whether the batch carries labels of ``kind`` (one of :data:`LABELS`)."""
        return self.labels is None or kind in self.labels

    def to(self, device: torch.device | str) -> Targets:
        def move(t: Tensor | None) -> Tensor | None:
            return t.to(device) if t is not None else None

        return Targets(
            self.boxes.to(device),
            move(self.masks),
            move(self.semantic),
            move(self.semantic_ignore),
            move(self.captions),
            self.labels,
        )


class LossOutput(NamedTuple):
    """``total`` is back-propagated; ``parts`` are detached floats for logging.

    ``parts``: ``box``, ``cls``, ``dfl`` (gain-weighted, auxiliary head included: the
    reference's three logged terms), and the unweighted ``main/box`` ... ``aux/dfl`` per head.
    """

    total: Tensor
    parts: dict[str, float]


class Criterion(Protocol):
    def __call__(self, outputs: ModelOutput, targets: Targets) -> LossOutput: ...
