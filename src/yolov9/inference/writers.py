"""Writing prediction and tracking output: annotated images and videos (track ids and short
trails when tracking), the detection records as JSON (streamed to the file, instance masks as
COCO RLE or polygons), MOTChallenge text files, and for panoptic models COCO panoptic results
(PNG + JSON) and semantic-map PNGs.

Memory stays flat over any number of frames: nothing is kept per frame unless the caller asks
for the records in memory (:func:`save_results`).
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import cv2
import numpy as np

from yolov9.errors import DataError
from yolov9.inference.result import Result
from yolov9.utils.draw import draw_trails

TRAIL = 30  # centres kept per track for its trail (frames)


def sequence_key(result: Result) -> str:
    """What one tracker follows: a video (its path), or all still images as one sequence."""
    return str(result.path) if result.frame is not None else "<images>"


class _Trails:
    """Recent box centres per track of one sequence; tracks unseen for ``TRAIL`` frames are
    forgotten."""

    def __init__(self) -> None:
        self.points: dict[int, deque[tuple[float, float]]] = {}
        self.seen: dict[int, int] = {}
        self.tick = 0

    def add(self, result: Result) -> dict[int, deque[tuple[float, float]]]:
        self.tick += 1
        assert result.track_ids is not None
        for box, tid in zip(result.boxes, result.track_ids, strict=True):
            key = int(tid)
            centre = (float(box[0] + box[2]) / 2, float(box[1] + box[3]) / 2)
            self.points.setdefault(key, deque(maxlen=TRAIL)).append(centre)
            self.seen[key] = self.tick
        for key in [k for k, t in self.seen.items() if self.tick - t > TRAIL]:
            del self.points[key], self.seen[key]
        return self.points


class _Media:
    """Annotated-output files with unique names inside one folder."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.names = _Names()
        self.videos: dict[str, cv2.VideoWriter] = {}
        self.trails: dict[str, _Trails] = {}

    def unique(self, name: str) -> Path:
        return self.out / self.names.unique(name)

    def write(self, result: Result, index: int) -> None:
        image = result.plot()
        if result.track_ids is not None:
            trails = self.trails.setdefault(sequence_key(result), _Trails()).add(result)
            shown = {int(t) for t in result.track_ids}  # trails of the tracks in this frame
            draw_trails(image, {k: v for k, v in trails.items() if k in shown})
        if result.frame is None:
            name = Path(result.path).name if result.path else f"image{index}.jpg"
            path = self.unique(name)
            if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                raise DataError(f"{path}: could not write the annotated image")
            return
        key = str(result.path)
        if key not in self.videos:
            h, w = result.orig_shape
            stem = _stem(key)
            path = self.unique(stem + ".mp4")
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self.videos[key] = cv2.VideoWriter(str(path), fourcc, result.fps or 30.0, (w, h))
        self.videos[key].write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        for writer in self.videos.values():
            writer.release()


def _stem(source: str) -> str:
    """A file-name stem for a video path, camera index or URL."""
    stem = Path(source.split("?")[0].rstrip("/")).stem or "stream"
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem) or "stream"


class _JsonList:
    """A JSON list written record by record into a temporary file, renamed into place when
    complete."""

    def __init__(self, path: Path) -> None:
        if path.is_dir():
            raise DataError(f"{path}: is a folder; give a file name for the JSON records")
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.file: IO[str] = self.tmp.open("w")
        except OSError as e:
            raise DataError(f"{path}: cannot write ({e.strerror or e})") from None
        self.file.write("[")
        self.count = 0

    def add(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            self.file.write(("\n" if self.count == 0 else ",\n") + json.dumps(record))
            self.count += 1

    def close(self, complete: bool) -> None:
        self.file.write("\n]\n")
        self.file.close()
        try:
            if complete:
                os.replace(self.tmp, self.path)
        except OSError as e:
            raise DataError(f"{self.path}: cannot write ({e.strerror or e})") from None
        finally:
            self.tmp.unlink(missing_ok=True)


def _image_id(stem: str) -> int | str:
    """COCO image ids are numbers: ``000000119828`` -> 119828; other names stay strings."""
    return int(stem) if stem.isascii() and stem.isdecimal() else stem


class _PanopticFiles:
    """COCO panoptic results: one PNG per image in ``folder`` (RGB-encoded segment ids) and
    ``folder.json`` (``annotations`` with each image's ``segments_info``, ``categories``),
    written when complete."""

    def __init__(self, folder: Path) -> None:
        if folder.suffix == ".json":
            folder = folder.with_suffix("")
        if not folder.name or folder.name in (".", ".."):
            raise DataError(
                f"--save-panoptic {folder}: give a folder name; the JSON is written beside it "
                "as <name>.json"
            )
        self.folder = folder
        self.json_path = folder.with_name(folder.name + ".json")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"{folder}: cannot write ({e.strerror or e})") from None
        self.names = _Names()
        self.annotations: list[dict[str, Any]] = []
        self.categories: list[dict[str, Any]] | None = None

    def add(self, result: Result, index: int) -> None:
        if result.panoptic is None:
            raise DataError("--save-panoptic needs the results of a panoptic model")
        path = self.folder / self.names.unique(_result_stem(result, index) + ".png")
        bgr = np.ascontiguousarray(result.panoptic.rgb()[..., ::-1])
        if not cv2.imwrite(str(path), bgr):
            raise DataError(f"{path}: could not write the panoptic PNG")
        self.annotations.append(
            {
                "image_id": _image_id(path.stem),  # the unique name's: ids never repeat
                "file_name": path.name,
                "segments_info": result.panoptic.records(),
            }
        )
        if self.categories is None:
            self.categories = result.panoptic.labels.coco_categories()

    def close(self, complete: bool) -> None:
        if not complete:
            return
        payload = {"annotations": self.annotations, "categories": self.categories or []}
        tmp = self.json_path.with_name(f".{self.json_path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(json.dumps(payload))
            os.replace(tmp, self.json_path)
        except OSError as e:
            raise DataError(f"{self.json_path}: cannot write ({e.strerror or e})") from None
        finally:
            tmp.unlink(missing_ok=True)


class _SemanticFiles:
    """One PNG per image of the semantic map: the channel index per pixel (things first,
    then stuff), 8-bit below 257 channels, else 16-bit."""

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataError(f"{folder}: cannot write ({e.strerror or e})") from None
        self.folder = folder
        self.names = _Names()

    def add(self, result: Result, index: int) -> None:
        if result.semantic is None:
            raise DataError("--save-semantic needs the results of a panoptic model")
        path = self.folder / self.names.unique(_result_stem(result, index) + ".png")
        if not cv2.imwrite(str(path), result.semantic):
            raise DataError(f"{path}: could not write the semantic PNG")


class _Names:
    """File names made unique inside one folder (``a.png``, ``a-2.png``, ...)."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def unique(self, name: str) -> str:
        stem, suffix = Path(name).stem, Path(name).suffix
        candidate, n = name, 2
        while candidate in self.taken:
            candidate, n = f"{stem}-{n}{suffix}", n + 1
        self.taken.add(candidate)
        return candidate


def _result_stem(result: Result, index: int) -> str:
    """A file stem for a result: the image's, or the video's with the frame number."""
    if result.frame is not None:
        return f"{_stem(str(result.path))}_{result.frame:06d}"
    return Path(result.path).stem if result.path else f"image{index}"


class _Mot:
    """MOTChallenge text, one file per sequence:
    ``frame,id,bb_left,bb_top,bb_width,bb_height,conf,-1,-1,-1`` (frames from 1)."""

    def __init__(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        self.out = out
        self.files: dict[str, IO[str]] = {}
        self.counts: dict[str, int] = {}
        self.paths: list[Path] = []

    def add(self, result: Result) -> None:
        if result.track_ids is None:
            raise ValueError("MOT output needs tracked results (track ids)")
        key = sequence_key(result)
        if key not in self.files:
            name = "images" if result.frame is None else _stem(key)
            path, n = self.out / f"{name}.txt", 2
            while path in self.paths:
                path, n = self.out / f"{name}-{n}.txt", n + 1
            self.paths.append(path)
            self.files[key] = path.open("w")
            self.counts[key] = 0
        self.counts[key] += 1
        frame = result.frame + 1 if result.frame is not None else self.counts[key]
        lines = [
            f"{frame},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},{s:.4f},-1,-1,-1\n"
            for (x1, y1, x2, y2), s, tid in zip(
                result.boxes.astype(np.float64).tolist(),
                result.scores.tolist(),
                result.track_ids,
                strict=True,
            )
        ]
        self.files[key].writelines(lines)

    def close(self) -> None:
        for f in self.files.values():
            f.close()


class OutputWriter:
    """Consumes results one at a time and writes what was asked for.

    Args:
        out: folder for annotated images and videos (None: none written).
        json_path: write every detection record to this JSON file (streamed).
        mask_format: how records hold masks ("rle" or "polygon"; None leaves them out).
        mot_dir: write MOTChallenge text files here (tracked results only).
        keep_records: also keep the records in memory (:attr:`records`).
        panoptic_dir: panoptic models: COCO panoptic results, PNGs in this folder and the
            JSON next to it (``<folder>.json``).
        semantic_dir: panoptic models: a semantic-map PNG per image in this folder.
    """

    def __init__(
        self,
        out: Path | None,
        *,
        json_path: Path | None = None,
        mask_format: str | None = "rle",
        mot_dir: Path | None = None,
        keep_records: bool = False,
        panoptic_dir: Path | None = None,
        semantic_dir: Path | None = None,
    ) -> None:
        if mask_format not in (None, "rle", "polygon"):
            raise ValueError(f"mask_format must be 'rle' or 'polygon', got {mask_format!r}")
        self.media = _Media(out) if out is not None else None
        self.json = _JsonList(json_path) if json_path is not None else None
        self.mot = _Mot(mot_dir) if mot_dir is not None else None
        self.panoptic = _PanopticFiles(panoptic_dir) if panoptic_dir is not None else None
        self.semantic = _SemanticFiles(semantic_dir) if semantic_dir is not None else None
        self.mask_format = mask_format
        self.records: list[dict[str, Any]] | None = [] if keep_records else None
        self.images = 0
        self.detections = 0

    def add(self, result: Result) -> None:
        self.images += 1
        self.detections += len(result)
        if self.json is not None or self.records is not None:
            records = result.records(self.mask_format)
            if self.json is not None:
                self.json.add(records)
            if self.records is not None:
                self.records.extend(records)
        if self.mot is not None:
            self.mot.add(result)
        if self.panoptic is not None:
            self.panoptic.add(result, self.images)
        if self.semantic is not None:
            self.semantic.add(result, self.images)
        if self.media is not None:
            self.media.write(result, self.images)

    def close(self, complete: bool = True) -> None:
        """Finish every file (a JSON file only appears when ``complete``)."""
        if self.media is not None:
            self.media.close()
        if self.mot is not None:
            self.mot.close()
        if self.json is not None:
            self.json.close(complete)
        if self.panoptic is not None:
            self.panoptic.close(complete)

    def consume(self, results: Iterable[Result]) -> OutputWriter:
        """Add every result, then close. The JSON file is dropped if this fails, but kept
        (complete up to the last frame) on Ctrl+C: the way a live stream is stopped."""
        ok = False
        try:
            for result in results:
                self.add(result)
            ok = True
        except KeyboardInterrupt:
            ok = True
            raise
        finally:
            self.close(ok)
        return self


def save_results(
    results: Iterable[Result], out: Path | None, *, mask_format: str | None = "rle"
) -> tuple[list[dict[str, Any]], int, int]:
    """Consume ``results``; write annotated images/videos into ``out`` (if given), masks
    drawn for segmentation results.

    ``mask_format`` ("rle" or "polygon") is how each record holds its detection's mask
    (see :meth:`Result.records`); ``None`` leaves masks out of the records.

    Returns:
        (all detection records, number of images/frames, number of detections)
    """
    writer = OutputWriter(out, mask_format=mask_format, keep_records=True).consume(results)
    assert writer.records is not None
    return writer.records, writer.images, writer.detections
