"""A caption split as training data: its images (with boxes where YOLO label files lie beside
them, ``labels/`` for ``images/``), the captions of each, and the samples a caption model
trains on.

Images are found as for COCO instances JSON: the split's ``images`` folder, or for a captions
JSON given directly ``<root>/images/<name>``, ``<root>/<name>``, ``<root>/images``, an
``images`` folder beside the JSON, or the JSON's folder (``name``: the file's stem without
``captions_``). Class names are the data YAML's ``names`` (one class, ``object``, without).

Samples are not augmented: captions say where things are and what colour they are, so
flips, mosaics and colour jitter would make them false. Each image is letterboxed as the
predictor letterboxes it (long side ``imgsz``, the short side padded to a multiple of 32 only),
and :func:`collate_captions` pads a batch to its largest image at the bottom and right, as
the predictor pads a batch: a caption model trains on the inputs it will see. Each sample is
the letterboxed image, its boxes, and one of its captions drawn at random per epoch
(``(seed, epoch, index)``), as token ids framed by BOS and EOS and padded to the longest
caption the head reads.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from yolov9.data.captions import CaptionSet, caption_split
from yolov9.data.dataset import DetectionDataset, _names, read_description
from yolov9.data.formats import read_yolo
from yolov9.data.images import PAD_VALUE, letterbox
from yolov9.data.labels import ImageLabels, LabelReport
from yolov9.data.loader import load_resized
from yolov9.data.train_dataset import TrainBatch, TrainSample, collate_train
from yolov9.errors import DataError

DEFAULT_NAMES = ["object"]


@dataclass(frozen=True)
class CaptionTraining:
    """One caption split: ``dataset`` holds its readable images (boxes where labelled),
    ``image_ids[i]`` the captions file's id of ``dataset.records[i]``."""

    truth: CaptionSet
    dataset: DetectionDataset
    image_ids: list[Any]

    @property
    def has_boxes(self) -> bool:
        return self.dataset.report.boxes > 0

    @property
    def captions(self) -> list[list[str]]:
        """The captions of each record."""
        return [self.truth.captions[i] for i in self.image_ids]


def images_folder(truth: CaptionSet) -> Path:
    """Where the images of a captions file are (module docstring)."""
    if truth.images_dir is not None:
        return truth.images_dir
    src = truth.source
    name = src.stem.removeprefix("captions_")
    first = next(iter(truth.files.values()), "")
    candidates = [
        src.parent.parent / "images" / name,
        src.parent.parent / name,
        src.parent.parent / "images",
        src.parent / "images",
        src.parent,
    ]
    for folder in candidates:
        if first and (folder / first).is_file():
            return folder
    return next((c for c in candidates if c.is_dir()), src.parent)


def caption_training_split(data: str | Path, split: str) -> CaptionTraining | None:
    """The split as caption training data, or None when ``data`` is not caption data.

    Raises:
        DataError: no image of the captions file can be read.
    """
    truth = caption_split(data, split)
    return None if truth is None else caption_training(truth, data, split)


def caption_training(truth: CaptionSet, data: str | Path, split: str) -> CaptionTraining:
    """A caption split already read (``truth``, from ``data``) as training data.

    Raises:
        DataError: no image of the captions file can be read.
    """
    names = None
    path = Path(data).expanduser()
    if path.suffix not in (".json", ".jsonl"):  # a data YAML: its class names
        desc, _, source = read_description(path)
        names = _names(desc.get("names"), source)
    names = names or DEFAULT_NAMES
    folder = images_folder(truth)
    ids = [i for i in truth.files if i in truth.captions]
    paths = [folder / truth.files[i] for i in ids]
    report = LabelReport(split=f"{path.name}:{split}")
    records = read_yolo(paths, len(names), report)
    if not records:
        raise DataError(
            f"{truth.source}: none of its {len(paths)} captioned images can be read in {folder} "
            "(give the split's images folder: {images: DIR, captions: FILE})"
        )
    report.images = len(records)
    report.boxes = sum(len(r.classes) for r in records)
    id_of = {str(p): i for p, i in zip(paths, ids, strict=True)}
    dataset = DetectionDataset(records, list(names), list(range(len(names))), report, "yolo", split)
    return CaptionTraining(truth, dataset, [id_of[str(r.path)] for r in records])


def captions_for(records: Sequence[ImageLabels], split: CaptionTraining) -> list[list[str]]:
    """The captions of each of ``records`` (read from another label source of the same
    images: the things of a panoptic split), matched by image file.

    Raises:
        DataError: an image without captions (named, with how many lack them).
    """
    by_file = {
        Path(r.path).resolve(): caps
        for r, caps in zip(split.dataset.records, split.captions, strict=True)
    }
    missing = [r.path for r in records if Path(r.path).resolve() not in by_file]
    if missing:
        raise DataError(
            f"{split.truth.source}: no captions for {len(missing)} of the {len(records)} "
            f"images of the split (e.g. {missing[0]}); caption every image, or train a "
            "model without a caption head"
        )
    return [by_file[Path(r.path).resolve()] for r in records]


def collate_captions(samples: list[TrainSample]) -> TrainBatch:
    """A batch of caption samples, the images padded at the bottom and right to the largest
    (boxes do not move)."""
    h = max(int(s.image.shape[0]) for s in samples)
    w = max(int(s.image.shape[1]) for s in samples)
    for s in samples:
        if s.image.shape[:2] != (h, w):
            padded = torch.full((h, w, 3), PAD_VALUE, dtype=torch.uint8)
            padded[: s.image.shape[0], : s.image.shape[1]] = s.image
            s.image = padded
    return collate_train(samples)


# caption -> token ids (BOS ... EOS)
Encoder = Callable[[str], list[int]]


class CaptionTrainDataset(Dataset[TrainSample]):
    """Letterboxed images, their boxes and one caption each (module docstring)."""

    def __init__(
        self,
        records: Sequence[ImageLabels],
        captions: Sequence[Sequence[str]],
        encode: Encoder,
        imgsz: int,
        *,
        max_tokens: int,
        seed: int = 0,
    ) -> None:
        if not records:
            raise DataError("the caption split has no images")
        self.records, self.imgsz, self.seed = list(records), imgsz, seed
        self.max_tokens = max_tokens  # BOS and EOS included
        self.tokens = [[self._frame(encode(c)) for c in caps] for caps in captions]
        self.epoch = 0

    def _frame(self, ids: list[int]) -> list[int]:
        """Cut to ``max_tokens`` (keeping EOS last)."""
        return ids if len(ids) <= self.max_tokens else ids[: self.max_tokens - 1] + ids[-1:]

    def __len__(self) -> int:
        return len(self.records)

    @staticmethod
    def collate(samples: list[TrainSample]) -> TrainBatch:
        return collate_captions(samples)

    def set_epoch(self, epoch: int, *, mosaic: bool = True) -> None:
        self.epoch = epoch

    def caption_tokens(self, index: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        """One of image ``index``'s captions, drawn by ``(seed, epoch, index)`` (or ``rng``),
        as ``max_tokens`` token ids (BOS ... EOS, PAD after)."""
        rng = rng or np.random.default_rng((self.seed, self.epoch, index))
        choices = self.tokens[index]
        ids = choices[int(rng.integers(len(choices)))]
        tokens = torch.zeros(self.max_tokens, dtype=torch.long)
        tokens[: len(ids)] = torch.tensor(ids, dtype=torch.long)
        return tokens

    def __getitem__(self, index: int) -> TrainSample:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        problems: list[str] = []
        record = self.records[index]
        for _ in range(10):
            record = self.records[index]
            try:
                resized, (h0, w0) = load_resized(record.path, self.imgsz, augment=False)
                break
            except DataError as e:
                problems.append(str(e))
                index = int(rng.integers(len(self.records)))
        else:
            raise DataError(f"{record.path}: 10 unreadable images in a row")
        image, info = letterbox(resized, self.imgsz, auto=True)
        sx, sy = resized.shape[1] / w0 * info.ratio, resized.shape[0] / h0 * info.ratio
        keep = record.train_mask
        boxes = record.boxes[keep] * np.array([sx, sy, sx, sy], np.float32)
        boxes = boxes + np.array([*info.pad, *info.pad], np.float32)
        targets = np.concatenate(
            [record.classes[keep, None].astype(np.float32), boxes.astype(np.float32)], 1
        )
        tokens = self.caption_tokens(index, rng)
        return TrainSample(
            torch.from_numpy(np.ascontiguousarray(image)),
            torch.from_numpy(targets),
            index,
            problems,
            captions=tokens,
        )
