"""Mask ops against hand-computed values, a direct re-statement of the reference's formula,
PyTorch's own bilinear resize and pycocotools."""

from __future__ import annotations

import numpy as np
import pycocotools.mask as pycoco
import pytest
import torch
import torch.nn.functional as F

from yolov9.ops.masks import (
    box_window,
    crop_masks,
    decode_rle,
    encode_rle,
    encode_rle_crop,
    mask_probabilities,
    mask_to_polygons,
    polygons_to_mask,
    process_masks,
    process_masks_native,
    resample_region,
)


def _grid(rows: list[str]) -> torch.Tensor:
    return torch.tensor([[c == "#" for c in row] for row in rows])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_crop_hand_values() -> None:
    masks = torch.ones(4, 4, 5)
    boxes = torch.tensor(
        [
            [1.0, 1.0, 3.0, 4.0],  # cols 1-2, rows 1-3
            [0.5, 0.0, 2.0, 1.5],  # col >= 0.5 -> from 1; col < 2; rows 0-1
            [0.0, 0.0, 5.0, 4.0],  # exactly the image: everything
            [-3.0, 2.0, 9.0, 9.0],  # beyond the borders: clipped by the grid, rows 2-3
        ]
    )
    expected = torch.stack(
        [
            _grid([".....", ".##..", ".##..", ".##.."]),
            _grid([".#...", ".#...", ".....", "....."]),
            _grid(["#####", "#####", "#####", "#####"]),
            _grid([".....", ".....", "#####", "#####"]),
        ]
    )
    out = crop_masks(masks, boxes)
    assert out.dtype == torch.float32
    assert torch.equal(out, expected.float())
    # bool masks stay bool; values outside the box are zeroed, inside untouched
    assert torch.equal(crop_masks(expected.flip(0), boxes), expected.flip(0) & expected)
    assert crop_masks(masks[:0], boxes[:0]).shape == (0, 4, 5)
    # an empty box keeps nothing
    assert not crop_masks(masks[:1], torch.tensor([[2.0, 2.0, 2.0, 3.0]])).any()


def test_box_window_is_the_crop() -> None:
    g = torch.Generator().manual_seed(1)
    boxes = torch.rand(200, 4, generator=g) * 40 - 8  # some beyond the 23x31 grid, some inverted
    boxes[:20] = boxes[:20].round()  # integer edges: the half-open rule matters
    masks = crop_masks(torch.ones(200, 23, 31, dtype=torch.bool), boxes)
    for mask, box in zip(masks, boxes, strict=True):
        top, left, bottom, right = box_window(box, (23, 31))
        expected = torch.zeros(23, 31, dtype=torch.bool)
        expected[top:bottom, left:right] = True
        assert torch.equal(mask, expected), box


def test_process_masks_hand_values() -> None:
    # one prototype of sign-only logits: probability ~1 except the top-right pixel
    protos = torch.tensor([[[10.0, -10.0], [10.0, 10.0]]])
    coeffs = torch.tensor([[1.0], [1.0]])
    boxes = torch.tensor([[0.0, 0.0, 4.0, 4.0], [0.0, 0.0, 2.0, 4.0]])  # input pixels
    low = process_masks(protos, coeffs, boxes, (4, 4), upsample=False)
    # the second box is (0, 0, 1, 2) in prototype pixels: only column 0 survives
    assert torch.equal(low, torch.stack([_grid(["#.", "##"]), _grid(["#.", "#."])]))
    high = process_masks(protos, coeffs, boxes, (4, 4))
    # bilinear x2 (align_corners=False) of [[1, 0], [1, 1]]: row 1 col 1 is 0.8125 (kept),
    # col 2 0.4375 (dropped); row 2 col 2 0.8125, col 3 0.75 (kept)
    assert torch.equal(high[0], _grid(["##..", "##..", "####", "####"]))
    # cropped before upsampling to [[1, 0], [1, 0]]: every row is 1, 0.75, 0.25, 0
    assert torch.equal(high[1], _grid(["##..", "##..", "##..", "##.."]))
    assert high.dtype == torch.bool
    # a probability of exactly 0.5 (zero logit) is not in the mask
    assert not process_masks(protos, torch.zeros(1, 1), boxes[:1], (4, 4)).any()
    assert not process_masks(protos, torch.zeros(1, 1), boxes[:1], (4, 4), upsample=False).any()
    assert process_masks(protos, coeffs[:0], boxes[:0], (4, 4)).shape == (0, 4, 4)
    assert process_masks(protos, coeffs[:0], boxes[:0], (4, 4), upsample=False).shape == (0, 2, 2)


def _reference_formula(
    protos: torch.Tensor, coeffs: torch.Tensor, boxes: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """The reference's default written out pixel by pixel: sigmoid(coeffs @ protos), crop in
    prototype pixels, bilinear upsampling, > 0.5."""
    c, h, w = protos.shape
    probs = torch.sigmoid(coeffs @ protos.view(c, -1)).view(-1, h, w)
    ih, iw = shape
    for k in range(probs.shape[0]):
        x1, y1, x2, y2 = boxes[k].tolist()
        x1, x2, y1, y2 = x1 * w / iw, x2 * w / iw, y1 * h / ih, y2 * h / ih
        for row in range(h):
            for col in range(w):
                if not (x1 <= col < x2 and y1 <= row < y2):
                    probs[k, row, col] = 0
    return F.interpolate(probs[None], shape, mode="bilinear", align_corners=False)[0] > 0.5


def test_process_masks_matches_the_formula() -> None:
    g = torch.Generator().manual_seed(0)
    protos = torch.randn(8, 12, 16, generator=g)
    coeffs = torch.randn(5, 8, generator=g)
    xy = torch.rand(5, 2, generator=g) * torch.tensor([64.0, 48.0])
    wh = torch.rand(5, 2, generator=g) * 50
    boxes = torch.cat((xy - wh / 2, xy + wh / 2), 1)  # some cross the borders
    boxes[0] = torch.tensor([0.0, 0.0, 64.0, 48.0])
    expected = _reference_formula(protos, coeffs, boxes, (48, 64))
    out = process_masks(protos, coeffs, boxes, (48, 64))
    assert out.shape == (5, 48, 64)
    assert out[0].any()
    assert not out[0].all()
    assert torch.equal(out, expected)
    # half-precision inputs are computed in float32
    assert torch.equal(
        process_masks(protos.half(), coeffs, boxes, (48, 64)),
        process_masks(protos.half().float(), coeffs, boxes, (48, 64)),
    )


def test_mask_probabilities() -> None:
    protos = torch.randn(3, 4, 5)
    coeffs = torch.randn(2, 3)
    expected = torch.sigmoid(torch.einsum("nc,chw->nhw", coeffs, protos))
    torch.testing.assert_close(mask_probabilities(protos, coeffs), expected)


@pytest.mark.parametrize("out_shape", [(50, 33), (7, 5), (13, 17)])
def test_resample_whole_image_is_interpolate(out_shape: tuple[int, int]) -> None:
    x = torch.rand(3, 13, 17)
    expected = F.interpolate(x[None], out_shape, mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(resample_region(x, (0, 0, 13, 17), out_shape), expected)


def test_resample_region_hand_values_and_windows() -> None:
    ramp = torch.arange(10.0).expand(2, 4, 10)  # value = column index
    # cols [2, 6) stretched over 8 pixels: output pixel k's centre is at 2 + (k + 0.5) / 2,
    # i.e. index coordinate 1.75 + k / 2, and the ramp is linear there
    out = resample_region(ramp, (0.0, 2.0, 4.0, 6.0), (4, 8))
    torch.testing.assert_close(out[0, 0], 1.75 + torch.arange(8.0) / 2)
    # beyond the source: the edge value
    out = resample_region(ramp, (0.0, -4.0, 4.0, 0.0), (4, 2))
    assert torch.equal(out[0, 0], torch.zeros(2))
    # a window is exactly a cut of the full output
    x = torch.rand(2, 11, 9)
    region = (1.3, 0.7, 10.2, 8.9)
    full = resample_region(x, region, (40, 31))
    assert torch.equal(resample_region(x, region, (40, 31), (5, 7, 21, 30)), full[:, 5:21, 7:30])


def test_process_masks_native() -> None:
    g = torch.Generator().manual_seed(2)
    protos = torch.randn(4, 10, 12, generator=g)
    coeffs = torch.randn(3, 4, generator=g)
    boxes = torch.tensor(
        [[0.0, 0.0, 60.0, 50.0], [10.5, 3.2, 40.0, 30.0], [50.0, 40.0, 90.0, 80.0]]
    )
    out = process_masks_native(protos, coeffs, boxes, (50, 60))
    probs = torch.sigmoid(torch.einsum("nc,chw->nhw", coeffs, protos))
    up = F.interpolate(probs[None], (50, 60), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(out.float(), (crop_masks(up, boxes) > 0.5).float(), atol=0, rtol=0)
    # a region: the same as resampling the cut (rows 1-8, cols 2-9), except within half a
    # source pixel of its edges, where the region still sees its neighbours and the cut
    # repeats its edge
    region = (1.0, 2.0, 9.0, 10.0)
    cut = process_masks_native(protos, coeffs, boxes, (40, 40), region)
    up = F.interpolate(probs[None, :, 1:9, 2:10], (40, 40), mode="bilinear", align_corners=False)[0]
    expected = crop_masks(up, boxes) > 0.5
    inner = (slice(None), slice(3, 38), slice(3, 38))
    assert torch.equal(cut[inner], expected[inner])
    assert not torch.equal(cut, expected)
    assert process_masks_native(protos, coeffs[:0], boxes[:0], (5, 6)).shape == (0, 5, 6)


def _disk(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r


def test_rle_roundtrip_and_pycocotools() -> None:
    rng = np.random.default_rng(0)
    masks = [
        rng.random((37, 53)) > 0.6,
        np.zeros((5, 7), bool),
        np.ones((6, 4), bool),
        _disk(64, 80, 30, 20, 15),
        (rng.random((40, 30)) > 0.5).T,  # not C-contiguous
    ]
    for mask in masks:
        rle = encode_rle(mask)
        assert rle["size"] == list(mask.shape)
        assert isinstance(rle["counts"], str)
        expected = pycoco.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert rle["counts"] == expected["counts"].decode()
        back = decode_rle(rle)
        assert back.dtype == bool
        assert np.array_equal(back, mask)
        assert np.array_equal(decode_rle({**rle, "counts": rle["counts"].encode()}), mask)
    # a crop placed in a larger mask gives the full mask's runs, wherever it touches
    rng = np.random.default_rng(1)
    for top, left, h, w in [
        (0, 0, 6, 9),
        (3, 4, 5, 2),
        (7, 11, 5, 9),
        (0, 19, 12, 1),
        (4, 0, 1, 1),
    ]:
        crop = rng.random((h, w)) > 0.5
        crop[0, 0] = crop[-1, -1] = True
        full = np.zeros((12, 20), bool)
        full[top : top + h, left : left + w] = crop
        assert encode_rle_crop(crop, (top, left), (12, 20)) == encode_rle(full), (top, left)
    assert encode_rle_crop(np.zeros((0, 0), bool), (0, 0), (3, 2)) == encode_rle(
        np.zeros((3, 2), bool)
    )
    with pytest.raises(ValueError, match="outside"):
        encode_rle_crop(np.ones((3, 3), bool), (10, 0), (12, 20))
    # uncompressed RLE (list counts, column-major): 1 background, 2 foreground, then background
    assert np.array_equal(
        decode_rle({"size": [3, 4], "counts": [1, 2, 9]}),
        np.array([[0, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], bool),
    )


def test_polygons() -> None:
    mask = _disk(60, 90, 25, 30, 18) | _disk(60, 90, 70, 30, 12)
    mask[2, 2] = True  # a lone pixel: a 1-point contour, dropped
    mask[57, 5:7] = True  # two pixels: a 2-point contour, dropped
    polygons = mask_to_polygons(mask)
    assert len(polygons) == 2
    assert all(p.dtype == np.float32 and p.ndim == 2 and p.shape[1] == 2 for p in polygons)
    xs = np.concatenate([p[:, 0] for p in polygons])
    assert xs.min() == pytest.approx(7, abs=1)
    assert xs.max() == pytest.approx(81, abs=1)
    back = polygons_to_mask(polygons, 60, 90)
    big = mask.copy()
    big[2, 2] = False
    big[57, 5:7] = False
    assert _iou(back, big) > 0.98
    flat = polygons_to_mask([p.reshape(-1).tolist() for p in polygons], 60, 90)
    assert np.array_equal(flat, back)
    assert mask_to_polygons(np.zeros((4, 4), bool)) == []
    assert not polygons_to_mask([], 4, 4).any()
