"""The instance-segmentation criterion: the detection terms plus the mask term, per head.

The mask term of one head (the reference's ``utils/segment/loss_tal.py``): for every positive
anchor, the mask logits ``coeffs @ protos`` (at prototype resolution) against the mask of the
ground truth the anchor was assigned to, per-pixel BCE-with-logits, zeroed outside that
ground truth's box, averaged over the pixels, divided by the box's normalised area; averaged
over the image's positives and summed over the images. Gains: box 7.5, seg 2.5 / batch size,
cls 0.5, dfl 1.5; with PGI every term is ``main + aux_weight * aux``, each head assigned with
its own predictions and using its own prototypes.

Unlike the reference, the normaliser of the box, cls and dfl terms is clamped to >= 1 (as in
detection), so a batch without objects gives finite losses (and zero box, dfl and mask terms).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from yolov9.loss.assigner import Assignment
from yolov9.loss.criterion import (
    YOLOv9Loss,
    combine_heads,
    loss_output,
    pad_targets,
    used_heads,
)
from yolov9.loss.interface import LossOutput, Targets
from yolov9.models.head import HeadOutput
from yolov9.models.yolov9 import ModelOutput
from yolov9.ops.masks import crop_masks

TERMS = ("box", "seg", "cls", "dfl")  # the reference's logging order


class SegmentationLoss(nn.Module):
    """Loss of one or two segmentation heads.

    Args:
        num_classes: C.
        overlap: the ground-truth masks are one index map per image (values 1..n for the
            image's objects in order, 0 background) instead of one binary mask per object.
        box_gain, seg_gain, cls_gain, dfl_gain: term weights (7.5, 2.5, 0.5, 1.5); the mask
            term is further divided by the batch size, as in the reference.
        aux_weight: weight of the auxiliary head (0.25); 0 ignores it.
        min_area: floor of a box's normalised area in the mask term's division.
        Other arguments as :class:`~yolov9.loss.criterion.YOLOv9Loss`.
    """

    def __init__(
        self,
        num_classes: int,
        *,
        overlap: bool = False,
        reg_max: int = 16,
        box_gain: float = 7.5,
        seg_gain: float = 2.5,
        cls_gain: float = 0.5,
        dfl_gain: float = 1.5,
        aux_weight: float = 0.25,
        topk: int = 10,
        alpha: float = 0.5,
        beta: float = 6.0,
        min_area: float = 1e-9,
        resolve_among_candidates: bool = False,
        scale_by_batch: bool = True,
    ) -> None:
        super().__init__()
        self.terms: tuple[str, ...] = TERMS
        self.detection = YOLOv9Loss(
            num_classes,
            reg_max=reg_max,
            aux_weight=aux_weight,
            topk=topk,
            alpha=alpha,
            beta=beta,
            resolve_among_candidates=resolve_among_candidates,
        )
        self.gains = {"box": box_gain, "seg": seg_gain, "cls": cls_gain, "dfl": dfl_gain}
        self.overlap = overlap
        self.aux_weight = aux_weight
        self.min_area = min_area
        self.scale_by_batch = scale_by_batch

    def forward(self, outputs: ModelOutput, targets: Targets) -> LossOutput:
        """
        Args:
            outputs: the model's raw output (train or eval mode), with coefficients and protos.
            targets: boxes (N, 6) and masks: (N, h, w) one per box, or (B, h, w) index maps
                with ``overlap``; any resolution (resized to the prototypes' by nearest).
        """
        if targets.masks is None and targets.has("masks"):
            raise ValueError("the segmentation loss needs the batch's masks (Targets.masks)")
        device = outputs.main.pred_logits.device
        batch_size = outputs.main.pred_logits.shape[0]
        boxes = targets.boxes.to(device)
        gt = pad_targets(boxes, batch_size)
        image_of = boxes[:, 0].long()
        masks = (
            targets.masks.to(device) if targets.has("masks") and targets.masks is not None else None
        )
        per_head = {}
        for name, head in used_heads(outputs, self.aux_weight):
            per_head[name] = self.head_terms(head, gt, masks, image_of, targets)
        combined = combine_heads(per_head, self.aux_weight)
        weighted = {k: self.gains[k] * combined[k] for k in self.terms}
        weighted["seg"] = weighted["seg"] / batch_size
        return loss_output(per_head, weighted, batch_size if self.scale_by_batch else 1)

    def head_terms(
        self,
        head: HeadOutput,
        gt: tuple[Tensor, Tensor, Tensor],
        masks: Tensor | None,
        image_of: Tensor,
        targets: Targets,
    ) -> dict[str, Tensor]:
        """The unweighted terms of one head (subclasses add theirs); 0 for the terms of label
        kinds the batch lacks (``Targets.labels``: no box term without boxes, no mask term
        without masks)."""
        zero = head.pred_logits.new_zeros((), dtype=torch.float32)
        if not targets.has("boxes"):
            return dict.fromkeys(TERMS, zero)
        terms, assigned = self.detection.assign_and_score(head, *gt)
        terms["seg"] = zero if masks is None else self.mask_loss(head, assigned, masks, image_of)
        return terms

    def mask_loss(
        self, head: HeadOutput, assigned: Assignment, masks: Tensor, image_of: Tensor
    ) -> Tensor:
        """The unweighted mask term of one head, summed over the batch's images."""
        if head.coeffs is None or head.protos is None:
            raise ValueError("the model's head has no mask outputs (coefficients, protos)")
        protos, coeffs = head.protos.float(), head.coeffs.float()
        b, m, mh, mw = protos.shape
        if tuple(masks.shape[-2:]) != (mh, mw):
            masks = F.interpolate(masks[None].float(), (mh, mw), mode="nearest")[0]
        # the network input's size: the prototypes are at stride 4
        scale = torch.tensor([mw * 4, mh * 4, mw * 4, mh * 4], device=protos.device)
        total = (coeffs.sum() + protos.sum()) * 0.0  # connected even without positives
        for i in range(b):
            fg = assigned.fg_mask[i]
            if not fg.any():
                continue
            index = assigned.gt_index[i][fg]
            if self.overlap:
                gt = (masks[i][None] == (index + 1).view(-1, 1, 1)).float()
            else:
                gt = masks[image_of == i][index].float()
            xyxyn = assigned.boxes_xyxy[i][fg].float() / scale
            area = ((xyxyn[:, 2] - xyxyn[:, 0]) * (xyxyn[:, 3] - xyxyn[:, 1])).clamp(
                min=self.min_area
            )
            logits = (coeffs[i][fg] @ protos[i].reshape(m, -1)).reshape(-1, mh, mw)
            bce = F.binary_cross_entropy_with_logits(logits, gt, reduction="none")
            inside = crop_masks(bce, xyxyn * scale.new_tensor([mw, mh, mw, mh]))
            total = total + (inside.mean((1, 2)) / area).mean()
        return total
