"""Non-maximum suppression in plain torch (no torchvision), exact greedy semantics.

The greedy rule is: walk boxes by descending score and keep a box unless a box kept before it
overlaps it by more than the IoU threshold. We evaluate that rule on tiles of boxes: inside a
tile the keep-vector is the fixed point of ``keep[i] = alive[i] and not any(keep[j] and
iou[j, i] > t for j < i)``, reached by a few vectorised iterations (each pass fixes at least
one more position of every suppression chain), so the Python overhead is per tile, not per box.
Tiles stop as soon as ``max_det`` boxes are kept.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import torch
from torch import Tensor

from yolov9.ops.boxes import box_iou

log = logging.getLogger(__name__)

_TILE = 512


class Detections(NamedTuple):
    """Detections of one image.

    Attributes:
        boxes: (N, 4) xyxy boxes.
        scores: (N,) confidences, descending.
        labels: (N,) int64 class indices.
        anchors: (N,) int64 index of each detection's anchor in the head's output (to gather
            per-anchor outputs such as mask coefficients); None where unknown (NMS inside an
            exported graph).
        coeffs: (N, M) mask coefficients of the detections (segmentation models).
        protos: (M, h, w) the image's prototype masks (segmentation models).
        semantic: (K, h, w) the image's semantic logits (panoptic models).
        caption: the image's caption and ``caption_score`` its score (caption models).
    """

    boxes: Tensor
    scores: Tensor
    labels: Tensor
    anchors: Tensor | None = None
    coeffs: Tensor | None = None
    protos: Tensor | None = None
    semantic: Tensor | None = None
    caption: str | None = None
    caption_score: float | None = None

    def __len__(self) -> int:  # the number of detections (so ``_replace`` cannot be used)
        return int(self.scores.shape[0])

    def to(self, device: torch.device | str) -> Detections:
        def move(t: Tensor | None) -> Tensor | None:
            return t.to(device) if t is not None else None

        return Detections(
            self.boxes.to(device),
            self.scores.to(device),
            self.labels.to(device),
            move(self.anchors),
            move(self.coeffs),
            move(self.protos),
            move(self.semantic),
            self.caption,
            self.caption_score,
        )


def nms(boxes_xyxy: Tensor, scores: Tensor, iou_threshold: float, max_keep: int = -1) -> Tensor:
    """Greedy NMS.

    Args:
        boxes_xyxy: (N, 4) boxes.
        scores: (N,) scores.
        iou_threshold: a box is dropped when its IoU with a kept, higher-scoring box is above it.
        max_keep: stop after this many kept boxes (-1: no limit).

    Returns:
        (K,) int64 indices of kept boxes, by descending score.
    """
    order = scores.argsort(descending=True, stable=True)
    boxes = boxes_xyxy[order].float()
    n = boxes.shape[0]
    kept_idx: list[Tensor] = []
    kept_boxes = boxes.new_zeros((0, 4))
    n_kept = 0
    for start in range(0, n, _TILE):
        tile = boxes[start : start + _TILE]
        alive = torch.ones(tile.shape[0], dtype=torch.bool, device=boxes.device)
        if kept_boxes.shape[0]:
            alive = ~(box_iou(kept_boxes, tile) > iou_threshold).any(0)
        over = torch.triu(box_iou(tile, tile) > iou_threshold, diagonal=1)
        keep = alive
        while True:  # fixed point of the greedy rule inside the tile
            new_keep = alive & ~(over & keep[:, None]).any(0)
            if torch.equal(new_keep, keep):
                break
            keep = new_keep
        idx = torch.nonzero(keep).squeeze(1)
        if max_keep >= 0:
            idx = idx[: max_keep - n_kept]
        kept_idx.append(idx + start)
        kept_boxes = torch.cat((kept_boxes, tile[idx]))
        n_kept += idx.numel()
        if 0 <= max_keep <= n_kept:
            break
    if not kept_idx:
        return order[:0]
    return order[torch.cat(kept_idx)]


def batched_nms(
    boxes_xyxy: Tensor, scores: Tensor, labels: Tensor, iou_threshold: float, max_keep: int = -1
) -> Tensor:
    """Class-aware NMS: boxes of different labels never suppress each other.

    Implemented by offsetting each class into its own coordinate range.

    Args:
        boxes_xyxy: (N, 4) boxes.
        scores: (N,) scores.
        labels: (N,) integer class ids.
        iou_threshold: as in :func:`nms`.
        max_keep: as in :func:`nms`.

    Returns:
        (K,) indices of kept boxes, by descending score.
    """
    if boxes_xyxy.numel() == 0:
        return torch.zeros(0, dtype=torch.int64, device=boxes_xyxy.device)
    span = boxes_xyxy.float().abs().max() * 2 + 1
    shifted = boxes_xyxy.float() + (labels.float() * span)[:, None]
    return nms(shifted, scores, iou_threshold, max_keep)


def non_max_suppression(
    boxes_xyxy: Tensor,
    scores: Tensor,
    *,
    conf_threshold: float = 0.25,
    iou_threshold: float = 0.45,
    max_det: int = 300,
    multi_label: bool = False,
    agnostic: bool = False,
    classes: list[int] | None = None,
    max_candidates: int = 30000,
) -> list[Detections]:
    """Score filter + NMS for a batch of decoded predictions.

    Args:
        boxes_xyxy: (B, A, 4) boxes in input pixels.
        scores: (B, A, C) class probabilities.
        conf_threshold: minimum class probability of a detection.
        iou_threshold: NMS IoU threshold.
        max_det: maximum detections per image.
        multi_label: every (anchor, class) pair above the threshold is a candidate (used for
            mAP evaluation); otherwise only each anchor's best class.
        agnostic: suppress across classes.
        classes: keep only these class ids.
        max_candidates: at most this many of an image's highest-scoring candidates go to
            NMS; the others are dropped before it (as in the reference; far above what any
            ``max_det`` keeps). When that happens one warning per call gives the number of
            images and candidates concerned.

    Returns:
        One :class:`Detections` per image (there is no time limit, unlike the reference's).
    """
    out: list[Detections] = []
    num_classes = scores.shape[-1]
    class_filter = None
    if classes is not None:
        class_filter = torch.zeros(num_classes, dtype=torch.bool, device=scores.device)
        class_filter[torch.as_tensor(classes, device=scores.device)] = True
    truncated: list[int] = []  # candidates dropped per truncated image
    for boxes_i, scores_i in zip(boxes_xyxy, scores, strict=True):
        if multi_label:
            anchor_idx, label = torch.nonzero(scores_i > conf_threshold, as_tuple=True)
            score = scores_i[anchor_idx, label]
        else:
            score, label = scores_i.max(dim=1)
            anchor_idx = torch.nonzero(score > conf_threshold).squeeze(1)
            score, label = score[anchor_idx], label[anchor_idx]
        if class_filter is not None:
            keep = class_filter[label]
            anchor_idx, score, label = anchor_idx[keep], score[keep], label[keep]
        if score.numel() > max_candidates:
            truncated.append(score.numel() - max_candidates)
            top = score.topk(max_candidates).indices
            anchor_idx, score, label = anchor_idx[top], score[top], label[top]
        boxes = boxes_i[anchor_idx]
        if agnostic:
            keep = nms(boxes, score, iou_threshold, max_det)
        else:
            keep = batched_nms(boxes, score, label, iou_threshold, max_det)
        out.append(Detections(boxes[keep], score[keep], label[keep], anchor_idx[keep]))
    if truncated:
        log.warning(
            "NMS: %d of %d images had more than %d candidates above conf %g; %d dropped "
            "before NMS (max_candidates)",
            len(truncated),
            len(out),
            max_candidates,
            conf_threshold,
            sum(truncated),
        )
    return out
