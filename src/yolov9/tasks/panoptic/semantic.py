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

# pixels resolved at a time where every channel must be interpolated (channels x pixels)
_CHUNK_VALUES = 8_000_000


def label_dtype(num_channels: int) -> np.dtype:
    """The smallest unsigned type for class indices: uint8 below 257 classes, else uint16."""
    return np.dtype(np.uint8 if num_channels <= 256 else np.uint16)


@torch.inference_mode()
def semantic_map(
    logits: Tensor, input_shape: tuple[int, int], info: LetterboxInfo | None = None
) -> np.ndarray:
    """The class (channel index) of each pixel of the original image.

    Without interpolating every channel everywhere: each output pixel is a bilinear mix of
    four logit pixels; where one channel is the strict maximum at all four, every other
    channel's difference to it is a mix of negative numbers, so in exact arithmetic it wins
    the pixel. Only pixels whose four neighbours disagree (class borders, a small share)
    interpolate all channels, a chunk of pixels at a time, in ``F.interpolate``'s order of
    operations. The result equals the reference's resize and argmax except where two classes
    are equal to within float rounding (then either answer is the rounding's; on the authors'
    fixture logits no pixel differs).

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
    cpu = torch.device("cpu")
    r0, r1, ty = sample_positions(h0, top, bottom, h, 0, h0, cpu)
    c0, c1, tx = sample_positions(w0, left, right, w, 0, w0, cpu)
    # the strict winner of each logit pixel (-1 where the top two tie)
    top2 = source.topk(min(2, k), dim=0)
    winner = top2.indices[0].clone()
    if k > 1:
        winner[top2.values[0] == top2.values[1]] = -1
    corners = [winner[r][:, c] for r in (r0, r1) for c in (c0, c1)]  # (h0, w0) each
    out = corners[0].clone()
    mixed = (out < 0) | (corners[1] != out) | (corners[2] != out) | (corners[3] != out)
    ys, xs = torch.nonzero(mixed, as_tuple=True)
    step = max(1, _CHUNK_VALUES // max(1, k))
    flat = source.reshape(k, h * w).T.contiguous()  # (pixels, channels): rows are gathered
    for a in range(0, len(ys), step):
        y, x = ys[a : a + step], xs[a : a + step]
        wy, wx = ty[y, None], tx[x, None]
        y0, y1, x0, x1 = r0[y] * w, r1[y] * w, c0[x], c1[x]
        upper = (1 - wx) * flat[y0 + x0] + wx * flat[y0 + x1]
        lower = (1 - wx) * flat[y1 + x0] + wx * flat[y1 + x1]
        out[y, x] = ((1 - wy) * upper + wy * lower).argmax(1)
    return out.numpy().astype(label_dtype(k))
