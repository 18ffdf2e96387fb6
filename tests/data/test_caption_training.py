"""Caption splits as training data: images found, boxes read where labelled, one caption per
sample drawn per epoch, token ids framed and padded; bad data refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from yolov9.data.caption_training import (
    CaptionTrainDataset,
    caption_training_split,
    collate_captions,
    images_folder,
)
from yolov9.data.captions import read_captions
from yolov9.data.synthetic_captions import SHAPES, write_caption_dataset
from yolov9.data.train_dataset import TrainSample
from yolov9.errors import DataError


def _encode(caption: str) -> list[int]:
    return [2] + [10 + len(w) for w in caption.split()] + [3]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_caption_dataset(tmp_path_factory.mktemp("cap"), {"train": 6, "val": 3})


def test_a_generated_split_has_images_boxes_and_captions(generated: Path) -> None:
    split = caption_training_split(generated, "train")
    assert split is not None
    assert len(split.dataset) == 6
    assert split.has_boxes
    assert split.dataset.names == list(SHAPES)
    assert all(len(c) == 5 for c in split.captions)
    truth = split.truth
    for image_id, record, captions in zip(
        split.image_ids, split.dataset.records, split.captions, strict=True
    ):
        assert truth.captions[image_id] == captions
        assert Path(record.path).name == truth.files[image_id]
        assert len(record.boxes) >= 1


def test_samples_carry_the_letterboxed_boxes_and_one_caption(generated: Path) -> None:
    split = caption_training_split(generated, "train")
    assert split is not None
    data = CaptionTrainDataset(
        split.dataset.records, split.captions, _encode, 160, max_tokens=8, seed=1
    )
    sample = data[0]
    # as the predictor letterboxes it: 96x128 -> 120x160, padded to 128x160 (4 px above)
    assert sample.image.shape == (128, 160, 3)
    record = split.dataset.records[0]
    expected = record.boxes * 1.25 + np.array([0, 4, 0, 4], np.float32)
    np.testing.assert_allclose(sample.targets[:, 1:].numpy(), expected, atol=0.01)
    assert sample.captions is not None
    assert sample.captions.shape == (8,)
    ids = sample.captions.tolist()
    assert ids[0] == 2
    assert 3 in ids
    framed = [data._frame(_encode(c)) for c in split.captions[0]]
    assert ids[: ids.index(3) + 1] in framed
    drawn = set()
    for epoch in range(8):  # a caption drawn per epoch, reproducibly
        data.set_epoch(epoch)
        first = tuple(data[0].captions.tolist())
        assert first == tuple(data[0].captions.tolist())
        drawn.add(first)
    assert len(drawn) > 1


def test_a_batch_is_padded_to_its_largest_image_at_the_bottom_and_right() -> None:
    wide = TrainSample(torch.full((64, 96, 3), 7, dtype=torch.uint8), torch.zeros(0, 5), 0)
    tall = TrainSample(torch.full((96, 64, 3), 9, dtype=torch.uint8), torch.zeros(0, 5), 1)
    for s in (wide, tall):
        s.captions = torch.tensor([2, 5, 3])
    batch = collate_captions([wide, tall])
    assert batch.images.shape == (2, 3, 96, 96)
    assert int(batch.images[0, 0, 63, 95]) == 7
    assert int(batch.images[0, 0, 64, 0]) == 114
    assert int(batch.images[1, 0, 95, 63]) == 9
    assert int(batch.images[1, 0, 0, 64]) == 114
    assert batch.captions is not None
    assert batch.captions.shape == (2, 3)


def test_captions_alone_have_no_boxes_and_one_class(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "a.jpg"), np.zeros((20, 30, 3), np.uint8))
    doc = {
        "images": [{"id": 7, "file_name": "a.jpg"}],
        "annotations": [{"image_id": 7, "caption": "A dark picture. "}],
    }
    path = tmp_path / "captions_val.json"
    path.write_text(json.dumps(doc))
    split = caption_training_split(path, "val")
    assert split is not None
    assert not split.has_boxes
    assert split.dataset.names == ["object"]
    assert split.image_ids == [7]
    assert images_folder(read_captions(path)) == tmp_path / "images"


def test_no_readable_image_is_one_line(tmp_path: Path) -> None:
    doc = {
        "images": [{"id": 1, "file_name": "missing.jpg"}],
        "annotations": [{"image_id": 1, "caption": "nothing"}],
    }
    path = tmp_path / "captions_train.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError, match="none of its 1 captioned images can be read"):
        caption_training_split(path, "train")


def test_the_shared_coco_captions_read_as_a_split(shared: Path) -> None:
    data = shared / "data" / "coco_mini_val2017_captions"
    split = caption_training_split(data / "captions_val2017.json", "val")
    assert split is not None
    assert len(split.dataset) == 79
    assert not split.has_boxes
    assert all(len(c) >= 5 for c in split.captions)


def test_json_lines_are_the_plain_form(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(photos / name), np.full((24, 32, 3), 200, np.uint8))
    lines = [
        {"image": "photos/a.jpg", "captions": ["A bright picture.", "  "]},
        {"image": "photos/b.jpg", "captions": ["light grey", "a pale square"], "id": "b"},
        {"image": "photos/missing.jpg", "captions": []},
    ]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    split = caption_training_split(path, "train")
    assert split is not None
    assert split.image_ids == [1, "b"]
    assert split.captions == [["A bright picture."], ["light grey", "a pale square"]]
    assert split.truth.problems == [
        "1 empty caption(s) skipped",
        "1 image(s) without a caption (e.g. line 3)",
    ]
    path.write_text('{"image": "photos/a.jpg", "captions": ["x"]}\n{"image": "b.jpg"}\n')
    with pytest.raises(DataError, match=r"mine.jsonl:2: needs 'image' and a list of 'captions'"):
        caption_training_split(path, "train")
    path.write_text("not json\n")
    with pytest.raises(DataError, match=r"mine.jsonl:1: not a JSON object"):
        caption_training_split(path, "train")
