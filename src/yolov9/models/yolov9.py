"""The YOLOv9 detector: backbone -> neck -> head, plus the optional PGI auxiliary branch."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor, nn

from yolov9.errors import ConfigError
from yolov9.models.aux import build_aux
from yolov9.models.backbone import DualBackbone, GELANBackbone
from yolov9.models.blocks import fuse_model
from yolov9.models.caption import CaptionHead
from yolov9.models.head import STRIDES, HeadOutput
from yolov9.models.heads import build_head
from yolov9.models.neck import PANNeck
from yolov9.models.variants import DETECT, NO_PGI_FORM, HeadKind, ModelSpec


class ModelOutput(NamedTuple):
    """``main``: the head used for inference; ``aux``: the PGI auxiliary head (or None)."""

    main: HeadOutput
    aux: HeadOutput | None


class YOLOv9(nn.Module):
    """YOLOv9 / GELAN detector.

    With ``with_aux=True`` this is the YOLOv9 training graph (PGI auxiliary branch in
    ``self.aux``); without it, the GELAN inference graph. The main path's state-dict keys do
    not depend on the branch, so converting is :meth:`drop_aux` and a converted checkpoint is
    the same dict without ``aux.*`` keys.

    ``head`` is the kind of head (main and auxiliary): detection or one of the two
    segmentation heads (:class:`HeadKind`); the backbone, neck and PGI branch are the same
    for every task.

    ``forward`` returns raw head outputs in train and eval mode alike. Use
    ``self.head.decode`` for boxes and scores, and :func:`yolov9.ops.non_max_suppression`.
    Inputs are RGB in [0, 1], with height and width multiples of 32.
    """

    strides = STRIDES

    def __init__(
        self,
        spec: ModelSpec,
        num_classes: int = 80,
        *,
        with_aux: bool = True,
        reg_max: int = 16,
        aux_mode: str = "pgi",
        head: HeadKind = DETECT,
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ConfigError(f"num_classes must be >= 1, got {num_classes}")
        self.spec = spec
        self.num_classes = num_classes
        self.reg_max = reg_max
        if with_aux and head.name in NO_PGI_FORM:
            raise ConfigError(NO_PGI_FORM[head.name])
        self.head_kind = head
        self.backbone: nn.Module = (
            DualBackbone(spec.backbone) if spec.dual_backbone else GELANBackbone(spec.backbone)
        )
        self.neck = PANNeck(spec.neck, spec.backbone.level_outputs[2:], spec.backbone.downsample)
        self.head = build_head(head, num_classes, spec.neck.out_channels, reg_max, spec.neck.top3)
        self.caption: CaptionHead | None = (
            CaptionHead(head.caption, spec.neck.out_channels) if head.caption is not None else None
        )
        self.aux_mode = aux_mode if with_aux else "none"
        self.aux: nn.Module | None = (
            build_aux(spec, num_classes, reg_max, aux_mode, head) if with_aux else None
        )

    @property
    def task(self) -> str:
        """The task its head does: ``"detect"``, ``"segment"``, ``"panoptic"``, ``"caption"``
        or ``"all"``."""
        return self.head_kind.task

    @property
    def name(self) -> str:
        """``yolov9-x`` with the auxiliary branch, ``gelan-x`` without it; ``-seg`` / ``-dseg``
        for segmentation (``yolov9-x-seg`` becomes ``gelan-x-dseg`` when converted)."""
        family = "yolov9" if self.aux is not None else "gelan"
        suffix = {
            "detect": "",
            "segment": "-seg",
            "dsegment": "-dseg",
            "panoptic": "-pan",
            "dpanoptic": "-dpan",
            "caption": "-cap",
        }[self.head_kind.name]
        if self.aux is not None:  # the PGI graph's name: yolov9-x-seg, yolov9-x-pan
            suffix = {"-dseg": "-seg", "-dpan": "-pan"}.get(suffix, suffix)
        suffix = {"all": "-all"}.get(self.task, suffix)  # the all-task network, with or without PGI
        return f"{family}-{self.spec.size}{suffix}"

    def forward(self, images: Tensor, captions: Tensor | None = None) -> ModelOutput:
        """``captions`` (B, T) token ids (caption models, teacher forcing): the main output
        then carries their next-token logits."""
        features = self.backbone(images)
        levels = list(self.neck(*features.levels[2:]))
        main = self.head(levels)
        if self.caption is not None:
            memory, logits = self.caption(levels, main.pred_logits, captions)
            main = main._replace(memory=memory, caption_logits=logits)
        aux = self.aux(images, features.aux_taps) if self.aux is not None else None
        return ModelOutput(main, aux)

    def drop_aux(self) -> YOLOv9:
        """Remove the PGI auxiliary branch (YOLOv9-X -> GELAN-X); the main output is unchanged."""
        self.aux = None
        self.aux_mode = "none"
        return self

    def fuse(self) -> YOLOv9:
        """Fold BatchNorms and RepConvN branches for inference (in place; use in eval mode)."""
        fuse_model(self)
        return self
