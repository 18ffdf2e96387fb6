"""THE table of YOLOv9 variants: every size is one frozen :class:`ModelSpec`.

The sizes are not a width/depth scaling of one design: T and S use ELAN1 and AConv, M uses
RepNCSPELAN4 and AConv, C and E use ADown, and E has a dual (CB) backbone even at inference.
Widths are written out exactly as the authors' model files realise them (including the one
rounded width: GELAN-M's "AConv 180" builds 184 channels). Parameter counts and GFLOPs are for
80 classes and are pinned by ``tests/models/test_variants.py``.

``yolov9-x`` names the training graph (with the PGI auxiliary branch and dual head);
``gelan-x`` names the same spec without it, which is also what ``yolov9-x`` becomes after
:meth:`YOLOv9.drop_aux` (the published ``yolov9-x-converted`` files).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Literal

from yolov9.errors import ConfigError


class AuxKind(enum.Enum):
    """How PGI's auxiliary branch is realised for a size."""

    NECK = "neck"  # a second top-down neck over the (first) backbone's P3-P5 (T, S, E)
    REVERSIBLE = "reversible"  # CBLinear taps -> auxiliary GELAN backbone with CBFuse (M, C)


@dataclass(frozen=True)
class ElanSpec:
    """Arguments of one RepNCSPELAN4 (or ELAN1, which has no depth): (out, c3, c4, depth)."""

    out: int
    hidden: int  # c3: width after the first 1x1, split into two halves
    stage: int  # c4: width of each computational stage
    depth: int = 1  # c5: RepNBottlenecks per RepNCSP


@dataclass(frozen=True)
class BackboneSpec:
    """A single GELAN backbone with five levels P1 ... P5 (strides 2 ... 32)."""

    stem: tuple[int, int]  # widths of the two 3x3 stride-2 convs (P1, P2)
    first_block: Literal["elan1", "repncspelan4"]  # the P2 block
    block2: ElanSpec
    downsample: Literal["aconv", "adown"]  # also used in the neck's bottom-up path
    down: tuple[int, int, int]  # output widths of the P3, P4, P5 downsampling blocks
    stages: tuple[ElanSpec, ElanSpec, ElanSpec]  # P3, P4, P5 blocks

    @property
    def level_inputs(self) -> tuple[int, int, int, int, int]:
        """Width entering each level's block (the output of its downsampling step).

        This is where CBFuse adds routed features, so CBLinear slices have these widths.
        """
        return (self.stem[0], self.stem[1], *self.down)

    @property
    def level_outputs(self) -> tuple[int, int, int, int, int]:
        p3, p4, p5 = self.stages
        return (self.stem[0], self.block2.out, p3.out, p4.out, p5.out)


@dataclass(frozen=True)
class NeckSpec:
    """PAN neck: SPPELAN on P5, top-down (merge4, merge3), bottom-up (down4/5, merge4/5)."""

    spp: tuple[int, int]  # SPPELAN (out, hidden)
    top4: ElanSpec
    top3: ElanSpec
    down4: int
    bottom4: ElanSpec
    down5: int
    bottom5: ElanSpec

    @property
    def out_channels(self) -> tuple[int, int, int]:
        return (self.top3.out, self.bottom4.out, self.bottom5.out)


@dataclass(frozen=True)
class CaptionSpec:
    """Sizes of a caption head (defaults: the reference's 256 wide, 8 heads, FFN 512, one
    encoder and one decoder layer; beam search over at most 20 tokens)."""

    vocab_size: int = 0  # token ids (set from the tokenizer learnt on the training captions)
    d_model: int = 256
    heads: int = 8
    ffn: int = 512
    encoder_layers: int = 1
    decoder_layers: int = 1
    regions: int = 300  # top-scoring anchors read as region tokens
    max_len: int = 20  # longest caption in tokens, BOS and EOS not counted
    dropout: float = 0.1  # of the residual branches and the FFN
    attention_dropout: float = 0.1  # of the attention weights

    def __post_init__(self) -> None:
        if self.d_model % self.heads:
            raise ConfigError(
                f"caption d_model {self.d_model} is not a multiple of heads {self.heads}"
            )


@dataclass(frozen=True)
class HeadKind:
    """What a model's heads (main and auxiliary alike) predict, and how they are built.

    * ``detect``: boxes and classes (the reference's ``DDetect`` / ``DualDDetect``).
    * ``segment``: the authors' ``Segment``: the ungrouped ``Detect`` head, mask coefficients per
      anchor, and ``Proto`` (3x3 conv, nearest x2, 3x3 conv, 1x1 conv) on P3. No PGI form.
    * ``panoptic``: the authors' ``Panoptic``: ``segment`` plus a semantic branch (``UConv``) on
      P3 whose logits cover the thing classes then ``stuff_classes`` more, at stride 4.
    * ``dsegment``: the authors' ``DSegment`` / ``DualDSegment``: the grouped head, mask
      coefficients, and a prototype branch on P3 (RepNCSPELAN4 of depth ``proto_depth``,
      nearest x2, 3x3 conv, 1x1 conv). ``yolov9-x-seg`` is built with depth 2 and keeps it when
      converted; ``gelan-x-dseg`` is built with depth 1 (the authors' ``gelan-c-dseg.yaml``).
    * ``dpanoptic`` (ours: the authors' PGI panoptic graph does not build): ``dsegment`` plus
      the ``panoptic`` semantic branch, per head. ``yolov9-x-pan`` is built with prototype
      depth 2 (as ``yolov9-x-seg``) and keeps it when converted (``gelan-x-dpan``, built
      with depth 1 by name).
    * ``caption``: the detection head plus a caption head (``models.caption``) on the main
      path only (the auxiliary head is a detection head), of sizes ``caption``.
    * a panoptic kind with ``caption`` set: the all-task model (``yolov9-x-all``): the
      ``dpanoptic`` head and a caption head on the main path; the auxiliary head is panoptic.

    Prototype widths come from the size's neck: the P3 block's (out, hidden, stage) widths
    (C: 256, 256, 128, the authors' ``npr=256``), so the small sizes stay small.
    """

    name: str = "detect"
    proto_depth: int = 1
    num_masks: int = 32
    stuff_classes: int = 0  # panoptic: semantic channels beyond the thing classes
    caption: CaptionSpec | None = None  # caption: the caption head's sizes

    @property
    def task(self) -> str:
        """The task this head's models do (its object: ``yolov9.tasks.registry.get_task``); an
        unknown kind names itself, which the registry refuses in one line. A panoptic head
        with a caption head does every task: ``"all"``."""
        task = HEAD_TASKS.get(self.name, self.name)
        return WITH_CAPTION.get(task, task) if self.caption is not None else task


# head kinds without a PGI training graph -> what to use instead
NO_PGI_FORM = {
    "segment": "the authors' Segment head has no PGI form; use 'dsegment'",
    "panoptic": "the authors' Panoptic head has no PGI form; use 'dpanoptic' (yolov9-x-pan)",
}

# each head kind -> the task its models do
HEAD_TASKS = {
    "detect": "detect",
    "segment": "segment",
    "dsegment": "segment",
    "panoptic": "panoptic",
    "dpanoptic": "panoptic",
    "caption": "caption",
}
HEAD_KINDS = tuple(HEAD_TASKS)
# a head kind's task -> the task its models do with a caption head as well
WITH_CAPTION = {"panoptic": "all"}
DETECT = HeadKind()


@dataclass(frozen=True)
class ModelSpec:
    """One YOLOv9 size. Counts are for 80 classes (``nc=80``)."""

    size: str  # "t", "s", "m", "c", "e"
    backbone: BackboneSpec
    neck: NeckSpec
    dual_backbone: bool  # E: two backbones joined by CBLinear/CBFuse, kept at inference
    aux: AuxKind
    params_train: int  # yolov9-x, unfused
    params_train_fused: int
    params_deploy: int  # gelan-x, unfused
    params_deploy_fused: int
    gflops_train: float  # fused, 640x640, the reference's convention (see utils/flops.py)
    gflops_deploy: float
    reference: str  # paper/README row it reproduces


def _e(out: int, hidden: int, stage: int, depth: int = 1) -> ElanSpec:
    return ElanSpec(out, hidden, stage, depth)


YOLOV9_T = ModelSpec(
    size="t",
    backbone=BackboneSpec(
        stem=(16, 32),
        first_block="elan1",
        block2=_e(32, 32, 16),
        downsample="aconv",
        down=(64, 96, 128),
        stages=(_e(64, 64, 32, 3), _e(96, 96, 48, 3), _e(128, 128, 64, 3)),
    ),
    neck=NeckSpec(
        spp=(128, 64),
        top4=_e(96, 96, 48, 3),
        top3=_e(64, 64, 32, 3),
        down4=48,
        bottom4=_e(96, 96, 48, 3),
        down5=64,
        bottom5=_e(128, 128, 64, 3),
    ),
    dual_backbone=False,
    aux=AuxKind.NECK,
    params_train=3_717_680,
    params_train_fused=3_674_576,
    params_deploy=2_442_640,
    params_deploy_fused=2_407_632,
    gflops_train=16.17,
    gflops_deploy=9.82,
    reference="YOLOv9-T: 38.3 AP (README says 2.0M/7.7G; its released model file builds 2.4M/9.8G)",
)

YOLOV9_S = ModelSpec(
    size="s",
    backbone=BackboneSpec(
        stem=(32, 64),
        first_block="elan1",
        block2=_e(64, 64, 32),
        downsample="aconv",
        down=(128, 192, 256),
        stages=(_e(128, 128, 64, 3), _e(192, 192, 96, 3), _e(256, 256, 128, 3)),
    ),
    neck=NeckSpec(
        spp=(256, 128),
        top4=_e(192, 192, 96, 3),
        top3=_e(128, 128, 64, 3),
        down4=96,
        bottom4=_e(192, 192, 96, 3),
        down5=128,
        bottom5=_e(256, 256, 128, 3),
    ),
    dual_backbone=False,
    aux=AuxKind.NECK,
    params_train=9_804_512,
    params_train_fused=9_659_168,
    params_deploy=7_226_208,
    params_deploy_fused=7_105_888,
    gflops_train=39.06,
    gflops_deploy=26.38,
    reference="YOLOv9-S: 46.8 AP, 7.1M params, 26.4 GFLOPs",
)

YOLOV9_M = ModelSpec(
    size="m",
    backbone=BackboneSpec(
        stem=(32, 64),
        first_block="repncspelan4",
        block2=_e(128, 128, 64, 1),
        downsample="aconv",
        down=(240, 360, 480),
        stages=(_e(240, 240, 120), _e(360, 360, 180), _e(480, 480, 240)),
    ),
    neck=NeckSpec(
        spp=(480, 240),
        top4=_e(360, 360, 180),
        top3=_e(240, 240, 120),
        down4=184,  # "AConv 180" in the model file, rounded up to a multiple of 8 when built
        bottom4=_e(360, 360, 180),
        down5=240,
        bottom5=_e(480, 480, 240),
    ),
    dual_backbone=False,
    aux=AuxKind.REVERSIBLE,
    params_train=32_878_432,
    params_train_fused=32_667_400,
    params_deploy=20_124_000,
    params_deploy_fused=19_978_672,
    gflops_train=131.33,
    gflops_deploy=76.32,
    reference="YOLOv9-M: 51.4 AP, 20.0M params, 76.3 GFLOPs",
)

YOLOV9_C = ModelSpec(
    size="c",
    backbone=BackboneSpec(
        stem=(64, 128),
        first_block="repncspelan4",
        block2=_e(256, 128, 64, 1),
        downsample="adown",
        down=(256, 512, 512),
        stages=(_e(512, 256, 128), _e(512, 512, 256), _e(512, 512, 256)),
    ),
    neck=NeckSpec(
        spp=(512, 256),
        top4=_e(512, 512, 256),
        top3=_e(256, 256, 128),
        down4=256,
        bottom4=_e(512, 512, 256),
        down5=512,
        bottom5=_e(512, 512, 256),
    ),
    dual_backbone=False,
    aux=AuxKind.REVERSIBLE,
    params_train=51_182_080,
    params_train_fused=50_880_768,
    params_deploy=25_498_752,
    params_deploy_fused=25_288_768,
    gflops_train=237.64,
    gflops_deploy=102.15,
    reference="YOLOv9-C: 53.0 AP, 25.3M params, 102.1 GFLOPs",
)

YOLOV9_E = ModelSpec(
    size="e",
    backbone=BackboneSpec(
        stem=(64, 128),
        first_block="repncspelan4",
        block2=_e(256, 128, 64, 2),
        downsample="adown",
        down=(256, 512, 1024),
        stages=(_e(512, 256, 128, 2), _e(1024, 512, 256, 2), _e(1024, 512, 256, 2)),
    ),
    neck=NeckSpec(
        spp=(512, 256),
        top4=_e(512, 512, 256, 2),
        top3=_e(256, 256, 128, 2),
        down4=256,
        bottom4=_e(512, 512, 256, 2),
        down5=512,
        bottom5=_e(512, 1024, 512, 2),
    ),
    dual_backbone=True,
    aux=AuxKind.NECK,
    params_train=69_529_664,
    params_train_fused=68_669_632,
    params_deploy=58_114_432,
    params_deploy_fused=57_345_920,
    gflops_train=241.36,
    gflops_deploy=188.95,
    reference="YOLOv9-E: 55.6 AP, 57.3M params, 189.0 GFLOPs",
)

SPECS: dict[str, ModelSpec] = {
    s.size: s for s in (YOLOV9_T, YOLOV9_S, YOLOV9_M, YOLOV9_C, YOLOV9_E)
}

# Graphs whose layout the authors publish (model files and released checkpoints); every other
# segmentation name is our extension of their design to the other sizes.
AUTHORS_GRAPHS = frozenset(
    [f"{f}-{s}" for f in ("yolov9", "gelan") for s in SPECS]
    + ["gelan-c-seg", "gelan-c-dseg", "yolov9-c-seg", "gelan-c-pan"]
)
