"""Instance masks in original pixels: the letterbox mapping, the compact container, and masks
in results, JSON records, drawings and written output."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from yolov9.data.images import LetterboxInfo, boxes_to_original, letterbox
from yolov9.inference.result import Result
from yolov9.inference.writers import save_results
from yolov9.ops.masks import (
    crop_masks,
    decode_rle,
    polygons_to_mask,
    process_masks,
    process_masks_native,
    resample_region,
)
from yolov9.tasks.segment.masks import (
    InstanceMasks,
    letterbox_region,
    masks_for_image,
)
from yolov9.utils.draw import MASK_ALPHA, class_colour, draw_detections


def _disk(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    """Pixels whose centre lies within ``r`` of (cx, cy)."""
    yy, xx = np.mgrid[:h, :w]
    return (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2 <= r * r


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def _disk_head(
    disks_input: list[tuple[float, float, float]], input_shape: tuple[int, int], stride: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Prototypes (1, x, y, x² + y² at prototype pixel centres, in input pixels / 640) and
    coefficients whose logit is (r² - |p - c|²) / r for each disk (cx, cy, r) of the input:
    a smooth mask, > 0.5 exactly on the disk."""
    h, w = input_shape[0] // stride, input_shape[1] // stride
    ys, xs = torch.meshgrid(
        (torch.arange(h, dtype=torch.float64) + 0.5) * stride / 640,
        (torch.arange(w, dtype=torch.float64) + 0.5) * stride / 640,
        indexing="ij",
    )
    protos = torch.stack((torch.ones_like(xs), xs, ys, xs**2 + ys**2))
    coeffs = [
        [(r * r - cx * cx - cy * cy) / r, 2 * cx * 640 / r, 2 * cy * 640 / r, -(640**2) / r]
        for cx, cy, r in disks_input
    ]
    return protos.float(), torch.tensor(coeffs, dtype=torch.float64).float()


# Letterboxed, non-square originals: upscaled with top/bottom padding, and downscaled with
# left/right padding inside a stride-aligned rectangle (auto).
CASES = [((300, 500), 640, False), ((1000, 710), 640, True)]


@pytest.mark.parametrize(("shape", "imgsz", "auto"), CASES)
def test_letterboxed_disks_land_on_the_original(
    shape: tuple[int, int], imgsz: int, auto: bool
) -> None:
    h0, w0 = shape
    boxed, info = letterbox(np.zeros((h0, w0, 3), np.uint8), imgsz, auto=auto)
    input_shape = boxed.shape[:2]
    assert info.pad != (0.0, 0.0)
    # disks in original pixels: one inside, one cut by the right edge of the image
    disks = [(0.3 * w0, 0.4 * h0, 0.2 * min(h0, w0)), (0.95 * w0, 0.6 * h0, 0.15 * min(h0, w0))]
    disks_input = [
        (cx * info.ratio + info.pad[0], cy * info.ratio + info.pad[1], r * info.ratio)
        for cx, cy, r in disks
    ]
    protos, coeffs = _disk_head(disks_input, input_shape)
    boxes_input = torch.tensor(
        [[cx - r - 3, cy - r - 3, cx + r + 3, cy + r + 3] for cx, cy, r in disks_input]
    )
    expected = np.stack([_disk(h0, w0, *d) for d in disks])
    default = masks_for_image(protos, coeffs, boxes_input, input_shape, info)
    full = masks_for_image(protos, coeffs, boxes_input, input_shape, info, full_resolution=True)
    assert default.shape == full.shape == (h0, w0)
    for i in range(2):
        assert _iou(default.mask(i), expected[i]) > 0.93, i
        assert _iou(full.mask(i), expected[i]) > 0.97, i
        assert _iou(default.mask(i), full.mask(i)) > 0.9, i
    # the cut disk reaches the image's right edge
    assert full.mask(1)[:, -1].any()
    assert default.mask(1)[:, -1].any()


def _random_case(
    n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[int, int], LetterboxInfo]:
    g = torch.Generator().manual_seed(seed)
    _, info = letterbox(np.zeros((90, 170, 3), np.uint8), 128, auto=True)  # input 64x128
    input_shape = (64, 128)
    protos = torch.randn(6, 16, 32, generator=g) * 2
    coeffs = torch.randn(n, 6, generator=g)
    xy = torch.rand(n, 2, generator=g) * torch.tensor([128.0, 64.0])
    wh = torch.rand(n, 2, generator=g) * 60 + 1
    boxes = torch.cat((xy - wh / 2, xy + wh / 2), 1)
    return protos, coeffs, boxes, input_shape, info


def test_windows_give_the_dense_computation() -> None:
    """Per-box windows compute exactly what the dense mapping would (both modes)."""
    protos, coeffs, boxes, input_shape, info = _random_case(7, 0)
    h0, w0 = info.original_shape
    boxes0 = torch.from_numpy(boxes_to_original(boxes.numpy(), info))
    region = letterbox_region(info)
    # default: network-input masks, resampled from the image's region, cropped by its boxes
    net = process_masks(protos, coeffs, boxes, input_shape).float()
    expected = crop_masks(resample_region(net, region, (h0, w0)), boxes0) > 0.5
    out = masks_for_image(protos, coeffs, boxes, input_shape, info)
    assert np.array_equal(out.dense(), expected.numpy())
    # full resolution: the region in prototype pixels (a quarter of the input's)
    proto_region = tuple(v / 4 for v in region)
    expected = process_masks_native(protos, coeffs, boxes0, (h0, w0), proto_region)
    out = masks_for_image(protos, coeffs, boxes, input_shape, info, full_resolution=True)
    assert np.array_equal(out.dense(), expected.numpy())
    assert expected.any()


def test_masks_stay_in_their_boxes_and_empty_input() -> None:
    protos, coeffs, boxes, input_shape, info = _random_case(40, 1)  # more than one chunk
    boxes0 = boxes_to_original(boxes.numpy(), info)
    for full_resolution in (False, True):
        masks = masks_for_image(
            protos, coeffs, boxes, input_shape, info, full_resolution=full_resolution
        )
        assert len(masks) == 40
        assert masks.areas.sum() > 0
        for bound, box, area in zip(masks.bounds, boxes0, masks.areas, strict=True):
            if area:
                assert bound[0] >= np.ceil(box[0])
                assert bound[1] >= np.ceil(box[1])
                assert bound[2] <= np.ceil(box[2])
                assert bound[3] <= np.ceil(box[3])
    none = masks_for_image(protos, coeffs[:0], boxes[:0], input_shape, info)
    assert len(none) == 0
    assert none.shape == (90, 170)
    assert none.dense().shape == (0, 90, 170)
    with pytest.raises(ValueError, match="boxes for"):
        masks_for_image(protos, coeffs[:2], boxes[:3], input_shape, info)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_masks_on_cuda_match_cpu() -> None:
    protos, coeffs, boxes, input_shape, info = _random_case(9, 2)
    for full_resolution in (False, True):
        cpu = masks_for_image(protos, coeffs, boxes, input_shape, info, full_resolution)
        gpu = masks_for_image(
            protos.cuda(), coeffs.cuda(), boxes.cuda(), input_shape, info, full_resolution
        )
        assert (cpu.dense() != gpu.dense()).mean() < 1e-3


def _blobs() -> np.ndarray:
    rng = np.random.default_rng(0)
    masks = np.zeros((5, 240, 320), bool)
    masks[0] = _disk(240, 320, 40, 50, 12)
    masks[1, 200:, 300:] = True  # touches the bottom-right corner
    masks[2, 100:110, 0:5] = rng.random((10, 5)) > 0.3  # touches the left edge, with holes
    # masks[3] stays empty
    masks[4] = _disk(240, 320, 200, 120, 20) | _disk(240, 320, 260, 120, 8)  # two parts
    return masks


def test_instance_masks_roundtrip() -> None:
    dense = _blobs()
    masks = InstanceMasks.from_dense(dense)
    assert len(masks) == 5
    assert masks.shape == (240, 320)
    assert np.array_equal(masks.dense(), dense)
    for i in range(5):
        assert np.array_equal(masks.mask(i), dense[i])
        assert np.array_equal(decode_rle(masks.rle(i)), dense[i])
    assert masks.areas.tolist() == dense.sum((1, 2)).tolist()
    assert masks.bounds[1].tolist() == [300, 200, 320, 240]
    assert masks.bounds[3].tolist() == [0, 0, 0, 0]
    assert masks.nbytes * 50 < dense.nbytes
    assert np.array_equal(InstanceMasks.from_dense(torch.from_numpy(dense)).dense(), dense)
    assert [np.array_equal(m, d) for m, d in zip(masks, dense, strict=True)] == [True] * 5
    # selection keeps the given order
    picked = masks.select([4, 0, 3])
    assert np.array_equal(picked.dense(), dense[[4, 0, 3]])
    assert picked.areas.tolist() == dense[[4, 0, 3]].sum((1, 2)).tolist()
    flags = np.array([True, False, True, False, False])
    assert np.array_equal(masks.select(flags).dense(), dense[flags])
    assert len(masks.select([])) == 0
    assert masks.rles()[3]["counts"] == masks.rle(3)["counts"]


def test_instance_masks_polygons_and_crops() -> None:
    dense = _blobs()
    masks = InstanceMasks.from_dense(dense)
    polygons = masks.polygons(4)
    assert len(polygons) == 2
    assert _iou(polygons_to_mask(polygons, 240, 320), dense[4]) > 0.95
    corner = polygons_to_mask(masks.polygons(1), 240, 320)
    assert np.array_equal(corner, dense[1])  # a rectangle at the image's corner, exactly
    assert masks.polygons(3) == []
    crop, (top, left) = masks.crop(0)
    assert crop.shape == (24, 24)
    assert (top, left) == (38, 28)
    # crops are tightened, and must fit the image
    loose = np.zeros((10, 10), bool)
    loose[3:5, 6] = True
    tight = InstanceMasks.from_crops((20, 30), [loose], [(5, 7)])
    assert tight.bounds[0].tolist() == [13, 8, 14, 10]
    with pytest.raises(ValueError, match="outside"):
        InstanceMasks.from_crops((20, 30), [loose], [(15, 0)])


def _result(masks: InstanceMasks | None, path: str | None = "scene.png") -> Result:
    image = np.full((240, 320, 3), 128, np.uint8)
    boxes = np.array([[25, 35, 55, 65], [295, 195, 319, 239]], np.float32)
    return Result(
        boxes=boxes,
        scores=np.array([0.9, 0.8], np.float32),
        labels=np.array([0, 3], np.int64),
        names=["a", "b", "c", "d"],
        orig_shape=(240, 320),
        path=path,
        image=image,
        masks=masks,
    )


def test_records_with_masks() -> None:
    dense = _blobs()[:2]
    result = _result(InstanceMasks.from_dense(dense))
    plain = _result(None).records()
    records = result.records()
    assert [{k: v for k, v in r.items() if k != "mask"} for r in records] == plain
    for record, mask in zip(records, dense, strict=True):
        assert record["mask"]["size"] == [240, 320]
        assert isinstance(record["mask"]["counts"], str)
        assert np.array_equal(decode_rle(record["mask"]), mask)
    json.dumps(records)
    polygons = result.records("polygon")
    for record, mask in zip(polygons, dense, strict=True):
        assert all(isinstance(v, float) for p in record["mask"] for v in p)
        assert _iou(polygons_to_mask(record["mask"], 240, 320), mask) > 0.9
    assert "mask" not in result.records(None)[0]
    assert "mask" not in _result(None).records("polygon")[0]
    with pytest.raises(ValueError, match="mask_format"):
        result.records("bitmap")
    with pytest.raises(ValueError, match="masks"):
        _result(InstanceMasks.from_dense(_blobs()[:3])).records()


def test_plot_draws_masks_under_boxes() -> None:
    dense = _blobs()[:2]
    result = _result(InstanceMasks.from_dense(dense))
    plain = _result(None).plot()
    drawn = result.plot()
    # inside the disk, away from the box lines: the class colour blended at MASK_ALPHA
    colour = np.array(class_colour(0), np.float64)
    blended = np.floor(128 * (1 - MASK_ALPHA) + colour * MASK_ALPHA + 0.5).astype(np.uint8)
    assert (drawn[48:53, 38:43] == blended).all()
    assert (plain[48:53, 38:43] == 128).all()
    # away from masks, boxes and captions nothing changes
    assert np.array_equal(drawn[100:180, 80:250], plain[100:180, 80:250])
    assert (drawn[100:180, 80:250] == 128).all()
    # masks first, boxes and captions on top: the detection drawing of the image with the
    # masks blended in (box 1's right and bottom edges run through mask 1)
    under = result.image.copy()
    for mask, label in zip(dense[::-1], result.labels[::-1], strict=True):
        tint = np.array(class_colour(int(label)), np.float64) * MASK_ALPHA
        under[mask] = np.floor(under[mask] * (1 - MASK_ALPHA) + tint + 0.5).astype(np.uint8)
    expected = draw_detections(under, result.boxes, result.scores, result.labels, result.names)
    assert np.array_equal(drawn, expected)
    assert not np.array_equal(drawn[239, 300:], under[239, 300:])
    # outside masks the drawing is the detection drawing
    outside = ~dense.any(0)
    assert np.array_equal(drawn[outside], plain[outside])


def test_draw_detections_masks_forms() -> None:
    image = np.full((240, 320, 3), 128, np.uint8)
    boxes = np.array([[25, 35, 55, 65], [295, 195, 319, 239]], np.float32)
    scores, labels = np.array([0.9, 0.8]), np.array([0, 3])
    dense = _blobs()[:2]
    plain = draw_detections(image, boxes, scores, labels, ["a", "b", "c", "d"])
    empty = draw_detections(
        image, boxes, scores, labels, ["a", "b", "c", "d"], masks=np.zeros((2, 240, 320), bool)
    )
    assert np.array_equal(plain, empty)  # masks change nothing where they are empty
    full = draw_detections(image, boxes, scores, labels, ["a", "b", "c", "d"], masks=list(dense))
    compact = InstanceMasks.from_dense(dense)
    lazy = draw_detections(image, boxes, scores, labels, ["a", "b", "c", "d"], masks=compact.crop)
    assert np.array_equal(full, lazy)
    assert not np.array_equal(full, plain)
    assert (image == 128).all()  # the input is untouched
    # overlapping masks: the first (highest-scoring) detection is blended last, on top
    both = np.ones((2, 240, 320), bool)
    out = draw_detections(image, boxes, scores, labels, ["a", "b", "c", "d"], masks=list(both))
    pixel = np.array([128.0] * 3)
    for label in (3, 0):
        pixel = np.floor(
            pixel * (1 - MASK_ALPHA) + np.array(class_colour(label)) * MASK_ALPHA + 0.5
        )
    assert out[120, 160].tolist() == pixel.tolist()
    with pytest.raises(ValueError, match="masks for"):
        draw_detections(image, boxes, scores, labels, ["a"] * 4, masks=list(dense[:1]))


def test_save_results_writes_masks(tmp_path: Path) -> None:
    dense = _blobs()[:2]
    results = [_result(InstanceMasks.from_dense(dense)), _result(None, "plain.png")]
    records, n_images, n_dets = save_results(results, tmp_path)
    assert (n_images, n_dets) == (2, 4)
    assert [("mask" in r) for r in records] == [True, True, False, False]
    assert np.array_equal(decode_rle(records[1]["mask"]), dense[1])
    written = cv2.cvtColor(cv2.imread(str(tmp_path / "scene.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(written, results[0].plot())
    assert not (written[48:53, 38:43] == 128).all()
    records, _, _ = save_results(results, None, mask_format="polygon")
    assert isinstance(records[0]["mask"], list)
    assert isinstance(records[0]["mask"][0], list)
    records, _, _ = save_results(results, None, mask_format=None)
    assert all("mask" not in r for r in records)
    with pytest.raises(ValueError, match="mask_format"):
        save_results(results, None, mask_format="png")


def test_resample_matches_interpolate_on_identity_letterbox() -> None:
    """With no padding and ratio 1 the default mapping returns the network-input masks."""
    info = LetterboxInfo(1.0, (0.0, 0.0), (32, 48))
    g = torch.Generator().manual_seed(3)
    protos = torch.randn(4, 8, 12, generator=g)
    coeffs = torch.randn(3, 4, generator=g)
    boxes = torch.tensor([[0.0, 0.0, 48.0, 32.0], [5.0, 3.0, 30.0, 20.0], [40.0, 1.0, 60.0, 40.0]])
    out = masks_for_image(protos, coeffs, boxes, (32, 48), info)
    # upsampling may spill up to two pixels past a box's right/bottom edge: the boxes (clipped
    # to the image, as reported) cut that off
    clipped = torch.from_numpy(boxes_to_original(boxes.numpy(), info))
    network = process_masks(protos, coeffs, boxes, (32, 48))
    assert np.array_equal(out.dense(), crop_masks(network, clipped).numpy())
    up = F.interpolate(
        torch.sigmoid(torch.einsum("nc,chw->nhw", coeffs, protos))[None], (32, 48), mode="bilinear"
    )[0]
    full = masks_for_image(protos, coeffs, boxes, (32, 48), info, full_resolution=True)
    assert np.array_equal(full.dense(), (crop_masks(up, clipped) > 0.5).numpy())
