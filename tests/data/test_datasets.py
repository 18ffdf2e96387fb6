"""Datasets: three formats, one interface; every label problem reported; safe cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from yolov9.data import dataset as dataset_module
from yolov9.data.dataset import load_dataset
from yolov9.data.labels import ImageLabels, Issue, LabelReport
from yolov9.data.loader import rect_batch_shapes
from yolov9.errors import ConfigError, DataError


def test_three_formats_read_identically(shapes: dict[str, Path]) -> None:
    sets = {fmt: load_dataset(path, "val") for fmt, path in shapes.items()}
    yolo = sets["yolo"]
    assert len(yolo) == 12
    assert yolo.report.counts[Issue.BACKGROUND] == 2
    assert yolo.report.problems == []
    for other in (sets["coco"], sets["voc"]):
        assert other.names == yolo.names
        for a, b in zip(yolo.records, other.records, strict=True):
            assert Path(a.path).name == Path(b.path).name
            assert (a.width, a.height) == (b.width, b.height)
            np.testing.assert_array_equal(a.boxes, b.boxes)
            np.testing.assert_array_equal(a.classes, b.classes)
    assert sets["coco"].category_ids == [1, 2, 3, 4]
    assert yolo.category_ids == [0, 1, 2, 3]


def _image(path: Path, w: int = 100, h: int = 50) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 127, np.uint8))
    return path


def test_yolo_label_problems_are_reported_per_line(tmp_path: Path) -> None:
    images, labels = tmp_path / "images", tmp_path / "labels"
    for name in ("a", "b", "bg"):
        _image(images / f"{name}.jpg")
    labels.mkdir()
    (labels / "a.txt").write_text(
        "\n".join(
            [
                "0 0.5 0.5 0.2 0.2",  # 1 fine
                "1 50 25 20 10",  # 2 pixel coordinates
                "0 1.3 0.5 0.2 0.2",  # 3 outside the image
                "0 0.5 0.5 0 0.1",  # 4 zero width
                "7 0.5 0.5 0.2 0.2",  # 5 class outside names
                "0 0.5 0.5",  # 6 too few values
                "0 0.5 0.5 0.2 0.2",  # 7 duplicate of line 1
                "1 0.1 0.1 0.3 0.1 0.2 0.4",  # 8 polygon
                "x 0.5 0.5 0.1 0.1",  # 9 not a number
                "1 0.995 0.5 0.02 0.2",  # 10 overhangs by 0.5 %: clipped
            ]
        )
    )
    (labels / "b.txt").write_bytes(b"\xff\xfe\x00 not text")
    (tmp_path / "list.txt").write_text(
        "images/a.jpg\nimages/b.jpg\nimages/bg.jpg\nimages/gone.jpg\n"
    )
    (tmp_path / "data.yaml").write_text(yaml.safe_dump({"val": "list.txt", "names": ["x", "y"]}))
    ds = load_dataset(tmp_path / "data.yaml", "val")
    counts = ds.report.counts
    expected = {
        Issue.NOT_NORMALISED: 1,
        Issue.OUT_OF_RANGE: 1,
        Issue.DEGENERATE: 1,
        Issue.BAD_CLASS: 1,
        Issue.MALFORMED: 2,
        Issue.DUPLICATE: 1,
        Issue.CLIPPED: 1,
        Issue.UNREADABLE_LABELS: 1,
        Issue.MISSING_IMAGE: 1,
        Issue.BACKGROUND: 1,
    }
    assert dict(counts) == expected
    lines = {i.kind: i.line for i in ds.report.issues}
    assert lines[Issue.NOT_NORMALISED] == 2
    assert lines[Issue.BAD_CLASS] == 5
    assert lines[Issue.DUPLICATE] == 7
    assert all(i.file.endswith("a.txt") for i in ds.report.issues if i.line is not None)
    a = ds.records[0]
    assert a.classes.tolist() == [0, 1, 1]  # lines 1, 8, 10
    assert a.boxes[2, 2] == pytest.approx(100.0)  # clipped to the image width
    summary = ds.report.summary()
    assert "2 images, 3 boxes, 1 background images" in summary
    assert "1 not_normalised (box dropped)" in summary
    assert "1 missing_image (image dropped)" in summary


def test_coco_and_voc_problems(tmp_path: Path) -> None:
    _image(tmp_path / "images" / "1.jpg")
    coco = {
        "images": [
            {"id": 1, "file_name": "1.jpg", "width": 100, "height": 50},
            {"id": 2, "file_name": "2.jpg", "width": 100, "height": 50},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 9, "bbox": [10, 10, 20, 20], "iscrowd": 0},
            {"id": 3, "image_id": 1, "category_id": 1, "bbox": [150, 10, 20, 20], "iscrowd": 0},
            {"id": 4, "image_id": 5, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0},
            {"id": 5, "image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 50], "iscrowd": 1},
        ],
        "categories": [{"id": 1, "name": "thing"}],
    }
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "val.json").write_text(json.dumps(coco))
    ds = load_dataset(tmp_path / "annotations" / "val.json")
    assert dict(ds.report.counts) == {
        Issue.BAD_CLASS: 1,
        Issue.OUT_OF_RANGE: 1,
        Issue.MALFORMED: 1,
        Issue.MISSING_IMAGE: 1,
    }
    assert ds.records[0].crowd.tolist() == [False, True]
    assert ds.records[0].train_mask.sum() == 1

    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "1.xml").write_text(
        "<annotation><filename>1.jpg</filename><object><name>thing</name><bndbox><xmin>11"
        "</xmin><ymin>11</ymin><xmax>30</xmax><ymax>30</ymax></bndbox></object><object>"
        "<name>ghost</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>"
        "</bndbox></object></annotation>"
    )
    (tmp_path / "voc" / "2.xml").write_text("<annotation><filename>")
    desc = {"format": "voc", "names": ["thing"], "val": {"images": "images", "annotations": "voc"}}
    (tmp_path / "voc.yaml").write_text(yaml.safe_dump(desc))
    voc = load_dataset(tmp_path / "voc.yaml")
    assert dict(voc.report.counts) == {Issue.BAD_CLASS: 1, Issue.UNREADABLE_LABELS: 1}
    np.testing.assert_array_equal(voc.records[0].boxes, [[10, 10, 30, 30]])


def test_cache_is_used_and_invalidated(
    shapes: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_dataset(shapes["yolo"], "train")

    def no_parsing(*args, **kwargs):
        raise AssertionError("labels were parsed again instead of read from the cache")

    monkeypatch.setattr(dataset_module, "read_yolo", no_parsing)
    second = load_dataset(shapes["yolo"], "train")
    assert [r.path for r in second.records] == [r.path for r in first.records]
    assert all(
        np.array_equal(a.boxes, b.boxes) for a, b in zip(first.records, second.records, strict=True)
    )
    assert second.report.summary() == first.report.summary()

    label = Path(shapes["yolo"]).parent / "labels" / "train" / "train_00000.txt"
    original = label.read_text()
    label.write_text("0 0.5 0.5 0.25 0.25")
    os.utime(label, ns=(1, 1))  # even an identical size would change the mtime
    monkeypatch.undo()
    try:
        changed = load_dataset(shapes["yolo"], "train")
        np.testing.assert_array_equal(changed.records[0].boxes, [[96, 96, 160, 160]])
    finally:
        label.write_text(original)


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_a_damaged_cache_is_read_again_and_rewritten(
    shapes: dict[str, Path], monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    """An empty or cut-off cache file (EOFError, BadZipFile inside NumPy) is not a crash."""
    from yolov9.data import cache

    first = load_dataset(shapes["yolo"], "val")
    files = sorted(cache.cache_root().glob("*.npz"))
    assert files
    for f in files:  # the label cache and the mask cache beside it
        data = f.read_bytes()
        f.write_bytes(b"" if damage == "empty" else data[: len(data) // 2])
        assert cache.load(f) is None
    parsed = []
    read_yolo = dataset_module.read_yolo
    monkeypatch.setattr(
        dataset_module, "read_yolo", lambda *a, **k: parsed.append(1) or read_yolo(*a, **k)
    )
    again = load_dataset(shapes["yolo"], "val")
    assert parsed == [1]
    assert [r.path for r in again.records] == [r.path for r in first.records]
    assert cache.load(max(files, key=lambda f: f.stat().st_size)) is not None  # rewritten


@pytest.mark.parametrize(
    ("desc", "error", "message"),
    [
        ({"val": "images/val", "names": ["a"], "colour": "red"}, ConfigError, "unknown key"),
        ({"val": "images/val"}, ConfigError, "need 'names'"),
        ({"train": "images/val", "names": ["a"]}, DataError, "no 'val' split"),
        ({"val": "images/val", "names": ["a", "b"], "nc": 3}, ConfigError, "nc=3 but 2 names"),
        ({"val": "nowhere", "names": ["a"]}, DataError, "neither a folder nor a .txt list"),
        ({"val": "images/val", "names": {1: "a"}}, ConfigError, "keys must be 0..0"),
    ],
)
def test_bad_descriptions(
    shapes: dict[str, Path], tmp_path: Path, desc: dict, error: type, message: str
) -> None:
    root = Path(shapes["yolo"]).parent
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"path": str(root), **desc}))
    with pytest.raises(error, match=message):
        load_dataset(path, "val")


def test_folder_and_json_shortcuts(shapes: dict[str, Path]) -> None:
    root = Path(shapes["yolo"]).parent
    assert len(load_dataset(root, "val")) == 12  # data.yaml inside the folder
    assert len(load_dataset(root / "annotations" / "instances_val.json")) == 12


def test_rect_batch_shape_of_a_640x480_image() -> None:
    order, shapes = rect_batch_shapes(np.array([[640.0, 480.0]]), batch_size=32, imgsz=640)
    assert shapes.tolist() == [[512, 672]]
    order, shapes = rect_batch_shapes(np.array([[300.0, 600], [640, 480], [500, 500]]), 2, 640)
    assert order.tolist() == [1, 2, 0]
    assert shapes.tolist() == [[672, 672], [672, 352]]  # mixed aspects -> square; tall -> narrow


def _labelled(path: str) -> ImageLabels:
    return ImageLabels(path, 64, 48, np.array([[1, 2, 30, 40]], np.float32), np.array([2]))


def test_cache_file_does_not_grow_with_the_longest_path(tmp_path: Path) -> None:
    """Paths are stored as UTF-8 bytes: one long path costs its own length, not its width
    times every image (as a fixed-width string array would); any str path round-trips."""
    from yolov9.data import cache

    records = [_labelled(f"/data/images/{i:06d}.jpg") for i in range(2000)]
    odd = "/data/" + "x" * 1000 + "/é-\udcff.jpg"  # non-ASCII, an undecodable file-name byte
    cache.save(tmp_path / "short.npz", records, LabelReport(), {"names": ["a"]})
    cache.save(tmp_path / "long.npz", [*records, _labelled(odd)], LabelReport(), {"names": ["a"]})
    growth = (tmp_path / "long.npz").stat().st_size - (tmp_path / "short.npz").stat().st_size
    assert growth < 2000  # the fixed-width array grew by 2001 x 1016 characters x 4 bytes
    loaded = cache.load(tmp_path / "long.npz")
    assert loaded is not None
    assert [r.path for r in loaded[0]] == [*(r.path for r in records), odd]
    np.testing.assert_array_equal(loaded[0][-1].boxes, [[1, 2, 30, 40]])


def test_a_cache_with_inconsistent_arrays_is_ignored(tmp_path: Path) -> None:
    from yolov9.data import cache

    path = tmp_path / "labels.npz"
    cache.save(path, [_labelled("/a.jpg"), _labelled("/b.jpg")], LabelReport(), {})
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["boxes"] = arrays["boxes"][:1]  # two objects counted, one box stored
    np.savez(path, **arrays)
    assert cache.load(path) is None


def test_the_cache_builds_and_reads_records_without_garbage_collections(tmp_path: Path) -> None:
    """Each collection rescans every live object, so collections while building a large
    split's records made the time grow faster than the split (x12 to x50 from 10k to 100k)."""
    import gc

    from yolov9.data import cache

    records = [_labelled(f"/data/images/{i:06d}.jpg") for i in range(30_000)]
    collections = []

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    gc.callbacks.append(count)
    try:
        cache.save(tmp_path / "labels.npz", records, LabelReport(), {})
        loaded = cache.load(tmp_path / "labels.npz")
    finally:
        gc.callbacks.remove(count)
    assert loaded is not None
    assert len(loaded[0]) == len(records)
    assert len(collections) <= 3, collections  # 86 before: one per 700 new objects
    assert gc.isenabled()
