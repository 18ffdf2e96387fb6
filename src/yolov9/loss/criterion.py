"""The YOLOv9 training criterion: task-aligned targets, BCE + CIoU + DFL, PGI dual loss."""

from __future__ import annotations

import functools
import operator

import torch
from torch import Tensor, nn

from yolov9.loss.assigner import Assignment, TaskAlignedAssigner
from yolov9.loss.interface import LossOutput, Targets
from yolov9.loss.terms import bce_class_loss, ciou_box_loss, dfl_loss
from yolov9.models.head import HeadOutput
from yolov9.models.yolov9 import ModelOutput
from yolov9.ops.boxes import bbox2dist, dist2bbox


def pad_targets(targets: Tensor, batch_size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Flat targets -> padded per-image tensors, without a Python loop over images.

    Args:
        targets: (N, 6) rows of (image index, class, x1, y1, x2, y2), boxes in input pixels.

    Returns:
        labels (B, M, 1), boxes_xyxy (B, M, 4), mask (B, M, 1) bool; M = most boxes in an image.
        Boxes keep their order within each image.
    """
    device = targets.device
    if targets.numel() == 0:
        z = torch.zeros(batch_size, 0, 1, device=device)
        return z.long(), torch.zeros(batch_size, 0, 4, device=device), z.bool()
    image = targets[:, 0].long()
    order = torch.argsort(image, stable=True)
    targets, image = targets[order], image[order]
    counts = torch.bincount(image, minlength=batch_size)
    m = int(counts.max())
    starts = torch.cumsum(counts, 0) - counts
    slot = torch.arange(len(image), device=device) - starts[image]
    labels = torch.zeros(batch_size, m, 1, dtype=torch.long, device=device)
    boxes = torch.zeros(batch_size, m, 4, dtype=targets.dtype, device=device)
    mask = torch.zeros(batch_size, m, 1, dtype=torch.bool, device=device)
    labels[image, slot, 0] = targets[:, 1].long()
    boxes[image, slot] = targets[:, 2:6]
    mask[image, slot, 0] = True
    return labels, boxes, mask


def used_heads(outputs: ModelOutput, aux_weight: float) -> list[tuple[str, HeadOutput]]:
    """("main", head) and, when it counts (present, weight > 0), ("aux", head)."""
    heads = [("main", outputs.main)]
    if outputs.aux is not None and aux_weight > 0:
        heads.append(("aux", outputs.aux))
    return heads


def combine_heads(per_head: dict[str, dict[str, Tensor]], aux_weight: float) -> dict[str, Tensor]:
    """Each term as ``main + aux_weight * aux`` (just ``main`` without an auxiliary head)."""
    main = per_head["main"]
    if "aux" not in per_head:
        return dict(main)
    return {k: v + aux_weight * per_head["aux"][k] for k, v in main.items()}


def loss_output(
    per_head: dict[str, dict[str, Tensor]], weighted: dict[str, Tensor], scale: int
) -> LossOutput:
    """The back-propagated total (the weighted terms summed in order, times ``scale``) and the
    logged parts: every head's unweighted terms (``main/box`` ...) and the weighted ones."""
    total = functools.reduce(operator.add, weighted.values())
    if scale != 1:
        total = total * scale
    parts = {
        f"{h}/{k}": float(v.detach()) for h, terms in per_head.items() for k, v in terms.items()
    }
    parts.update({k: float(v.detach()) for k, v in weighted.items()})
    return LossOutput(total, parts)


class YOLOv9Loss(nn.Module):
    """Loss of one or two heads. With PGI, ``total = main + aux_weight * aux`` per term.

    Args:
        num_classes: C.
        reg_max: DFL bins R (16).
        box_gain, cls_gain, dfl_gain: term weights (7.5, 0.5, 1.5).
        aux_weight: weight of the auxiliary head (0.25); 0 ignores it.
        topk, alpha, beta, resolve_among_candidates: assigner settings (10, 0.5, 6.0, False).
        scale_by_batch: multiply the total by the batch size, as the reference does (its SGD
            learning rates assume it).
    """

    proj: Tensor  # DFL bin values 0 ... R-1, a non-persistent buffer registered in __init__

    def __init__(
        self,
        num_classes: int,
        *,
        reg_max: int = 16,
        box_gain: float = 7.5,
        cls_gain: float = 0.5,
        dfl_gain: float = 1.5,
        aux_weight: float = 0.25,
        topk: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
        resolve_among_candidates: bool = False,
        scale_by_batch: bool = True,
    ) -> None:
        super().__init__()
        self.reg_max = reg_max
        self.gains = {"box": box_gain, "cls": cls_gain, "dfl": dfl_gain}
        self.aux_weight = aux_weight
        self.scale_by_batch = scale_by_batch
        self.assigner = TaskAlignedAssigner(
            num_classes, topk, alpha, beta, resolve_among_candidates
        )
        self.register_buffer("proj", torch.arange(reg_max, dtype=torch.float32), persistent=False)

    def forward(self, outputs: ModelOutput, targets: Targets) -> LossOutput:
        """
        Args:
            outputs: the model's raw output (train or eval mode).
            targets: the batch's boxes (masks, if any, are not used by detection).
        """
        batch_size = outputs.main.pred_logits.shape[0]
        gt = pad_targets(targets.boxes.to(outputs.main.pred_logits.device), batch_size)
        per_head = {}
        for name, head in used_heads(outputs, self.aux_weight):
            if targets.has("boxes"):
                per_head[name] = self.head_loss(head, *gt)
            else:  # a batch without box labels (Targets.labels): no detection term
                zero = head.pred_logits.new_zeros((), dtype=torch.float32)
                per_head[name] = dict.fromkeys(self.gains, zero)
        combined = combine_heads(per_head, self.aux_weight)
        weighted = {k: self.gains[k] * v for k, v in combined.items()}
        return loss_output(per_head, weighted, batch_size if self.scale_by_batch else 1)

    def head_loss(
        self, head: HeadOutput, gt_labels: Tensor, gt_boxes: Tensor, gt_mask: Tensor
    ) -> dict[str, Tensor]:
        """Unweighted box (CIoU), cls (BCE) and dfl terms of one head."""
        return self.assign_and_score(head, gt_labels, gt_boxes, gt_mask)[0]

    def assign_and_score(
        self, head: HeadOutput, gt_labels: Tensor, gt_boxes: Tensor, gt_mask: Tensor
    ) -> tuple[dict[str, Tensor], Assignment]:
        """The detection terms of one head and the assignment they were computed with (a
        task's criterion adds its own terms from the same assignment)."""
        pred_dist = head.pred_dist.float()
        pred_logits = head.pred_logits.float()
        anchors, strides = head.anchor_points.float(), head.stride_tensor.float()
        b, a, _ = pred_dist.shape
        prob = pred_dist.view(b, a, 4, self.reg_max).softmax(-1)
        pred_boxes = dist2bbox(prob @ self.proj, anchors)  # (B, A, 4), stride units
        assigned = self.assigner(
            pred_logits.detach().sigmoid(),
            (pred_boxes.detach() * strides).to(gt_boxes.dtype),
            anchors * strides,
            gt_labels,
            gt_boxes,
            gt_mask,
        )
        target_scores = assigned.scores
        normalizer = target_scores.sum().clamp(min=1)
        cls = bce_class_loss(pred_logits, target_scores, normalizer)
        fg = assigned.fg_mask
        if not fg.any():
            zero = pred_dist.sum() * 0.0  # keeps the graph connected (DDP, all params used)
            return {"box": zero, "cls": cls, "dfl": zero}, assigned
        target_boxes = assigned.boxes_xyxy / strides
        weight = target_scores.sum(-1)[fg]
        box = ciou_box_loss(pred_boxes[fg], target_boxes[fg], weight, normalizer)
        target_ltrb = bbox2dist(anchors, target_boxes, self.reg_max - 1 - 0.01)[fg]
        dfl = dfl_loss(pred_dist[fg].view(-1, 4, self.reg_max), target_ltrb, weight, normalizer)
        return {"box": box, "cls": cls, "dfl": dfl}, assigned
