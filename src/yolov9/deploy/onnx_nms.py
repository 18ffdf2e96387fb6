"""Append portable NMS to an exported graph, with the standard ONNX ``NonMaxSuppression`` op.

The network's outputs ``boxes`` (B, A, 4) xyxy pixels and ``scores`` (B, A, C) become:

* ``num_dets``    (B, 1) int64   detections kept per image (at most ``max_det``)
* ``det_boxes``   (B, max_det, 4) float32, xyxy in network-input pixels
* ``det_scores``  (B, max_det) float32, descending per image, 0 after ``num_dets``
* ``det_classes`` (B, max_det) int64, -1 after ``num_dets``

A segmentation graph (outputs ``coefficients`` (B, A, M) and ``prototypes`` (B, M, H/4, W/4)
as well) also gets

* ``det_coefficients`` (B, max_det, M) float32, each kept detection's mask coefficients, 0
  after ``num_dets``
* ``prototypes`` (B, M, H/4, W/4) float32, unchanged

so a detection's mask is ``sigmoid(det_coefficients[b, i] @ prototypes[b])`` over the
prototypes' grid (stride 4), cropped to its box, exactly as for the PyTorch model
(:func:`yolov9.tasks.segment.masks.masks_for_image`). A panoptic graph's ``semantic`` logits
(B, C + S, H/4, W/4) and a caption graph's ``caption_memory`` (B, S, d) pass through
unchanged.

NMS is per class (class-aware), like ``yolov9 predict``. With ``multi_label=False`` only each
anchor's best class is a candidate. Runs in ONNX Runtime and OpenVINO (and TensorRT) with any
batch size: the per-image top-k is done with sorting and scatter, not a loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from yolov9.tasks.base import BOX_NMS_OUTPUTS, BOX_OUTPUTS
from yolov9.tasks.caption import CAPTION_OUTPUTS
from yolov9.tasks.panoptic import SEMANTIC_OUTPUTS
from yolov9.tasks.segment import MASK_NMS_OUTPUTS, MASK_OUTPUTS

if TYPE_CHECKING:
    import onnx


def append_nms(
    model: onnx.ModelProto,
    *,
    max_det: int = 100,
    iou: float = 0.45,
    conf: float = 0.25,
    multi_label: bool = False,
) -> onnx.ModelProto:
    import onnx  # the export extra: this module is imported by ONNX exports only
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    names = {o.name for o in g.output}
    if not set(BOX_OUTPUTS) <= names:
        raise ValueError("the graph needs outputs 'boxes' and 'scores'")
    coefficients, prototypes = MASK_OUTPUTS
    segment = coefficients in names
    if segment and prototypes not in names:
        raise ValueError("a graph with mask coefficients needs the output 'prototypes'")
    kept_outputs = {}  # copies: the outputs are replaced below
    for o in g.output:
        kept_outputs[o.name] = onnx.ValueInfoProto()
        kept_outputs[o.name].CopyFrom(o)
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), f"nms/{name}"))
        return f"nms/{name}"

    def node(op: str, inputs: list[str], name: str, **attrs) -> str:  # type: ignore[no-untyped-def]
        out = f"nms/{name}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    scores = "scores"
    if not multi_label:  # keep each anchor's best class only
        best = node(
            "ReduceMax", [scores, const("axis_last", np.array([-1], np.int64))], "best", keepdims=1
        )
        is_best = node("Equal", [scores, best], "is_best")
        zeros = node("Mul", [scores, const("zero_f", np.array(0.0, np.float32))], "zeros")
        scores = node("Where", [is_best, "scores", zeros], "single")
    scores_bca = node("Transpose", [scores], "scores_bca", perm=[0, 2, 1])  # (B, C, A)
    selected = node(
        "NonMaxSuppression",
        [
            "boxes",
            scores_bca,
            const("max_per_class", np.array([max_det], np.int64)),
            const("iou", np.array([iou], np.float32)),
            const("conf", np.array([conf], np.float32)),
        ],
        "selected",
        center_point_box=0,
    )  # (N, 3): batch, class, anchor
    batch_idx = node("Gather", [selected, const("i0", np.array(0, np.int64))], "b", axis=1)
    class_idx = node("Gather", [selected, const("i1", np.array(1, np.int64))], "c", axis=1)
    anchor_idx = node("Gather", [selected, const("i2", np.array(2, np.int64))], "a", axis=1)
    # score of each selection: scores_bca[b, c, a]
    sel_score = node("GatherND", [scores_bca, selected], "s")
    batch_anchor = node(
        "Concat",
        [
            node("Unsqueeze", [batch_idx, const("ax1", np.array([1], np.int64))], "b2"),
            node("Unsqueeze", [anchor_idx, const("ax1b", np.array([1], np.int64))], "a2"),
        ],
        "ba",
        axis=1,
    )  # (N, 2): boxes[b, a] (and coefficients[b, a]) of each selection
    sel_boxes = node("GatherND", ["boxes", batch_anchor], "sel_boxes")  # (N, 4)
    # order: by image, then by descending score; key = b + (1 - s) / 2 in [b, b + 0.5]
    b_float = node("Cast", [batch_idx], "b_f", to=TensorProto.FLOAT)
    one_minus = node("Sub", [const("one", np.array(1.0, np.float32)), sel_score], "1ms")
    key = node(
        "Add",
        [b_float, node("Mul", [one_minus, const("half", np.array(0.5, np.float32))], "half_s")],
        "key",
    )
    n_sel = node("Shape", [key], "n_sel")
    order = "nms/order"
    sorted_key = "nms/sorted_key"
    nodes.append(
        helper.make_node(
            "TopK", [key, n_sel], [sorted_key, order], name="nms/topk", largest=0, sorted=1
        )
    )
    b_sorted = node("Gather", [batch_idx, order], "b_sorted")
    s_sorted = node("Gather", [sel_score, order], "s_sorted")
    c_sorted = node("Gather", [class_idx, order], "c_sorted")
    box_sorted = node("Gather", [sel_boxes, order], "box_sorted", axis=0)
    if segment:  # each selection's mask coefficients, in the same order
        sel_coeffs = node("GatherND", [coefficients, batch_anchor], "sel_coeffs")  # (N, M)
        coeffs_sorted = node("Gather", [sel_coeffs, order], "coeffs_sorted", axis=0)
    # rank of each selection inside its image: position - first position of its image
    batch_size = node(
        "Gather",
        [node("Shape", ["boxes"], "boxes_shape"), const("i0b", np.array([0], np.int64))],
        "B",
    )
    depth = node("Squeeze", [batch_size], "B_scalar")
    onehot = node(
        "OneHot",
        [b_sorted, depth, const("onehot_vals", np.array([0, 1], np.int64))],
        "onehot",
        axis=-1,
    )
    counts = node(
        "ReduceSum", [onehot, const("ax0", np.array([0], np.int64))], "counts", keepdims=0
    )  # (B,)
    starts = node("CumSum", [counts, const("ax0s", np.array(0, np.int64))], "starts", exclusive=1)
    first = node("Gather", [starts, b_sorted], "first")
    position = node(
        "Range",
        [
            const("r0", np.array(0, np.int64)),
            node("Squeeze", [n_sel], "n_scalar"),
            const("r1", np.array(1, np.int64)),
        ],
        "position",
    )
    rank = node("Sub", [position, first], "rank")
    keep = node("Less", [rank, const("max_det", np.array(max_det, np.int64))], "keep")
    keep_idx = node(
        "Reshape",
        [node("NonZero", [keep], "nz"), const("flat", np.array([-1], np.int64))],
        "keep_idx",
    )
    kb = node("Gather", [b_sorted, keep_idx], "kb")
    kr = node("Gather", [rank, keep_idx], "kr")
    scatter_idx = node(
        "Concat",
        [
            node("Unsqueeze", [kb, const("ax1c", np.array([1], np.int64))], "kb2"),
            node("Unsqueeze", [kr, const("ax1d", np.array([1], np.int64))], "kr2"),
        ],
        "scatter_idx",
        axis=1,
    )  # (K, 2)
    shape_bm = node(
        "Concat", [batch_size, const("md", np.array([max_det], np.int64))], "shape_bm", axis=0
    )
    shape_bm4 = node(
        "Concat", [shape_bm, const("four", np.array([4], np.int64))], "shape_bm4", axis=0
    )
    empty_scores = node(
        "ConstantOfShape",
        [shape_bm],
        "empty_scores",
        value=numpy_helper.from_array(np.array([0.0], np.float32)),
    )
    empty_classes = node(
        "ConstantOfShape",
        [shape_bm],
        "empty_classes",
        value=numpy_helper.from_array(np.array([-1], np.int64)),
    )
    empty_boxes = node(
        "ConstantOfShape",
        [shape_bm4],
        "empty_boxes",
        value=numpy_helper.from_array(np.array([0.0], np.float32)),
    )
    num_out, boxes_out, scores_out, classes_out = BOX_NMS_OUTPUTS
    coeffs_out = MASK_NMS_OUTPUTS[0]
    scattered: list[tuple[str, str, str, str, int | None]] = [
        (empty_scores, s_sorted, "ks", scores_out, None),
        (empty_classes, c_sorted, "kc", classes_out, None),
        (empty_boxes, box_sorted, "kbox", boxes_out, 0),
    ]
    if segment:
        num_masks = node(
            "Gather",
            [node("Shape", [coefficients], "coeffs_shape"), const("i2b", np.array([2], np.int64))],
            "M",
        )
        empty_coeffs = node(
            "ConstantOfShape",
            [node("Concat", [shape_bm, num_masks], "shape_bmm", axis=0)],
            "empty_coeffs",
            value=numpy_helper.from_array(np.array([0.0], np.float32)),
        )
        scattered.append((empty_coeffs, coeffs_sorted, "kcoef", coeffs_out, 0))
    # each output: the kept values scattered into a padded (batch, max_det, ...) tensor
    for empty, values, gathered, output, axis in scattered:
        attrs = {} if axis is None else {"axis": axis}
        kept = node("Gather", [values, keep_idx], gathered, **attrs)
        nodes.append(
            helper.make_node(
                "ScatterND",
                [empty, scatter_idx, kept],
                [output],
                name=f"nms/out_{output.removeprefix('det_')}",
            )
        )
    capped = node(
        "Min",
        [counts, node("Expand", [const("md1", np.array(max_det, np.int64)), batch_size], "md_b")],
        "capped",
    )
    nodes.append(
        helper.make_node(
            "Unsqueeze",
            [capped, const("ax1e", np.array([1], np.int64))],
            [num_out],
            name=f"nms/{num_out}",
        )
    )

    g.node.extend(nodes)
    g.initializer.extend(inits)
    del g.output[:]
    g.output.extend(
        [
            helper.make_tensor_value_info(num_out, TensorProto.INT64, ["batch", 1]),
            helper.make_tensor_value_info(boxes_out, TensorProto.FLOAT, ["batch", max_det, 4]),
            helper.make_tensor_value_info(scores_out, TensorProto.FLOAT, ["batch", max_det]),
            helper.make_tensor_value_info(classes_out, TensorProto.INT64, ["batch", max_det]),
        ]
    )
    if segment:
        dims = kept_outputs[coefficients].type.tensor_type.shape.dim
        masks: int | str = dims[2].dim_value if len(dims) == 3 and dims[2].dim_value else "masks"
        g.output.append(
            helper.make_tensor_value_info(coeffs_out, TensorProto.FLOAT, ["batch", max_det, masks])
        )
        g.output.append(kept_outputs[prototypes])
    # panoptic: the semantic logits; captions: the caption head's memory; both unchanged
    for name in (*SEMANTIC_OUTPUTS, *CAPTION_OUTPUTS):
        if name in kept_outputs:
            g.output.append(kept_outputs[name])
    return model
