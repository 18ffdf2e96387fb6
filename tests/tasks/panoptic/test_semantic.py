"""The semantic map: the reference's bilinear resize and argmax, with the letterbox removed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from yolov9.data.images import LetterboxInfo
from yolov9.tasks.panoptic import semantic as semantic_module
from yolov9.tasks.panoptic.semantic import label_dtype, semantic_map


@pytest.mark.parametrize("chunk", [10**9, 500])  # all channels at once, and one at a time
def test_without_letterbox_it_is_the_reference_resize_and_argmax(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic_module, "_CHUNK_VALUES", chunk)
    logits = torch.randn(7, 16, 24, generator=torch.Generator().manual_seed(0))
    ours = semantic_map(logits, (64, 96))
    want = F.interpolate(logits[None], (64, 96), mode="bilinear", align_corners=False)[0]
    assert ours.dtype == np.uint8
    assert ours.shape == (64, 96)
    assert (ours == want.argmax(0).numpy()).all()


def test_the_letterbox_is_removed() -> None:
    # a 48x96 image centred in a 96x96 input (24 rows of padding above and below); logits at
    # stride 4: the padding rows vote for class 0 with a huge logit. Only the rectangle the
    # image occupies is resampled; bilinear weights reach into the padding by less than one
    # logit pixel, so only the outermost image rows can see it
    logits = torch.zeros(3, 24, 24)
    logits[1, :, :12] = 5.0  # left half: class 1
    logits[2, :, 12:] = 5.0  # right half: class 2
    logits[0, :6] = 100.0
    logits[0, 18:] = 100.0
    info = LetterboxInfo(ratio=1.0, pad=(0.0, 24.0), original_shape=(48, 96))
    sem = semantic_map(logits, (96, 96), info)
    assert sem.shape == (48, 96)
    assert (sem[2:-2] != 0).all()
    assert (sem[2:-2, :40] == 1).all()
    assert (sem[2:-2, 56:] == 2).all()
    # a resize of the whole input, cut afterwards, is what a letterbox-unaware reader does
    whole = F.interpolate(logits[None], (96, 96), mode="bilinear")[0].argmax(0)[24:72]
    assert (whole.numpy() == sem).all()  # no scaling: the same pixels


def test_label_dtype_grows_past_256_classes() -> None:
    assert label_dtype(256) == np.uint8
    assert label_dtype(257) == np.uint16
    logits = torch.zeros(300, 2, 2)
    logits[299] = 1.0
    out = semantic_map(logits, (8, 8))
    assert out.dtype == np.uint16
    assert (out == 299).all()


def test_it_differs_from_the_reference_only_where_classes_tie_within_rounding() -> None:
    """Half the logit grid has a channel that leads by one float32 step (rounding in the
    interpolation makes ties there, which either argmax may break), half is random."""
    g = torch.Generator().manual_seed(1)
    base = torch.randn(1, 12, 16, generator=g) * 3 + 10
    lead = torch.nextafter(base, torch.full_like(base, 100.0))
    logits = torch.cat((base, lead, base - 1.0))
    logits[:, :, 8:] = torch.randn(3, 12, 8, generator=g) * 3
    ours = semantic_map(logits, (48, 64))
    values = F.interpolate(logits[None], (48, 64), mode="bilinear", align_corners=False)[0]
    top2 = values.topk(2, dim=0).values
    near_tie = (top2[0] - top2[1] <= 1e-5 * top2[0].abs()).numpy()
    differ = ours != values.argmax(0).numpy()
    assert near_tie[:, :24].all()  # the tied half
    assert not (differ & ~near_tie).any()
