"""Samples of a model that learns captions beside its vision task.

* The reference's two steps per batch (``optim.language_step``, :class:`VisionLanguageDataset`):
  each index gives the image augmented for the vision step (mosaic, affine, colour, flips) and
  the same image plain for the language step (letterboxed as the predictor does, one
  caption), as the authors' caption training draws ``imgs`` and ``ori_imgs`` from one dataset.
  Captions say where things are and what colour they are, so only the vision step may augment.
* One step on plain images with every label (:class:`CaptionedDataset`): the vision task's
  unaugmented sample (boxes, masks, semantic target) carrying one of the image's captions.
"""

from __future__ import annotations

from torch.utils.data import Dataset

from yolov9.data.caption_training import CaptionTrainDataset, collate_captions
from yolov9.data.train_dataset import TrainBatch, TrainDataset, TrainSample, collate_train
from yolov9.errors import DataError


class _SameImages:
    """Two views of the same records in the same order: ``vision`` (the vision task's
    samples) and ``language`` (the plain images with their captions)."""

    def __init__(self, vision: TrainDataset, language: CaptionTrainDataset) -> None:
        if [r.path for r in vision.records] != [r.path for r in language.records]:
            raise DataError("the vision and language samples must come from the same images")
        self.vision, self.language = vision, language

    def __len__(self) -> int:
        return len(self.vision)

    def set_epoch(self, epoch: int, *, mosaic: bool = True) -> None:
        self.vision.set_epoch(epoch, mosaic=mosaic)
        self.language.set_epoch(epoch, mosaic=mosaic)


class VisionLanguageDataset(_SameImages, Dataset[tuple[TrainSample, TrainSample]]):
    """``vision[i]`` and ``language[i]`` for each index (module docstring)."""

    def __getitem__(self, index: int) -> tuple[TrainSample, TrainSample]:
        return self.vision[index], self.language[index]

    @staticmethod
    def collate(pairs: list[tuple[TrainSample, TrainSample]]) -> TrainBatch:
        """The vision batch, carrying the language batch in ``language``."""
        batch = collate_train([v for v, _ in pairs])
        batch.language = collate_captions([lang for _, lang in pairs])
        return batch


class CaptionedDataset(_SameImages, Dataset[TrainSample]):
    """``vision[i]`` (unaugmented: ``augment=False``) with the caption ``language[i]`` draws."""

    def __init__(self, vision: TrainDataset, language: CaptionTrainDataset) -> None:
        if vision.augment:
            raise ValueError("captions ride on unaugmented samples only (augment=False)")
        super().__init__(vision, language)

    def __getitem__(self, index: int) -> TrainSample:
        sample = self.vision[index]
        sample.captions = self.language.caption_tokens(sample.index)
        return sample

    @staticmethod
    def collate(samples: list[TrainSample]) -> TrainBatch:
        return collate_train(samples)
