"""Instance masks in original-image pixels: from the mask head's prototypes and coefficients
through the letterbox back to the image, and a compact container for one image's masks.

Mapping rule (letterbox -> original image)
------------------------------------------
The letterbox places the original image as ``input = original * ratio + pad``
(:class:`~yolov9.data.images.LetterboxInfo`), the same affine map
:func:`~yolov9.data.images.boxes_to_original` inverts for the boxes. The original image
therefore occupies the network-input rectangle ``region = (pad_y, pad_x, pad_y + h0 * ratio,
pad_x + w0 * ratio)`` (top, left, bottom, right; fractional). Masks are resampled from that
rectangle, never from the padding, onto the (h0, w0) original pixel grid: each original pixel's
centre is mapped into the source and sampled bilinearly
(:func:`~yolov9.ops.masks.resample_region`). Two sources are offered:

* default (``full_resolution=False``), the reference's masks: the network-input-size masks of
  :func:`~yolov9.ops.masks.process_masks` (crop in prototype pixels, bilinear upsampling to the
  input, ``> 0.5``) are resampled as 0/1 floats from ``region`` to the original size and kept
  where the result is ``> 0.5`` (a pixel is in the mask when it is more than half covered by
  input-size mask pixels: no growth or erosion, unlike nearest-neighbour or ``>= 0.5`` rules);
* ``full_resolution=True``: the prototype-resolution probabilities are resampled from
  ``region`` scaled into prototype pixels (x by w/W, y by h/H) straight to the original size
  and thresholded ``> 0.5`` (sharper edges; more work for large images).

In both modes each mask is then cropped with its box in original pixels
(``boxes_to_original``, clipped to the image, the very boxes a ``Result`` reports), with the
``x1 <= col < x2, y1 <= row < y2`` rule, so a mask never leaves its box. Only the pixels inside
each box's window are computed, one detection at a time: memory stays bounded by the largest
box, not by N full-size masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from yolov9.data.images import LetterboxInfo, boxes_to_original
from yolov9.ops.masks import (
    RLE,
    Region,
    box_window,
    crop_masks,
    encode_rle_crop,
    mask_probabilities,
    mask_to_polygons,
    resample_region,
)

# Input pixels around a box where its reference mask is computed: the mask is zero beyond the
# bilinear spread of the cropped prototype pixels, and the mapping to the original image reads
# at most one pixel beyond the box.
_MARGIN = 8


class InstanceMasks:
    """The instance masks of one image's detections, stored compactly.

    Each mask is kept as the bool crop over the tight bounding rectangle of its pixels,
    bit-packed, with that rectangle's position; an empty mask stores nothing but a zero-size
    rectangle. Full-size arrays are made only on request (:meth:`mask`, :meth:`dense`).

    Attributes:
        shape: (H, W) of the image the masks belong to.
    """

    def __init__(
        self, shape: tuple[int, int], bounds: np.ndarray, packed: Sequence[np.ndarray]
    ) -> None:
        """Internal: use :meth:`from_dense`, :meth:`from_crops` or :meth:`empty`.

        ``bounds`` are (N, 4) int xyxy tight rectangles (x2, y2 exclusive), ``packed`` the
        ``np.packbits`` of each rectangle's crop (row-major).
        """
        self.shape = (int(shape[0]), int(shape[1]))
        self._bounds = np.asarray(bounds, dtype=np.int32).reshape(-1, 4)
        self._packed = list(packed)
        if len(self._packed) != len(self._bounds):
            raise ValueError(f"{len(self._packed)} crops for {len(self._bounds)} rectangles")
        self._areas = np.array([int(np.unpackbits(p).sum()) for p in self._packed], dtype=np.int64)

    # construction ----------------------------------------------------------------------------

    @classmethod
    def empty(cls, shape: tuple[int, int]) -> InstanceMasks:
        """No masks, for an image of ``shape`` (H, W)."""
        return cls(shape, np.zeros((0, 4), np.int32), [])

    @classmethod
    def from_dense(cls, masks: np.ndarray | Tensor) -> InstanceMasks:
        """(N, H, W) bool masks (numpy or torch) -> compact masks."""
        if isinstance(masks, Tensor):
            masks = masks.detach().cpu().numpy()
        masks = np.asarray(masks)
        if masks.ndim != 3:
            raise ValueError(f"expected (N, H, W) masks, got shape {masks.shape}")
        masks = masks.astype(bool, copy=False)
        return cls.from_crops(masks.shape[1:], list(masks), [(0, 0)] * len(masks))

    @classmethod
    def from_crops(
        cls,
        shape: tuple[int, int],
        crops: Sequence[np.ndarray],
        offsets: Sequence[tuple[int, int]],
    ) -> InstanceMasks:
        """Masks given as bool crops placed at ``offsets`` (top, left) in an image of
        ``shape`` (H, W); everything outside a crop is background. Crops are tightened to
        their pixels."""
        if len(crops) != len(offsets):
            raise ValueError(f"{len(crops)} crops but {len(offsets)} offsets")
        h, w = shape
        bounds = np.zeros((len(crops), 4), np.int32)
        packed: list[np.ndarray] = []
        for i, (crop, (top, left)) in enumerate(zip(crops, offsets, strict=True)):
            crop = np.asarray(crop).astype(bool, copy=False)
            ch, cw = crop.shape
            if top < 0 or left < 0 or top + ch > h or left + cw > w:
                raise ValueError(
                    f"mask {i}: crop {ch}x{cw} at ({top}, {left}) outside the {h}x{w} image"
                )
            rows = np.flatnonzero(crop.any(axis=1))
            if rows.size == 0:
                packed.append(np.zeros(0, np.uint8))
                continue
            cols = np.flatnonzero(crop.any(axis=0))
            r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
            bounds[i] = (left + c0, top + r0, left + c1, top + r1)
            packed.append(np.packbits(crop[r0:r1, c0:c1]))
        return cls(shape, bounds, packed)

    # access ----------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._packed)

    def __iter__(self) -> Iterator[np.ndarray]:
        """Full-size (H, W) masks, one at a time."""
        for i in range(len(self)):
            yield self.mask(i)

    def __repr__(self) -> str:
        return f"InstanceMasks(n={len(self)}, shape={self.shape}, nbytes={self.nbytes})"

    @property
    def areas(self) -> np.ndarray:
        """(N,) int64 pixel counts."""
        return self._areas.copy()

    @property
    def bounds(self) -> np.ndarray:
        """(N, 4) int32 xyxy tight rectangles of the masks' pixels (x2, y2 exclusive); all
        zero for an empty mask."""
        return self._bounds.copy()

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored arrays."""
        return sum(p.nbytes for p in self._packed) + self._bounds.nbytes + self._areas.nbytes

    def crop(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        """Mask ``i`` as its tight bool crop and the crop's (top, left) in the image."""
        x1, y1, x2, y2 = (int(v) for v in self._bounds[i])
        h, w = y2 - y1, x2 - x1
        bits = np.unpackbits(self._packed[i], count=h * w) if h * w else np.zeros(0, np.uint8)
        return bits.reshape(h, w).astype(bool), (y1, x1)

    def mask(self, i: int) -> np.ndarray:
        """Mask ``i`` as a full (H, W) bool array."""
        out = np.zeros(self.shape, bool)
        crop, (top, left) = self.crop(i)
        out[top : top + crop.shape[0], left : left + crop.shape[1]] = crop
        return out

    def dense(self) -> np.ndarray:
        """All masks as one (N, H, W) bool array."""
        out = np.zeros((len(self), *self.shape), bool)
        for i in range(len(self)):
            crop, (top, left) = self.crop(i)
            out[i, top : top + crop.shape[0], left : left + crop.shape[1]] = crop
        return out

    def rle(self, i: int) -> RLE:
        """Mask ``i`` as COCO RLE ``{"size": [H, W], "counts": str}``."""
        crop, offset = self.crop(i)
        return encode_rle_crop(crop, offset, self.shape)

    def rles(self) -> list[RLE]:
        return [self.rle(i) for i in range(len(self))]

    def polygons(self, i: int) -> list[np.ndarray]:
        """Outer boundaries of mask ``i``: (K, 2) float32 (x, y) arrays in image pixels (see
        :func:`~yolov9.ops.masks.mask_to_polygons`)."""
        crop, (top, left) = self.crop(i)
        if crop.size == 0:
            return []
        # a background frame, so that parts touching the crop's edge close properly
        framed = np.pad(crop, 1)
        offset = np.array([left - 1, top - 1], np.float32)
        return [p + offset for p in mask_to_polygons(framed)]

    def select(self, indices: Sequence[int] | np.ndarray) -> InstanceMasks:
        """The masks at ``indices`` (ints in the given order, or a boolean mask)."""
        idx = np.asarray(indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"boolean selector of shape {idx.shape} for {len(self)} masks")
            idx = np.flatnonzero(idx)
        idx = idx.astype(np.int64).reshape(-1)
        return InstanceMasks(self.shape, self._bounds[idx], [self._packed[int(i)] for i in idx])


def letterbox_region(info: LetterboxInfo) -> Region:
    """Where the original image lies in the network input: (top, left, bottom, right) in
    input pixels, the affine map of :func:`~yolov9.data.images.boxes_to_original`."""
    h0, w0 = info.original_shape
    left, top = info.pad
    return (float(top), float(left), top + h0 * info.ratio, left + w0 * info.ratio)


def masks_for_image(
    protos: Tensor,
    coeffs: Tensor,
    boxes_input: Tensor,
    input_shape: tuple[int, int],
    info: LetterboxInfo,
    full_resolution: bool = False,
) -> InstanceMasks:
    """One image's detection masks, in its original pixels (see the module's mapping rule).

    Args:
        protos: (C, h, w) prototype masks of this image (any device).
        coeffs: (N, C) mask coefficients of its N detections.
        boxes_input: (N, 4) xyxy boxes in network-input pixels.
        input_shape: (H, W) of the network input the prototypes belong to (the batch's).
        info: how the image was letterboxed.
        full_resolution: resample the prototype probabilities straight to the original size
            instead of going through network-input-size masks.

    Returns:
        :class:`InstanceMasks` of shape ``info.original_shape``, in detection order.
    """
    h0, w0 = info.original_shape
    n = coeffs.shape[0]
    if boxes_input.shape[0] != n:
        raise ValueError(f"{boxes_input.shape[0]} boxes for {n} mask coefficient rows")
    if n == 0:
        return InstanceMasks.empty((h0, w0))
    boxes = boxes_to_original(boxes_input.detach().float().cpu().numpy(), info)
    windows = [box_window(b, (h0, w0)) for b in boxes]
    region = letterbox_region(info)
    crops: list[np.ndarray] = []
    offsets: list[tuple[int, int]] = []

    def keep(source: Tensor, src_region: Region, i: int) -> None:
        top, left, bottom, right = windows[i]
        offsets.append((top, left))
        if bottom <= top or right <= left:
            crops.append(np.zeros((0, 0), bool))
            return
        values = resample_region(source, src_region, (h0, w0), windows[i])[0]
        crops.append((values > 0.5).cpu().numpy())

    with torch.no_grad():
        if full_resolution:
            _, h, w = protos.shape
            sy, sx = h / input_shape[0], w / input_shape[1]
            proto_region = (region[0] * sy, region[1] * sx, region[2] * sy, region[3] * sx)
            probs = mask_probabilities(protos, coeffs)
            for i in range(n):
                keep(probs[i : i + 1], proto_region, i)
        else:
            _reference_masks(protos, coeffs, boxes_input, input_shape, region, n, keep)
    return InstanceMasks.from_crops((h0, w0), crops, offsets)


def _reference_masks(
    protos: Tensor,
    coeffs: Tensor,
    boxes_input: Tensor,
    input_shape: tuple[int, int],
    region: Region,
    n: int,
    keep: Callable[[Tensor, Region, int], None],
) -> None:
    """The reference's network-input-size masks (:func:`process_masks`), computed only in a
    window around each box (the upsampled mask is zero a few pixels beyond it): the same
    values as the full maps, at a fraction of the cost."""
    _, h, w = protos.shape
    ih, iw = input_shape
    dtype = torch.float64 if boxes_input.dtype == torch.float64 else torch.float32
    boxes = boxes_input.to(device=protos.device, dtype=dtype)
    scale = torch.tensor([w / iw, h / ih, w / iw, h / ih], device=protos.device, dtype=dtype)
    probs = crop_masks(mask_probabilities(protos, coeffs), boxes * scale)
    whole: Region = (0.0, 0.0, float(h), float(w))
    canvas = torch.zeros((1, ih, iw), device=protos.device)
    for i, (x1, y1, x2, y2) in enumerate(boxes.tolist()):
        top, left = max(0, math.floor(y1) - _MARGIN), max(0, math.floor(x1) - _MARGIN)
        bottom, right = min(ih, math.ceil(y2) + _MARGIN), min(iw, math.ceil(x2) + _MARGIN)
        if bottom > top and right > left:
            part = resample_region(probs[i : i + 1], whole, input_shape, (top, left, bottom, right))
            canvas[:, top:bottom, left:right] = (part > 0.5).float()
        keep(canvas, region, i)
        canvas[:, top:bottom, left:right] = 0


def mask_records(masks: InstanceMasks, mask_format: str) -> list[Any]:
    """Per-mask JSON values: COCO RLE dicts (``"rle"``) or lists of flat
    [x1, y1, x2, y2, ...] polygons (``"polygon"``)."""
    if mask_format == "rle":
        return list(masks.rles())
    if mask_format == "polygon":
        return [
            [[round(float(v), 2) for v in p.reshape(-1)] for p in masks.polygons(i)]
            for i in range(len(masks))
        ]
    raise ValueError(f"mask_format must be 'rle' or 'polygon', got {mask_format!r}")
