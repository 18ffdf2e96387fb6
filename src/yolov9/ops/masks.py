"""Instance-mask operations: prototype masks -> per-detection masks, cropping, resampling and
COCO run-length / polygon encodings.

The mask head predicts ``C`` prototype masks ``protos`` (C, h, w) for the whole network input
(H, W) (a quarter of its size in YOLOv9) and, per detection, ``C`` coefficients. A detection's
mask is ``sigmoid(coeffs @ protos)``, kept inside the detection's box, above 0.5.

Pixel conventions: pixel ``(row, col)`` covers ``[col, col + 1) x [row, row + 1)`` in
continuous coordinates, so its centre is at ``(col + 0.5, row + 0.5)``. A box keeps the
pixels whose index satisfies ``x1 <= col < x2`` and ``y1 <= row < y2`` (the reference's rule).

Nothing here knows about letterboxing: mapping masks to the original image is done by
``yolov9.tasks.segment.masks`` with these building blocks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypedDict

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from faster_coco_eval.core import mask as coco_mask
from torch import Tensor

# (top, left, bottom, right): a rectangle in continuous pixel coordinates (floats allowed)
Region = tuple[float, float, float, float]
# (top, left, bottom, right): a range of pixel indices, rows top..bottom-1, cols left..right-1
Window = tuple[int, int, int, int]


class RLE(TypedDict):
    """COCO run-length encoding: ``size`` is [height, width], ``counts`` the compressed runs
    (column-major), as text."""

    size: list[int]
    counts: str


def _coordinate_dtype(boxes: Tensor) -> torch.dtype:
    return torch.float64 if boxes.dtype == torch.float64 else torch.float32


def crop_masks(masks: Tensor, boxes_xyxy: Tensor) -> Tensor:
    """Zero every mask outside its box.

    Args:
        masks: (N, h, w) masks of any dtype (bool stays bool).
        boxes_xyxy: (N, 4) corner boxes in the masks' pixels. A pixel is kept when its index
            satisfies ``x1 <= col < x2`` and ``y1 <= row < y2``.

    Returns:
        (N, h, w) masks, same dtype and device.
    """
    _, h, w = masks.shape
    dtype = _coordinate_dtype(boxes_xyxy)
    b = boxes_xyxy.to(device=masks.device, dtype=dtype)[:, :, None, None]  # (N, 4, 1, 1)
    cols = torch.arange(w, device=masks.device, dtype=dtype)[None, None, :]
    rows = torch.arange(h, device=masks.device, dtype=dtype)[None, :, None]
    inside = (cols >= b[:, 0]) & (cols < b[:, 2]) & (rows >= b[:, 1]) & (rows < b[:, 3])
    return masks.masked_fill(~inside, 0)


def box_window(box_xyxy: Sequence[float] | np.ndarray | Tensor, shape: tuple[int, int]) -> Window:
    """The pixel indices :func:`crop_masks` keeps for one box, as a window clipped to
    ``shape`` (h, w): rows ``top..bottom-1`` and cols ``left..right-1`` (empty when
    ``bottom <= top`` or ``right <= left``).

    ``col >= x1`` for an integer ``col`` is ``col >= ceil(x1)``, so the window is
    ``[ceil(x1), ceil(x2))`` in x (and the same in y); pass the box in the precision the crop
    would compare in (float32 values give the same pixels as a float32 crop).
    """
    x1, y1, x2, y2 = (float(v) for v in box_xyxy)
    h, w = shape

    def edge(v: float, n: int) -> int:
        if math.isnan(v):
            return 0
        return min(max(math.ceil(v), 0), n) if math.isfinite(v) else (0 if v < 0 else n)

    top, left, bottom, right = edge(y1, h), edge(x1, w), edge(y2, h), edge(x2, w)
    return top, left, max(bottom, top), max(right, left)


def mask_probabilities(protos: Tensor, coeffs: Tensor) -> Tensor:
    """``sigmoid(coeffs @ protos)``: (C, h, w) prototypes and (N, C) coefficients -> (N, h, w)
    float32 probabilities (computed in float32 whatever the inputs' precision)."""
    c, h, w = protos.shape
    logits = coeffs.to(device=protos.device, dtype=torch.float32) @ protos.float().reshape(c, -1)
    return logits.sigmoid().reshape(-1, h, w)


def process_masks(
    protos: Tensor,
    coeffs: Tensor,
    boxes_xyxy: Tensor,
    input_shape: tuple[int, int],
    upsample: bool = True,
) -> Tensor:
    """Per-detection masks at the network input's size (the reference's default).

    Order of operations (as the reference's ``process_mask``): probabilities
    ``sigmoid(coeffs @ protos)`` at prototype resolution; crop with the boxes scaled into
    prototype pixels (x by w/W, y by h/H); bilinear upsampling (``align_corners=False``) to
    ``input_shape``; threshold ``> 0.5``.

    Args:
        protos: (C, h, w) prototype masks.
        coeffs: (N, C) mask coefficients.
        boxes_xyxy: (N, 4) boxes in network-input pixels.
        input_shape: (H, W) of the network input.
        upsample: False keeps the result at prototype resolution (h, w).

    Returns:
        (N, H, W) bool masks, or (N, h, w) without ``upsample``, on the prototypes' device.
    """
    _, h, w = protos.shape
    ih, iw = input_shape
    out_shape = (ih, iw) if upsample else (h, w)
    n = coeffs.shape[0]
    if n == 0:
        return torch.zeros((0, *out_shape), dtype=torch.bool, device=protos.device)
    probs = mask_probabilities(protos, coeffs)
    dtype = _coordinate_dtype(boxes_xyxy)
    scale = torch.tensor([w / iw, h / ih, w / iw, h / ih], device=protos.device, dtype=dtype)
    probs = crop_masks(probs, boxes_xyxy.to(device=protos.device, dtype=dtype) * scale)
    if upsample:
        probs = F.interpolate(probs[None], out_shape, mode="bilinear", align_corners=False)[0]
    return probs > 0.5


def sample_positions(
    n_out: int, start: float, stop: float, n_src: int, lo: int, hi: int, device: torch.device
) -> tuple[Tensor, Tensor, Tensor]:
    """Bilinear source positions for output indices ``lo..hi-1`` of ``n_out`` pixels that
    span ``[start, stop)`` of a source axis of ``n_src`` pixels: (i0, i1, weight of i1)."""
    scale = (stop - start) / n_out
    out = torch.arange(lo, hi, device=device, dtype=torch.float32)
    # continuous position of the output pixel's centre, in source pixel-index coordinates
    pos = (start + (out + 0.5) * scale - 0.5).clamp(0, n_src - 1)
    i0 = pos.floor()
    t = pos - i0
    i0 = i0.long()
    i1 = (i0 + 1).clamp(max=n_src - 1)
    return i0, i1, t


def resample_region(
    images: Tensor,
    region: Region,
    out_shape: tuple[int, int],
    window: Window | None = None,
) -> Tensor:
    """Bilinearly resample a rectangle of each image to ``out_shape``.

    The rectangle ``region`` = (top, left, bottom, right), in the images' continuous pixel
    coordinates (fractions allowed), is stretched over the ``out_shape`` (h0, w0) output
    pixels; output pixel centres are mapped back into the source, sampled bilinearly, and
    positions outside the source take the nearest edge value. With ``region`` the whole
    image this equals ``F.interpolate(..., mode="bilinear", align_corners=False)``.

    Args:
        images: (N, h, w) float tensor.
        region: the source rectangle that becomes the output.
        out_shape: (h0, w0) of the full output.
        window: compute only this part of the output (top, left, bottom, right indices), a
            cut of what the full output would hold: memory and time scale with the window.

    Returns:
        (N, h0, w0) or (N, bottom - top, right - left) tensor, images' dtype and device.
    """
    _, h, w = images.shape
    h0, w0 = out_shape
    top, left, bottom, right = window if window is not None else (0, 0, h0, w0)
    r0, r1, ty = sample_positions(h0, region[0], region[2], h, top, bottom, images.device)
    c0, c1, tx = sample_positions(w0, region[1], region[3], w, left, right, images.device)
    ty = ty.to(images.dtype)[None, :, None]
    tx = tx.to(images.dtype)[None, None, :]
    rows = images.index_select(1, r0) * (1 - ty) + images.index_select(1, r1) * ty
    return rows.index_select(2, c0) * (1 - tx) + rows.index_select(2, c1) * tx


def process_masks_native(
    protos: Tensor,
    coeffs: Tensor,
    boxes_xyxy: Tensor,
    out_shape: tuple[int, int],
    region: Region | None = None,
) -> Tensor:
    """Per-detection masks resampled straight from prototype resolution to an arbitrary
    output size (sharper than upsampling to the network input first), like the reference's
    ``process_mask_native`` but with a fractional ``region``.

    Order: probabilities ``sigmoid(coeffs @ protos)``; the ``region`` of the prototype map
    (top, left, bottom, right in prototype pixels; default the whole map) resampled bilinearly
    to ``out_shape``; crop with ``boxes_xyxy`` given in output pixels; threshold ``> 0.5``.

    This builds (N, h0, w0) dense masks; ``yolov9.tasks.segment.masks`` computes the same pixels
    one box window at a time with :func:`resample_region`.

    Returns:
        (N, h0, w0) bool masks on the prototypes' device.
    """
    _, h, w = protos.shape
    n = coeffs.shape[0]
    if n == 0:
        return torch.zeros((0, *out_shape), dtype=torch.bool, device=protos.device)
    probs = mask_probabilities(protos, coeffs)
    full: Region = (0.0, 0.0, float(h), float(w))
    probs = resample_region(probs, region if region is not None else full, out_shape)
    return crop_masks(probs, boxes_xyxy) > 0.5


# ---------------------------------------------------------------------------------------------
# COCO run-length encoding and polygons (numpy)


def encode_rle(mask: np.ndarray) -> RLE:
    """(H, W) bool mask -> COCO RLE ``{"size": [H, W], "counts": str}`` (JSON-ready; the same
    runs ``pycocotools.mask.encode`` gives, counts decoded to text)."""
    if mask.ndim != 2:
        raise ValueError(f"expected an (H, W) mask, got shape {mask.shape}")
    h, w = mask.shape
    rle = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)[:, :, None]))[0]
    counts = rle["counts"]
    return {
        "size": [int(h), int(w)],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else str(counts),
    }


def encode_rle_crop(crop: np.ndarray, offset: tuple[int, int], shape: tuple[int, int]) -> RLE:
    """COCO RLE of a (H, W) = ``shape`` mask that is background except for the bool ``crop``
    placed at ``offset`` (top, left); the same as :func:`encode_rle` of the full mask, but
    the runs are counted over the crop's columns only (no full-size array)."""
    h_img, w_img = shape
    top, left = offset
    ch, cw = crop.shape
    if top < 0 or left < 0 or top + ch > h_img or left + cw > w_img:
        raise ValueError(f"crop {ch}x{cw} at {offset} outside the {h_img}x{w_img} mask")
    if crop.size == 0 or not crop.any():
        counts = [h_img * w_img]
    else:
        columns = np.zeros((cw, h_img), bool)  # the crop's columns, full height, column-major
        columns[:, top : top + ch] = crop.T
        flat = columns.reshape(-1)
        edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        runs = np.diff(np.concatenate(([0], edges, [flat.size]))).tolist()
        if flat[0]:  # COCO runs start with background
            runs.insert(0, 0)
        runs[0] += left * h_img
        after = (w_img - left - cw) * h_img
        if not flat[-1]:
            runs[-1] += after
        elif after:
            runs.append(after)
        counts = [int(c) for c in runs]
    rle = coco_mask.frPyObjects([{"size": [h_img, w_img], "counts": counts}], h_img, w_img)[0]
    text = rle["counts"]
    return {
        "size": [int(h_img), int(w_img)],
        "counts": text.decode("ascii") if isinstance(text, bytes) else str(text),
    }


def decode_rle(rle: RLE | dict[str, Any]) -> np.ndarray:
    """COCO RLE (counts as text or bytes) -> (H, W) bool mask."""
    counts = rle["counts"]
    if isinstance(counts, list):  # uncompressed RLE
        h, w = rle["size"]
        rle = coco_mask.frPyObjects([dict(rle)], h, w)[0]
        counts = rle["counts"]
    obj = {"size": list(rle["size"]), "counts": counts}
    return np.ascontiguousarray(coco_mask.decode([obj])[:, :, 0]).astype(bool)


def mask_to_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Outer boundaries of a (H, W) bool mask, one (K, 2) float32 array of (x, y) vertices per
    connected part (parts with fewer than 3 vertices dropped; holes are not represented).

    Vertices are the indices (col, row) of the boundary pixels, as ``cv2.findContours`` gives
    them, so :func:`polygons_to_mask` (``cv2.fillPoly``) gives the mask back (without holes).
    """
    contours, _ = cv2.findContours(
        mask.astype(np.uint8, copy=False), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
    )
    return [c.reshape(-1, 2).astype(np.float32) for c in contours if len(c) >= 3]


def polygons_to_mask(
    polygons: Sequence[np.ndarray | Sequence[float]], h: int, w: int
) -> np.ndarray:
    """Rasterise polygons ((K, 2) arrays or flat [x1, y1, x2, y2, ...] lists, pixel-index
    coordinates as :func:`mask_to_polygons` gives) into one (h, w) bool mask."""
    canvas = np.zeros((h, w), np.uint8)
    points = [np.round(np.asarray(p, np.float64).reshape(-1, 2)).astype(np.int32) for p in polygons]
    points = [p for p in points if len(p)]
    if points:
        cv2.fillPoly(canvas, points, 1)
    return canvas.astype(bool)
