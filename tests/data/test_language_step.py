"""The samples of the two caption schedules: the language step's pair (the image augmented
for the vision step, the same image plain with a caption) and the one step's sample (the
vision task's unaugmented sample carrying a caption), both over the same records."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from yolov9.data.caption_training import CaptionTrainDataset, caption_training_split
from yolov9.data.language_step import CaptionedDataset, VisionLanguageDataset
from yolov9.data.synthetic_captions import write_caption_dataset
from yolov9.data.train_dataset import TrainDataset
from yolov9.errors import DataError


def _parts(tmp_path: Path) -> tuple[TrainDataset, CaptionTrainDataset]:
    data = write_caption_dataset(tmp_path, {"train": 4})
    split = caption_training_split(data, "train")
    assert split is not None
    records = split.dataset.records
    words = CaptionTrainDataset(records, split.captions, lambda c: [2, 5, 3], 64, max_tokens=6)
    return TrainDataset(records, 64, augment=False), words


def test_the_language_step_pairs_each_image_with_itself_plain(tmp_path: Path) -> None:
    vision, words = _parts(tmp_path)
    vision.augment = True
    pairs = VisionLanguageDataset(vision, words)
    batch = pairs.collate([pairs[0], pairs[1]])
    assert batch.captions is None  # the vision step's batch: augmented, no captions
    assert batch.language is not None
    assert batch.language.captions is not None
    assert batch.language.captions.tolist() == [[2, 5, 3, 0, 0, 0]] * 2
    assert batch.images.shape[-2:] == (64, 64)


def test_the_one_step_sample_carries_a_caption(tmp_path: Path) -> None:
    vision, words = _parts(tmp_path)
    one = CaptionedDataset(vision, words)
    sample = one[2]
    assert sample.captions is not None
    assert torch.equal(sample.captions, words.caption_tokens(2))
    assert torch.equal(sample.image, vision[2].image)
    batch = one.collate([one[0], one[3]])
    assert batch.captions is not None
    assert batch.captions.shape == (2, 6)


def test_both_need_the_same_images_and_the_one_step_plain_samples(tmp_path: Path) -> None:
    vision, words = _parts(tmp_path)
    other = TrainDataset(list(reversed(vision.records)), 64, augment=False)
    with pytest.raises(DataError, match="same images"):
        VisionLanguageDataset(other, words)
    with pytest.raises(DataError, match="same images"):
        CaptionedDataset(other, words)
    vision.augment = True
    with pytest.raises(ValueError, match="unaugmented"):
        CaptionedDataset(vision, words)
