"""Data loaders. Evaluation: the reference protocol (long side resized to ``imgsz`` with
INTER_AREA when shrinking, then letterboxed without up-scaling into rectangular per-batch
shapes: images sorted by aspect ratio, each batch padded to ``ceil(r·imgsz/stride + pad)``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from yolov9.data.images import LetterboxInfo, letterbox, read_image
from yolov9.data.labels import ImageLabels
from yolov9.data.polygons import instance_masks
from yolov9.errors import DataError


def load_resized(
    path: str, imgsz: int, augment: bool = False
) -> tuple[np.ndarray, tuple[int, int]]:
    """Read RGB and resize so the long side is ``imgsz`` (short side rounded up), as the
    reference does: INTER_AREA when shrinking for evaluation, INTER_LINEAR otherwise.
    Returns the image and its original (h, w)."""
    image = read_image(path)
    h0, w0 = image.shape[:2]
    r = imgsz / max(h0, w0)
    if r != 1:
        interp = cv2.INTER_LINEAR if (augment or r > 1) else cv2.INTER_AREA
        image = cv2.resize(image, (math.ceil(w0 * r), math.ceil(h0 * r)), interpolation=interp)
    return image, (h0, w0)


def rect_batch_shapes(
    sizes_wh: np.ndarray, batch_size: int, imgsz: int, stride: int = 32, pad: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """(order, shapes): images sorted by aspect ratio h/w, and each batch's (h, w)."""
    aspect = sizes_wh[:, 1] / sizes_wh[:, 0]
    order = np.argsort(aspect, kind="stable")
    aspect = aspect[order]
    n_batches = math.ceil(len(order) / batch_size)
    shapes = np.ones((n_batches, 2))
    for i in range(n_batches):
        ar = aspect[i * batch_size : (i + 1) * batch_size]
        if ar.max() < 1:
            shapes[i] = [ar.max(), 1]
        elif ar.min() > 1:
            shapes[i] = [1, 1 / ar.min()]
    return order, (np.ceil(shapes * imgsz / stride + pad).astype(int) * stride)


@dataclass
class EvalSample:
    image: torch.Tensor  # (H, W, 3) uint8
    targets: torch.Tensor  # (N, 5) class, x1, y1, x2, y2 in letterboxed-image pixels
    index: int  # position in the dataset's records
    info: LetterboxInfo  # original -> network input (ratio includes the first resize)
    error: str | None = None  # a problem worth reporting
    unreadable: bool = False  # the image could not be decoded (a blank stands in)
    masks: torch.Tensor | None = None  # (N, H / ratio, W / ratio) uint8, one per target


class EvalDataset(Dataset[EvalSample]):
    """Letterboxed images in aspect-ratio order; item ``i`` belongs to batch ``i // batch_size``."""

    def __init__(
        self,
        records: Sequence[ImageLabels],
        imgsz: int,
        batch_size: int,
        *,
        rect: bool = True,
        stride: int = 32,
        pad: float = 0.5,
        masks: bool = False,
        mask_ratio: int = 4,
    ) -> None:
        """``masks``: each sample also carries its objects' masks (from their training
        polygons, letterboxed like the image) at 1 / ``mask_ratio`` of the batch shape, for
        a segmentation criterion's validation loss."""
        self.masks, self.mask_ratio = masks, mask_ratio
        sizes = np.array([[r.width, r.height] for r in records], np.float64)
        if rect:
            self.order, self.shapes = rect_batch_shapes(sizes, batch_size, imgsz, stride, pad)
        else:
            self.order = np.arange(len(records))
            self.shapes = np.full((math.ceil(len(records) / batch_size), 2), imgsz)
        self.records, self.imgsz, self.batch_size = records, imgsz, batch_size

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, i: int) -> EvalSample:
        index = int(self.order[i])
        record = self.records[index]
        shape = tuple(int(v) for v in self.shapes[i // self.batch_size])
        try:
            image, (h0, w0) = load_resized(record.path, self.imgsz)
        except DataError as e:
            blank = np.zeros((*shape, 3), np.uint8)
            info = LetterboxInfo(1.0, (0.0, 0.0), (record.height, record.width))
            empty = self._masks([], shape)
            return EvalSample(
                torch.from_numpy(blank), torch.zeros(0, 5), index, info, str(e), True, empty
            )
        error = None
        if (h0, w0) != (record.height, record.width):
            labelled = f"{record.width}x{record.height}"
            error = f"{record.path}: image is {w0}x{h0} but its labels say {labelled}"
        resize_ratio = image.shape[0] / h0
        boxed, info = letterbox(image, shape, auto=False, scaleup=False)
        info = LetterboxInfo(resize_ratio * info.ratio, info.pad, (h0, w0))
        keep = record.train_mask
        boxes = record.boxes[keep] * info.ratio + np.array([*info.pad, *info.pad], np.float32)
        targets = np.concatenate([record.classes[keep, None], boxes], 1).astype(np.float32)
        segments = record.training_segments() if self.masks else None
        masks = None
        if segments is not None:
            pad = np.array(info.pad, np.float32)
            masks = self._masks([seg * info.ratio + pad for seg in segments], shape)
        return EvalSample(
            torch.from_numpy(boxed),
            torch.from_numpy(targets).reshape(-1, 5),
            index,
            info,
            error,
            masks=masks,
        )

    def _masks(self, polygons: list[np.ndarray], shape: tuple[int, ...]) -> torch.Tensor | None:
        if not self.masks:
            return None
        return torch.from_numpy(instance_masks(polygons, (shape[0], shape[1]), self.mask_ratio))


@dataclass
class EvalBatch:
    images: torch.Tensor  # (B, 3, H, W) uint8, channels-last
    targets: torch.Tensor  # (N, 6): image index in batch, class, x1, y1, x2, y2 (pixels)
    samples: list[EvalSample]
    masks: torch.Tensor | None = None  # instance masks, one per target (segmentation only)


def stack_images(images: Sequence[torch.Tensor]) -> torch.Tensor:
    """(H, W, 3) uint8 images -> a (B, 3, H, W) view with channels-last strides (no copy)."""
    return torch.stack(list(images)).permute(0, 3, 1, 2)


def stack_targets(per_image: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image (N_i, 5) targets -> (N, 6) rows prefixed with the image's index in the batch."""
    rows = [torch.cat((torch.full((len(t), 1), float(i)), t), 1) for i, t in enumerate(per_image)]
    return torch.cat(rows) if rows else torch.zeros(0, 6)


def collate_eval(samples: list[EvalSample]) -> EvalBatch:
    masks = [s.masks for s in samples]
    return EvalBatch(
        stack_images([s.image for s in samples]),
        stack_targets([s.targets for s in samples]),
        samples,
        torch.cat([m for m in masks if m is not None])
        if all(m is not None for m in masks)
        else None,
    )


def eval_loader(dataset: EvalDataset, workers: int = 0) -> DataLoader[EvalSample]:
    return DataLoader(
        dataset,
        batch_size=dataset.batch_size,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate_eval,
        persistent_workers=False,
    )
