"""COCO panoptic data: reading a split (JSON directly or a data YAML), the checked segment ids,
and the semantic and instance ground truth made from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from yolov9.data.panoptic import IGNORE, read_panoptic
from yolov9.data.panoptic_formats import panoptic_split
from yolov9.data.synthetic_panoptic import STUFF, THINGS, write_panoptic_dataset
from yolov9.errors import DataError
from yolov9.ops.masks import decode_rle


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_panoptic_dataset(tmp_path_factory.mktemp("pan"), 3, seed=1)


def test_truths_follow_the_segment_ids(data: Path) -> None:
    panset = read_panoptic(data)
    assert panset.names == list(THINGS + STUFF)
    assert panset.isthing == [True, True, False, False, False]
    for image in panset.images:
        assert image.image is not None
        assert image.image.parent.name == "images"
        ids = panset.read_ids(image)
        sem = panset.semantic_truth(ids, image)
        assert (sem[ids == 0] == IGNORE).all()
        for s in image.segments:
            c = panset.category_index[s["category_id"]]
            assert (sem[ids == s["id"]] == c).all()  # crowd regions keep their category
        truth = panset.instance_truth(ids, image)
        things = [
            s for s in image.segments if panset.isthing[panset.category_index[s["category_id"]]]
        ]
        assert len(truth.rles) == len(things)
        for s, rle, box, crowd in zip(things, truth.rles, truth.boxes, truth.crowd, strict=True):
            assert (decode_rle(rle) == (ids == s["id"])).all()
            x, y, w, h = s["bbox"]
            assert box.tolist() == [x, y, x + w, y + h]
            assert crowd == bool(s["iscrowd"])


def test_a_data_yaml_names_the_panoptic_split(data: Path, tmp_path: Path) -> None:
    yaml_file = tmp_path / "data.yaml"
    yaml_file.write_text(f"path: {data.parent}\nval: {{images: images, panoptic: panoptic.json}}\n")
    panset = panoptic_split(yaml_file, "val")
    assert panset is not None
    assert len(panset) == 3
    assert panset.png_dir == data.parent / "panoptic"
    assert panoptic_split(data, "val") is not None  # the JSON itself
    # instance data is not panoptic
    instances = tmp_path / "instances.json"
    instances.write_text(
        '{"images": [], "annotations": [{"bbox": [0, 0, 1, 1]}], "categories": []}'
    )
    assert panoptic_split(instances) is None
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"path: {data.parent}\nval: {{images: images, panoptic: panoptic.json, x: 1}}\n")
    with pytest.raises(DataError, match=r"val: expected images plus one of panoptic"):
        panoptic_split(bad, "val")


def test_scoring_a_results_file_needs_no_images(data: Path, tmp_path: Path) -> None:
    (data.parent / "images").rename(tmp_path / "moved")
    try:
        with pytest.raises(DataError, match="not found"):
            read_panoptic(data)
        panset = read_panoptic(data, need_images=False)
        assert all(image.image is None for image in panset.images)
    finally:
        (tmp_path / "moved").rename(data.parent / "images")


def test_stuff_names_without_stuff_labels_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    bad = tmp_path / "data.yaml"
    bad.write_text("names: [a]\nstuff_names: [sky]\nval: images\n")
    with pytest.raises(DataError, match="split 'val' has no stuff labels"):
        panoptic_split(bad, "val")
