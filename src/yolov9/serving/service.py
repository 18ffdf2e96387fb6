"""What the HTTP service does, apart from HTTP: a detector behind the batcher, one request's
image and options in, its result out as the JSON of ``--save-json`` (plus the panoptic
segments and the caption), or drawn."""

from __future__ import annotations

import base64
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from yolov9.data.sources import Frame
from yolov9.inference.result import Result
from yolov9.inference.tiles import TileOptions, tile_windows
from yolov9.serving.batcher import Batcher, BatchStats
from yolov9.serving.images import BadInputError, ImageLimits, decode_image
from yolov9.serving.params import MAX_WINDOWS, PredictParams, parse_params


@dataclass(frozen=True)
class ServeOptions:
    """The service's settings (``yolov9 serve --help``)."""

    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None  # None: no key asked
    cors: tuple[str, ...] = ()  # origins allowed to call from a browser (none: CORS off)
    max_batch: int = 8
    max_wait_ms: float = 5.0
    queue_size: int = 64
    queue_bytes: int = 1 << 30  # decoded images waiting, at most (then 503)
    limits: ImageLimits = field(default_factory=ImageLimits)
    body_timeout_s: float = 30.0  # a body not received by then: 408


class Service:
    """A detector (``yolov9.Detector``) serving requests through a :class:`Batcher`.

    ``on_batch`` receives every batch's statistics (the metrics)."""

    def __init__(
        self,
        detector: Any,
        options: ServeOptions,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        self.detector, self.options = detector, options
        self.predictor = detector.predictor
        self.task = self.predictor.task
        self.stuff_names = list(detector.backend.stuff_names)
        self.batcher = Batcher(
            self._run,
            max_batch=options.max_batch,
            max_wait_ms=options.max_wait_ms,
            queue_size=options.queue_size,
            queue_bytes=options.queue_bytes,
            on_batch=on_batch,
        )

    def close(self) -> None:
        self.batcher.close()

    def info(self) -> dict[str, Any]:
        """``GET /v1/model``."""
        backend = self.detector.backend
        weights = self.detector.weights or getattr(backend, "path", None)
        return {
            "task": self.task.name,
            "description": self.task.description,
            "names": list(self.detector.names),
            "stuff_names": self.stuff_names,
            "imgsz": self.predictor.imgsz,
            "backend": backend.describe(),
            "precision": getattr(backend, "precision", "fp32"),
            "device": str(backend.device),
            "weights": str(weights) if weights else None,
            "max_batch": self.options.max_batch,
            "queue_size": self.options.queue_size,
            "max_upload_bytes": self.options.limits.max_bytes,
            "max_pixels": self.options.limits.max_pixels,
        }

    def params(self, query: Mapping[str, str]) -> PredictParams:
        params = parse_params(query, len(self.detector.names))
        if params.tile and not self.predictor.tiles_apply:
            raise BadInputError(400, f"tile does not apply to {self.task.description} models yet")
        return params

    def image(self, body: bytes, params: PredictParams) -> np.ndarray:
        """The decoded upload, refused when the network's input would lose a side (an extreme
        aspect ratio) or when its tiles would be too many."""
        image = decode_image(body, self.options.limits)
        h, w = image.shape[:2]
        if round(min(h, w) * self.predictor.imgsz / max(h, w)) < 1:
            raise BadInputError(400, f"image of {w}x{h}: its short side vanishes at the input")
        if params.tile:
            windows = len(tile_windows((h, w), params.tile, TileOptions(params.tile).overlap))
            if windows > MAX_WINDOWS:
                raise BadInputError(
                    413,
                    f"tile={params.tile} cuts this {w}x{h} image into {windows} windows; the "
                    f"limit is {MAX_WINDOWS} (use a larger tile)",
                )
        return image

    def key(self, image: np.ndarray, params: PredictParams) -> Hashable:
        """Requests of one key share a forward pass: same options, same input shape; tiled
        ones run alone."""
        if params.tile:
            return (params, id(image))
        return (params, self.predictor.input_shape(image.shape[:2]))

    async def predict(self, image: np.ndarray, params: PredictParams) -> Result:
        return await self.batcher.submit(image, params, self.key(image, params))

    def _run(self, images: list[np.ndarray], params: PredictParams) -> list[Result]:
        tile = TileOptions(params.tile) if params.tile else None
        frames = [Frame(image) for image in images]
        return list(self.predictor(frames, batch_size=len(frames), tile=tile, **params.nms()))


def result_json(
    result: Result, params: PredictParams, seconds: float, stuff_names: list[str]
) -> dict[str, Any]:
    """The answer of ``POST /v1/predict``: the image's size, the detections as ``--save-json``
    writes them (``records``: box, score, class_id, class_name, mask), and for panoptic
    models the segments (COCO panoptic ``segments_info``) and the semantic classes present,
    for caption models the caption; ``annotated`` (``draw=inline``): the drawn JPEG as a
    data URL."""
    mask_format = None if params.masks == "none" else params.masks
    records = result.records(mask_format=mask_format)
    for record in records:  # no file: the image came in the request
        record.pop("file", None)
        record.pop("frame", None)
    out: dict[str, Any] = {
        "width": int(result.orig_shape[1]),
        "height": int(result.orig_shape[0]),
        "records": [r for r in records if "box" in r],
        "time_ms": round(seconds * 1000, 2),
    }
    if result.caption is not None:
        out["caption"] = result.caption
        out["caption_score"] = result.caption_score
    if result.panoptic is not None:
        out["panoptic"] = result.panoptic.records()
    if result.semantic is not None:
        names = [*result.names, *stuff_names]
        ids, counts = np.unique(result.semantic, return_counts=True)
        total = float(result.semantic.size)
        out["semantic"] = [
            {
                "class_id": int(i),
                "class_name": names[int(i)] if int(i) < len(names) else str(int(i)),
                "fraction": round(int(c) / total, 5),
            }
            for i, c in zip(ids, counts, strict=True)
        ]
    if params.draw == "inline":
        out["annotated"] = "data:image/jpeg;base64," + base64.b64encode(jpeg(result)).decode()
    return out


def jpeg(result: Result, quality: int = 90) -> bytes:
    """The result drawn (boxes, masks, stuff, caption) as JPEG bytes."""
    drawn = cv2.cvtColor(result.plot(), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", drawn, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
