"""The semantic map of one image: the class of every original-image pixel, from the head's
semantic logits.

As the reference computes it (``../shared/parity/pan/README.md``): the logits at stride 4 (the
head's own bilinear x2 already applied) are resized bilinearly (``align_corners=False``) to the
image and the argmax over all channels is taken. The reference resizes the whole input to the
image (and centre-crops when the aspect ratios differ); here the letterbox is removed on the
way: the rectangle the image occupies in the input, in logit pixels, is resampled onto the
image's pixel grid (:func:`~yolov9.ops.masks.resample_region`), which is the reference's resize
when there is no padding. The argmax runs in bands of rows, so memory stays bounded by one band
of all channels, not by (channels x H x W).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from yolov9.data.images import LetterboxInfo
from yolov9.ops.masks import resample_region
from yolov9.tasks.segment.masks import letterbox_region

# logit values resampled at a time (channels x rows x width): about 32 MB of float32
_BAND_VALUES = 8_000_000


def label_dtype(num_channels: int) -> np.dtype:
    """The smallest unsigned type for class indices: uint8 below 256 classes, else uint16."""
    return np.dtype(np.uint8 if num_channels <= 256 else np.uint16)


@torch.inference_mode()
def semantic_map(
    logits: Tensor, input_shape: tuple[int, int], info: LetterboxInfo | None = None
) -> np.ndarray:
    """The class (channel index) of each pixel of the original image.

    Args:
        logits: (K, h, w) semantic logits of one image (any float dtype), at a fixed stride of
            the network input.
        input_shape: (H, W) of the network input the logits belong to.
        info: how the image was letterboxed into the input; None: the input is the image.

    Returns:
        (h0, w0) array of channel indices, uint8 (K <= 256) or uint16.
    """
    k, h, w = logits.shape
    in_h, in_w = input_shape
    if info is None:
        out_shape = (int(in_h), int(in_w))
        region = (0.0, 0.0, float(h), float(w))
    else:
        out_shape = info.original_shape
        top, left, bottom, right = letterbox_region(info)
        sy, sx = h / in_h, w / in_w
        region = (top * sy, left * sx, bottom * sy, right * sx)
    h0, w0 = out_shape
    source = logits.float()
    out = np.empty((h0, w0), label_dtype(k))
    rows = max(1, _BAND_VALUES // max(1, k * w0))
    for top_row in range(0, h0, rows):
        bottom_row = min(h0, top_row + rows)
        band = resample_region(source, region, out_shape, (top_row, 0, bottom_row, w0))
        out[top_row:bottom_row] = band.argmax(0).cpu().numpy()
    return out
