"""Instance masks in the labels: read exactly from three formats, checked like boxes, cached,
and rasterised as the reference rasterises its training targets."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image

from tests.data.seg_scenes import write_seg_dataset
from yolov9.data import dataset as dataset_module
from yolov9.data.dataset import load_dataset
from yolov9.data.labels import (
    ImageLabels,
    Issue,
    rasterize_polygons,
    self_intersecting,
)
from yolov9.ops.masks import decode_rle, encode_rle


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_seg_dataset(tmp_path_factory.mktemp("seg"))


def _image(path: Path, w: int = 100, h: int = 50) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 127, np.uint8))
    return path


def test_every_format_reads_the_same_masks(seg_data: dict[str, Path]) -> None:
    sets = {fmt: load_dataset(path) for fmt, path in seg_data.items()}
    for ds in sets.values():
        assert ds.has_masks
        assert ds.report.problems == []
        assert ds.report.masks == ds.report.boxes > 20
        assert "masks on" in ds.report.summary()
    yolo, coco, coco_rle, voc = (sets[k] for k in ("yolo", "coco", "coco_rle", "voc"))
    for y, c, r, v in zip(yolo.records, coco.records, coco_rle.records, voc.records, strict=True):
        np.testing.assert_array_equal(y.boxes, c.boxes)
        np.testing.assert_array_equal(y.areas, c.areas)  # YOLO: the polygon's area, as COCO
        for a, b in zip(y.segmentations, c.segmentations, strict=True):
            assert len(a) == len(b) == 1
            assert a[0].dtype == np.float64
            np.testing.assert_array_equal(a[0], b[0])
        assert r.segmentations == v.segmentations  # COCO RLEs == VOC PNG instances
        assert all(isinstance(s["counts"], str) for s in r.segmentations)
        np.testing.assert_array_equal(r.areas, v.areas)  # mask pixel counts
        np.testing.assert_array_equal(y.instance_masks(4), c.instance_masks(4))
        np.testing.assert_array_equal(r.instance_masks(), v.instance_masks())
        for ds_record in (y, c, r, v):  # training polygons, one per object, for augmentation
            assert ds_record.segments is not None
            assert len(ds_record.segments) == len(ds_record.classes)
            assert all(s.dtype == np.float32 and s.shape[1] == 2 for s in ds_record.segments)


def test_training_polygon_of_an_rle_redraws_its_mask(seg_data: dict[str, Path]) -> None:
    record = load_dataset(seg_data["voc"]).records[0]
    drawn = rasterize_polygons([[s] for s in record.segments], record.height, record.width)
    masks = record.instance_masks()
    iou = (drawn & masks).sum((1, 2)) / (drawn | masks).sum((1, 2))
    assert iou.min() > 0.97  # an outer contour; CHAIN_APPROX_SIMPLE keeps every corner


def test_masks_come_back_from_the_cache(
    seg_data: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = {fmt: load_dataset(seg_data[fmt]) for fmt in ("yolo", "voc")}

    def no_parsing(*args, **kwargs):
        raise AssertionError("labels were parsed again instead of read from the cache")

    monkeypatch.setattr(dataset_module, "read_yolo", no_parsing)
    monkeypatch.setattr(dataset_module, "read_voc", no_parsing)
    for fmt, ds in first.items():
        again = load_dataset(seg_data[fmt])
        assert again.has_masks
        for a, b in zip(ds.records, again.records, strict=True):
            assert len(a.segmentations) == len(b.segmentations)
            for sa, sb in zip(a.segmentations, b.segmentations, strict=True):
                if isinstance(sa, dict):
                    assert sa == sb
                else:
                    assert all(np.array_equal(p, q) for p, q in zip(sa, sb, strict=True))


def test_a_stale_mask_cache_is_reparsed(seg_data: dict[str, Path]) -> None:
    from yolov9.data import cache

    load_dataset(seg_data["coco"])
    for f in cache.cache_root().glob("*.masks.npz"):
        f.unlink()
    ds = load_dataset(seg_data["coco"])  # label cache present, mask cache gone: read again
    assert ds.has_masks


def test_rasterisation_follows_the_reference_recipe() -> None:
    """Truncation to int32, fillPoly per part (parts unite), bilinear downsampling."""
    square = np.array([[2.9, 2.9], [9.99, 2.9], [9.99, 9.99], [2.9, 9.99]])
    masks = rasterize_polygons([[square]], 16, 16)
    assert masks.shape == (1, 16, 16)
    assert masks.dtype == np.uint8
    assert masks[0, 2:10, 2:10].all()
    assert masks.sum() == 64
    overlapping = [square, square + 3]
    union = rasterize_polygons([overlapping], 16, 16)[0]
    assert union[6, 6] == 1  # inside both: filled, not a hole
    small = rasterize_polygons([[square]], 16, 16, ratio=4)
    assert small.shape == (1, 4, 4)
    np.testing.assert_array_equal(small[0], cv2.resize(masks[0], (4, 4)))


def test_instance_masks_on_another_canvas() -> None:
    poly = [np.array([[10.0, 10], [50, 10], [50, 30], [10, 30]])]
    rle_mask = np.zeros((40, 60), np.uint8)
    rle_mask[10:30, 10:50] = 1
    record = ImageLabels(
        "a.png",
        60,
        40,
        np.array([[10, 10, 50, 30], [10, 10, 50, 30]], np.float32),
        np.array([0, 1]),
        segmentations=[poly, encode_rle(rle_mask)],
    )
    masks = record.instance_masks(ratio=2, size=(80, 120))  # canvas twice the image
    assert masks.shape == (2, 40, 60)
    polygon_on_canvas = rasterize_polygons([[poly[0] * 2]], 80, 120, ratio=2)[0]
    np.testing.assert_array_equal(masks[0], polygon_on_canvas)
    np.testing.assert_array_equal(masks[1], rle_mask)  # nearest x2, then bilinear / 2
    with pytest.raises(ValueError, match="no mask"):
        ImageLabels(
            "b.png", 60, 40, np.zeros((1, 4), np.float32), np.array([0]), segmentations=[None]
        ).instance_masks()


def test_self_intersection() -> None:
    assert self_intersecting(np.array([[0, 0], [10, 10], [10, 0], [0, 10]]))  # bow tie
    assert not self_intersecting(np.array([[0, 0], [10, 0], [10, 10], [0, 10]]))
    assert not self_intersecting(np.array([[0, 0], [10, 0], [10, 10], [10, 10], [0, 10]]))


def test_yolo_polygon_problems_are_reported_per_line(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "a.jpg")  # 100 x 50
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text(
        "\n".join(
            [
                "0 0.1 0.1 0.3 0.1 0.2 0.4",  # 1 fine
                "0 0.1 0.1 0.3 0.1 0.2",  # 2 odd count
                "0 0.1 0.1 0.2 0.2 0.3 0.3",  # 3 collinear: no area
                "0 0.1 0.1 0.5 0.5 0.5 0.1 0.1 0.5",  # 4 bow tie: kept
                "0 0.5 0.5 1.2 0.5 0.8 0.9",  # 5 20 % outside
                "0 0.5 0.5 1.005 0.5 0.8 0.9",  # 6 0.5 % outside: clipped
                "1 0.6 0.2 0.7 0.2",  # 7 a box: no mask
            ]
        )
    )
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"val": "images", "names": ["x", "y"]}))
    ds = load_dataset(tmp_path / "data.yaml")
    where = {i.kind: i.line for i in ds.report.issues}
    assert where == {
        Issue.POLYGON_ODD: 2,
        Issue.POLYGON_DEGENERATE: 3,
        Issue.POLYGON_SELF_INTERSECTING: 4,
        Issue.POLYGON_OUT_OF_RANGE: 5,
        Issue.CLIPPED: 6,
    }
    assert len(ds.report.issues) == 5
    record = ds.records[0]
    assert record.classes.tolist() == [0, 0, 0, 1]  # lines 1, 4, 6, 7
    assert record.segmentations[3] is None
    assert record.segments is None
    assert record.segmentations[2][0][:, 0].max() == 100.0  # clipped to the image
    assert record.areas[0] == pytest.approx(0.5 * 20 * 15)  # the polygon's area
    assert not ds.has_masks
    assert ds.mask_coverage == (3, 4)
    text = "\n".join(map(str, ds.report.issues))
    assert "a.txt:2: polygon with 5 coordinates" in text
    assert "(polygon dropped, and its box if the object has no other part)" in text
    summary = ds.report.summary()
    assert "1 polygon_odd (polygon dropped, and its box" in summary
    assert "masks on 3 of 4 boxes" in summary


def _coco(tmp_path: Path, anns: list[dict]) -> Path:
    _image(tmp_path / "images" / "1.jpg")  # 100 x 50
    data = {
        "images": [{"id": 1, "file_name": "1.jpg", "width": 100, "height": 50}],
        "annotations": [
            {"id": k, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0, **a}
            for k, a in enumerate(anns, 1)
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }
    path = tmp_path / "annotations" / "val.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_coco_segmentations_exact_and_problems_reported(tmp_path: Path) -> None:
    square = [10, 10, 30, 10, 30, 30, 10, 30]
    mask = np.zeros((50, 100), np.uint8)
    mask[10:30, 10:30] = 1
    rle = encode_rle(mask)
    crowd_runs = {"size": [50, 100], "counts": [0, 5000]}  # everything, uncompressed
    path = _coco(
        tmp_path,
        [
            {"segmentation": [square, [40, 10, 50, 10, 45, 20]]},  # 1 two parts: both kept
            {"segmentation": [square, [1, 2, 3, 4]]},  # 2 a 2-point part dropped
            {"segmentation": [[1, 2, 3, 4], [5, 6, 7]]},  # 3 no part left: object dropped
            {"segmentation": rle},  # 4 compressed RLE
            {"segmentation": {**rle, "size": [10, 10]}},  # 5 RLE of another size
            {"segmentation": {"size": [50, 100], "counts": [5000]}},  # 6 empty mask
            {"segmentation": [10, 10, 30, 10, 30, 30]},  # 7 flat list: not polygons
            {"segmentation": crowd_runs, "iscrowd": 1, "bbox": [0, 0, 100, 50]},  # 8 crowd
            {"segmentation": []},  # 9 none: box only
            {"segmentation": {"size": [50, 100], "counts": "!!garbage"}},  # 10 bad string
            {"bbox": ["a", 1, 2, 3]},  # 11 bbox not numbers
        ],
    )
    ds = load_dataset(path)
    kinds = [(i.kind, i.file.rsplit("-", 1)[-1]) for i in ds.report.issues]
    assert kinds == [
        (Issue.POLYGON_SHORT, "2"),
        (Issue.POLYGON_SHORT, "3"),
        (Issue.POLYGON_ODD, "3"),
        (Issue.BAD_MASK, "5"),
        (Issue.BAD_MASK, "6"),
        (Issue.BAD_MASK, "7"),
        (Issue.BAD_MASK, "10"),
        (Issue.MALFORMED, "11"),
    ]
    assert all("#annotation-id-" in i.file for i in ds.report.issues)
    record = ds.records[0]
    segs = record.segmentations
    assert len(segs) == 5  # annotations 1, 2, 4, 8, 9
    assert [len(s) for s in segs[:2]] == [2, 1]
    assert segs[2] == rle
    assert segs[3] == encode_rle(np.ones((50, 100), np.uint8))  # compressed, exact
    assert segs[4] is None
    assert record.crowd.tolist() == [False, False, False, True, False]
    assert record.areas[0] == pytest.approx(400 + 50)  # no 'area' given: the polygons'
    assert record.areas[2] == 400  # the RLE's pixel count
    assert record.segments is None  # object 9 has no mask
    assert ds.mask_coverage == (3, 4)
    assert not ds.has_masks


def test_voc_instance_pngs(tmp_path: Path) -> None:
    objects = "".join(
        f"<object><name>thing</name><bndbox><xmin>{x + 1}</xmin><ymin>11</ymin>"
        f"<xmax>{x + 20}</xmax><ymax>30</ymax></bndbox></object>"
        for x in (10, 60)
    )
    masks = tmp_path / "SegmentationObject"
    masks.mkdir()
    for stem in ("good", "small", "extra", "rgb", "missing", "nopng"):
        _image(tmp_path / "JPEGImages" / f"{stem}.jpg")
        (tmp_path / "Annotations").mkdir(exist_ok=True)
        (tmp_path / "Annotations" / f"{stem}.xml").write_text(
            f"<annotation><filename>{stem}.jpg</filename>{objects}</annotation>"
        )
    values = np.zeros((50, 100), np.uint8)
    values[10:30, 10:30] = 1
    values[10:30, 60:80] = 2
    values[10:30, 29] = 255  # void border: in neither object
    for stem, array, mode in (
        ("good", values, "P"),
        ("small", values[:40], "P"),
        ("extra", np.where(values == 2, 3, values).astype(np.uint8), "P"),
        ("missing", np.where(values == 2, 0, values).astype(np.uint8), "L"),
    ):
        png = Image.frombytes(mode, array.shape[::-1], array.tobytes())
        if mode == "P":  # VOC's palette: without one Pillow may drop unused indices
            png.putpalette([v for i in range(256) for v in (i, 255 - i, i // 2)])
        png.save(masks / f"{stem}.png")
    Image.new("RGB", (100, 50)).save(masks / "rgb.png")
    desc = {"format": "voc", "names": ["thing"]}
    desc["val"] = {"images": "JPEGImages", "annotations": "Annotations"}
    (tmp_path / "voc.yaml").write_text(yaml.safe_dump(desc))
    ds = load_dataset(tmp_path / "voc.yaml")
    issues = {Path(i.file).name.split("#")[0]: i for i in ds.report.issues}
    assert {k: i.kind for k, i in issues.items()} == {
        "small.png": Issue.UNREADABLE_LABELS,
        "extra.png": Issue.UNREADABLE_LABELS,
        "rgb.png": Issue.UNREADABLE_LABELS,
        "missing.xml": Issue.BAD_MASK,
    }
    assert "40" in issues["small.png"].message
    assert "[3]" in issues["extra.png"].message
    by_name = {Path(r.path).stem: r for r in ds.records}
    assert sorted(by_name) == ["good", "missing", "nopng"]
    good = by_name["good"]
    first = decode_rle(good.segmentations[0])
    assert first.sum() == 20 * 19
    assert not first[:, 29].any()
    assert good.areas.tolist() == [380, 400]
    assert len(by_name["missing"].classes) == 1  # object 2 has no pixels: dropped
    assert by_name["nopng"].segmentations is None  # no PNG: boxes only
    assert ds.mask_coverage == (3, 5)
    assert not ds.has_masks


def test_reproduces_the_reference_training_masks(shared: Path, tmp_path: Path) -> None:
    """The reference's loss fixture: two coco_tiny images resized to 320 x 320, their
    polygons written as YOLO labels (6 significant digits), masks at ratio 4."""
    expected = np.load(shared / "parity" / "seg" / "seg_loss_masks.npy")
    root = shared / "data" / "coco_tiny_val2017"
    coco = json.loads((root / "annotations" / "instances_val2017.json").read_text())
    images = {i["file_name"]: i for i in coco["images"]}
    coco80 = (shared / "data" / "coco80_names.txt").read_text()
    index = _yolo_index(coco80)
    names = ["000000119828.jpg", "000000269316.jpg"]
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for name in names:
        info = images[name]
        image = cv2.imread(str(root / "images" / name))
        cv2.imwrite(str(tmp_path / "images" / f"{name[:-4]}.png"), cv2.resize(image, (320, 320)))
        lines = []
        for a in (a for a in coco["annotations"] if a["image_id"] == info["id"]):
            (polygon,) = a["segmentation"]
            scale = [info["width"], info["height"]] * (len(polygon) // 2)
            values = " ".join(f"{v / s:.6g}" for v, s in zip(polygon, scale, strict=True))
            lines.append(f"{index[a['category_id']]} {values}")
        (tmp_path / "labels" / f"{name[:-4]}.txt").write_text("\n".join(lines))
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"val": "images", "names": list(range(80))}))
    ds = load_dataset(tmp_path / "data.yaml")
    masks = np.concatenate([r.instance_masks(ratio=4) for r in ds.records])
    assert masks.shape == expected.shape == (11, 80, 80)
    np.testing.assert_array_equal(masks, expected)


def _yolo_index(table: str) -> dict[int, int]:
    """COCO category id -> YOLO class index, from ``coco80_names.txt``."""
    out = {}
    for line in table.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].isdigit() and fields[1].isdigit():
            out[int(fields[1])] = int(fields[0])
    assert len(out) == 80, "unexpected coco80_names.txt layout"
    return out
