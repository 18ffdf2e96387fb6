"""PGI auxiliary branches (training only; :meth:`YOLOv9.drop_aux` removes them at no cost).

Nothing in the main path reads these modules, so the main head's output is the same with or
without them; they only add gradient paths into the backbone during training.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from yolov9.errors import ConfigError
from yolov9.models.backbone import CBLinks, GELANBackbone
from yolov9.models.head import HeadOutput
from yolov9.models.heads import build_head
from yolov9.models.neck import TopDownPath
from yolov9.models.variants import DETECT, AuxKind, HeadKind, ModelSpec


class AuxNeckBranch(nn.Module):
    """T, S and E: a second top-down neck over the (first) backbone's P3-P5 and its own head.

    Its gradients reach the backbone directly instead of through the main neck: deep
    supervision through an auxiliary path.
    """

    def __init__(
        self, spec: ModelSpec, num_classes: int, reg_max: int = 16, head: HeadKind = DETECT
    ) -> None:
        super().__init__()
        n = spec.neck
        self.neck = TopDownPath(n, spec.backbone.level_outputs[2:])
        self.head = build_head(
            head, num_classes, (n.top3.out, n.top4.out, n.spp[0]), reg_max, n.top3
        )

    def forward(self, images: Tensor, taps: Sequence[Tensor]) -> HeadOutput:
        return self.head(list(self.neck(*taps[2:])))


class ReversibleBranch(nn.Module):
    """M and C: the auxiliary reversible branch of PGI.

    CBLinear taps on the main backbone's P3, P4, P5 route every level's features into every
    shallower level of a second, full GELAN backbone that starts again from the image
    (added by CBFuse after each downsampling step); the auxiliary head reads that backbone.
    """

    def __init__(
        self, spec: ModelSpec, num_classes: int, reg_max: int = 16, head: HeadKind = DETECT
    ) -> None:
        super().__init__()
        b = spec.backbone
        self.links = CBLinks(b.level_outputs[2:], b.level_inputs[2:], first=2)
        self.backbone = GELANBackbone(b)
        self.head = build_head(head, num_classes, b.level_outputs[2:], reg_max, spec.neck.top3)

    def forward(self, images: Tensor, taps: Sequence[Tensor]) -> HeadOutput:
        levels = self.backbone(images, self.links(taps[2:])).levels
        return self.head(levels[2:])


class DeepSupervisionBranch(nn.Module):
    """Plain deep supervision (the paper's ablation baseline, Fig. 3(b)): an auxiliary head
    directly on the backbone's P3-P5, with no auxiliary neck or reversible branch."""

    def __init__(
        self, spec: ModelSpec, num_classes: int, reg_max: int = 16, head: HeadKind = DETECT
    ) -> None:
        super().__init__()
        self.head = build_head(
            head, num_classes, spec.backbone.level_outputs[2:], reg_max, spec.neck.top3
        )

    def forward(self, images: Tensor, taps: Sequence[Tensor]) -> HeadOutput:
        return self.head(list(taps[2:]))


AUX_MODES = ("pgi", "deep-supervision")


def build_aux(
    spec: ModelSpec,
    num_classes: int,
    reg_max: int = 16,
    mode: str = "pgi",
    head: HeadKind = DETECT,
) -> nn.Module:
    """The auxiliary branch of ``spec``: PGI as the paper builds it for that size, or plain
    deep supervision for the ablation; its head is of the model's kind."""
    if mode == "deep-supervision":
        return DeepSupervisionBranch(spec, num_classes, reg_max, head)
    if mode != "pgi":
        raise ConfigError(f"auxiliary mode must be one of {AUX_MODES}, got {mode!r}")
    if spec.aux is AuxKind.REVERSIBLE:
        return ReversibleBranch(spec, num_classes, reg_max, head)
    return AuxNeckBranch(spec, num_classes, reg_max, head)
