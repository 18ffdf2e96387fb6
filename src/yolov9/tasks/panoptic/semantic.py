"""The semantic map of one image: the class of every original-image pixel, from the head's
semantic logits.

As the reference computes it (``../shared/parity/pan/README.md``): the logits at stride 4 (the
head's own bilinear x2 already applied) are resized bilinearly (``align_corners=False``) to the
image and the argmax over all channels is taken. The reference resizes the whole input to the
image (and centre-crops when the aspect ratios differ); here the letterbox is removed on the
way: the rectangle the image occupies in the input, in logit pixels, is resampled onto the
image's pixel grid with the sample positions of :func:`~yolov9.ops.masks.resample_region`,
which is the reference's resize when there is no padding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from yolov9.data.images import LetterboxInfo
from yolov9.ops.masks import sample_positions
from yolov9.tasks.segment.masks import letterbox_region

# output values computed at a time (channels x H x W): about 32 MB of float32
_CHUNK_VALUES = 8_000_000


def label_dtype(num_channels: int) -> np.dtype:
    """The smallest unsigned type for class indices: uint8 below 257 classes, else uint16."""
    return np.dtype(np.uint8 if num_channels <= 256 else np.uint16)


def _weights(n_out: int, start: float, stop: float, n_src: int) -> Tensor:
    """(n_src, n_out) bilinear weights of one axis: output pixel centres mapped into
    ``[start, stop)`` of the source, edge values beyond it (as ``F.interpolate``)."""
    i0, i1, t = sample_positions(n_out, start, stop, n_src, 0, n_out, torch.device("cpu"))
    weights = torch.zeros(n_src, n_out)
    cols = torch.arange(n_out)
    weights.index_put_((i0, cols), 1 - t, accumulate=True)
    weights.index_put_((i1, cols), t, accumulate=True)
    return weights


@torch.inference_mode()
def semantic_map(
    logits: Tensor, input_shape: tuple[int, int], info: LetterboxInfo | None = None
) -> np.ndarray:
    """The class (channel index) of each pixel of the original image.

    The separable bilinear resampling is two matrix products per channel (rows, then
    columns), done for a few channels at a time with a running maximum, so memory stays
    bounded and the work runs at matrix-multiply speed.

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
        h0, w0 = int(in_h), int(in_w)
        top, left, bottom, right = 0.0, 0.0, float(h), float(w)
    else:
        h0, w0 = info.original_shape
        top, left, bottom, right = letterbox_region(info)
        sy, sx = h / in_h, w / in_w
        top, left, bottom, right = top * sy, left * sx, bottom * sy, right * sx
    source = logits.detach().float().cpu()
    rows = _weights(h0, top, bottom, h).T.contiguous()  # (h0, h)
    cols = _weights(w0, left, right, w)  # (w, w0)
    best = torch.full((h0, w0), -torch.inf)
    arg = torch.zeros((h0, w0), dtype=torch.int64)
    chunk = max(1, _CHUNK_VALUES // max(1, h0 * w0))
    for c in range(0, k, chunk):
        values = torch.matmul(rows, source[c : c + chunk] @ cols)  # (chunk, h0, w0)
        top_values, top_index = values.max(0)
        better = top_values > best  # ties keep the lower channel, as argmax does
        best = torch.where(better, top_values, best)
        arg = torch.where(better, top_index + c, arg)
    return arg.numpy().astype(label_dtype(k))
