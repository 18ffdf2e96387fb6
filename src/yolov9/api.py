"""The Python API, with the power of the command line and through the same functions:

    import yolov9

    result = yolov9.train(model="yolov9-t", data="mine.yaml", epochs=50)   # yolov9 train
    detector = yolov9.Detector.from_pretrained(result.best_converted)
    detector.predict("bus.jpg")                                           # yolov9 predict
    detector.val(data="mine.yaml")                                        # yolov9 val
    detector.export(format="onnx", nms=True)                              # yolov9 export
    detector.train(data="more.yaml", epochs=20)                           # fine-tune it

Keyword arguments of :func:`train` are flag names (``epochs``, ``batch``, ``imgsz``, ``lr0``
...) or config keys (``**{"optim.lrf": 0.1}``), exactly as ``yolov9 train`` takes them.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from yolov9.data.sources import Frame, is_stream, iter_frames, iter_stream, list_media
from yolov9.deploy.export import ExportOptions, ExportReport
from yolov9.engine.trainer import TrainResult
from yolov9.engine.validation import ValOptions, ValReport, validate
from yolov9.errors import ConfigError, DataError
from yolov9.inference.backends import InferenceBackend, TorchBackend
from yolov9.inference.loader import load_backend
from yolov9.inference.predictor import Predictor
from yolov9.inference.result import Result
from yolov9.inference.tiles import TILE_KEYS, TileOptions, tile_options
from yolov9.inference.tracking import track_results, tracker_config
from yolov9.models import YOLOv9
from yolov9.tasks.base import FusionOptions
from yolov9.track import TrackerConfig

log = logging.getLogger(__name__)

Source = str | Path | np.ndarray | Sequence[str | Path | np.ndarray]

__all__ = ["Detector", "Result", "export", "train", "val"]


def train(
    *,
    config: str | Path | None = None,
    resume: str | Path | None = None,
    overrides: Sequence[str] = (),
    **values: Any,
) -> TrainResult:
    """``yolov9 train``: ``train(model="yolov9-t", data="mine.yaml", epochs=50)``.

    ``config`` is a YAML file of config sections, ``overrides`` are ``"key=value"`` strings
    (``--set``), ``resume`` continues a run from its ``last.pt`` with ``values`` applied.
    """
    from yolov9.config import resolve
    from yolov9.engine import training

    if resume is not None:
        if config is not None:
            raise ConfigError("config starts a new run; resume takes values and overrides")
        return training.resume(resume, values, overrides=overrides)
    return training.train(resolve(config, overrides, **values))


def val(
    data: str | Path,
    weights: str | Path | None = None,
    *,
    predictions: str | Path | None = None,
    **options: Any,
) -> ValReport:
    """``yolov9 val``: COCO metrics of ``weights`` (a checkpoint or an exported file) or of a
    ``predictions`` file on ``data``. ``options`` are :class:`ValOptions` fields (``split``,
    ``imgsz``, ``conf``, ``iou``, ``batch``, ``device``, ``out`` ...)."""
    return validate(data, weights, predictions=predictions, opts=_options(ValOptions, options))


def export(weights: str | Path, out: str | Path | None = None, **options: Any) -> ExportReport:
    """``yolov9 export``: ``options`` are :class:`ExportOptions` fields (``format``, ``imgsz``,
    ``nms``, ``dynamic``, ``int8``, ``data`` ...)."""
    from yolov9.deploy.export import export as run_export

    return run_export(weights, out, _options(ExportOptions, options))


def _options(kind: Any, values: dict[str, Any]) -> Any:
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown}; known: {sorted(known)}")
    return kind(**values)


def _frames(
    source: Source | int,
    skipped: list[str] | None,
    vid_stride: int = 1,
    buffer: int = 4,
    stats: dict[str, int] | None = None,
    drop: bool = True,
) -> Iterator[Frame]:
    if vid_stride < 1:
        raise ConfigError(f"vid_stride must be >= 1, got {vid_stride}")
    items = source if isinstance(source, list | tuple) else [source]
    for item in items:
        if isinstance(item, np.ndarray):
            if item.ndim != 3 or item.shape[2] != 3 or item.dtype != np.uint8:
                raise DataError("arrays must be RGB uint8 of shape (H, W, 3)")
            yield Frame(item)
        elif isinstance(item, int) or (is_stream(item) and not Path(str(item)).exists()):
            yield from iter_stream(
                str(item), vid_stride=vid_stride, buffer=buffer, drop=drop, stats=stats
            )
        else:
            yield from iter_frames(list_media(str(item)), skipped=skipped, vid_stride=vid_stride)


def _tile(kw: dict[str, Any]) -> TileOptions | None:
    """Pop the tile keywords out of ``kw``; the tile settings, or None."""
    return tile_options(kw.pop("tile", None), **{k: kw.pop(k) for k in TILE_KEYS if k in kw})


class Detector:
    """A model ready for inference, with its class names.

    Args:
        model: a :class:`YOLOv9` (the auxiliary branch, if any, is dropped for inference), or
            an :class:`~yolov9.inference.InferenceBackend` (an exported model).
        names: class names by id (taken from the backend when one is given).
        imgsz: inference size (longer image side), a multiple of 32.
        device: ``"auto"`` (default), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``.
        precision: ``"fp32"`` (default), ``"fp16"`` (CUDA) or ``"bf16"`` (autocast; about 3x
            faster on CPUs with AVX-512 BF16 or AMX).
        full_res_masks: segmentation models: compute masks from the prototypes straight at
            the image's resolution (sharper edges) instead of the reference's masks at the
            network input's size mapped back to the image.
        stuff_names: panoptic models: the names of the stuff channels (default: as the
            checkpoint records them; COCO-Stuff's for the authors' 93-channel layout).
        fusion: panoptic models: the fusion thresholds (default: the authors' rule).
    """

    def __init__(
        self,
        model: YOLOv9 | InferenceBackend,
        names: Sequence[str] | None = None,
        *,
        imgsz: int | None = None,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        full_res_masks: bool = False,
        stuff_names: Sequence[str] | None = None,
        fusion: FusionOptions | None = None,
    ) -> None:
        if isinstance(model, InferenceBackend):
            backend = model
        else:
            if names is None:
                raise ConfigError("give the class names of the model")
            backend = TorchBackend(
                model,
                list(names),
                imgsz=imgsz or 640,
                device=device,
                precision=precision,
                stuff_names=list(stuff_names) if stuff_names is not None else None,
            )
        self.backend = backend
        self.names = list(backend.names)
        self.predictor = Predictor(
            backend, imgsz=imgsz, full_res_masks=full_res_masks, fusion=fusion
        )
        self.weights: Path | None = None  # the file this detector was read from, if any
        self._source = model if isinstance(model, YOLOv9) else None

    @classmethod
    def from_pretrained(
        cls,
        weights: str | Path,
        *,
        imgsz: int | None = None,
        device: str | torch.device | None = None,
        precision: str = "fp32",
        full_res_masks: bool = False,
        threads: int | None = None,
        fusion: FusionOptions | None = None,
    ) -> Detector:
        """Load a checkpoint (any supported format, by path or release name) or an exported
        model (``.onnx``, OpenVINO ``.xml``, ``.torchscript``). ``threads``: CPU threads
        (None: one per core; for PyTorch models this is torch's process-wide setting)."""
        backend = load_backend(
            weights, device=device, precision=precision, imgsz=imgsz, threads=threads
        )
        detector = cls(backend, imgsz=imgsz, full_res_masks=full_res_masks, fusion=fusion)
        if isinstance(backend, TorchBackend):
            detector.weights = backend.source_path  # the checkpoint file (downloaded by now)
        return detector

    @property
    def model(self) -> YOLOv9 | None:
        """The prepared PyTorch model (None for exported models)."""
        return getattr(self.backend, "model", None)

    @property
    def device(self) -> torch.device:
        return self.backend.device

    @property
    def task(self) -> str:
        """``"detect"`` or ``"segment"`` (results then carry ``masks``)."""
        return self.backend.task

    # ------------------------------------------------------------------------ predict
    def stream(
        self,
        source: Source | int,
        *,
        batch_size: int = 1,
        skipped: list[str] | None = None,
        vid_stride: int = 1,
        buffer: int = 4,
        drop: bool = True,
        stats: dict[str, int] | None = None,
        **kw: Any,
    ) -> Iterator[Result]:
        """Results one by one (use for videos, streams and large folders).

        Keyword arguments: ``conf`` (0.25), ``iou`` (0.45), ``max_det`` (300), ``classes``,
        ``agnostic``, ``multi_label``. Pass a list as ``skipped`` to skip unreadable files
        (their paths are appended) instead of raising.

        Live sources: a webcam index (``0``) or an RTSP/RTMP/HTTP(S)/TCP/UDP URL, read on a
        thread into a queue of ``buffer`` frames; when the model is slower than the source the
        oldest frames are dropped (``stats`` receives ``dropped`` and ``most_buffered``);
        ``drop=False`` makes the reader wait instead (a recorded video served over HTTP).
        ``vid_stride=N`` takes every N-th frame of videos and streams.

        Sliced inference (small objects in large images): ``tile=640`` runs each image as
        640 x 640 tiles at its own resolution, with ``tile_overlap`` (0.2), ``tile_whole``
        (also the whole image at ``imgsz``), ``tile_merge`` ("nms" or "nmm"), ``tile_match``
        ("ios" or "iou") and ``tile_threshold`` (0.5); or a :class:`TileOptions` as ``tile``.
        """
        tile = _tile(kw)
        frames = _frames(source, skipped, vid_stride, buffer, stats, drop)
        return self.predictor(frames, batch_size=batch_size, tile=tile, **kw)

    def predict(self, source: Source, *, batch_size: int = 1, **kw: Any) -> list[Result]:
        """Results for an image path, folder, glob, video, RGB array, or a list of them."""
        return list(self.stream(source, batch_size=batch_size, **kw))

    __call__ = predict

    # ------------------------------------------------------------------------ track
    def track_stream(
        self,
        source: Source | int,
        *,
        tracker: str | TrackerConfig = "bytetrack",
        tracker_settings: dict[str, Any] | None = None,
        vid_stride: int = 1,
        **kw: Any,
    ) -> Iterator[Result]:
        """Tracked results one frame at a time: each result holds the detections that belong
        to a track, with ``track_ids``. ``tracker``: ``"bytetrack"`` (default) or
        ``"botsort"`` with the published defaults, changed by ``tracker_settings`` (fields of
        :class:`~yolov9.track.TrackerConfig`, e.g. ``{"buffer": 60}``). Each video, stream or
        run of still images gets a fresh tracker. Other keywords as for :meth:`stream`;
        ``conf`` defaults to the tracker's ``low`` threshold (0.1), since both trackers also
        use weak detections.
        """
        config = tracker_config(tracker, tracker_settings or {})
        kw.setdefault("conf", config.low)
        if kw["conf"] > config.low:
            log.warning(
                "conf %.2f is above the tracker's low threshold %.2f: weak detections that "
                "keep tracks alive through occlusions are lost",
                kw["conf"],
                config.low,
            )
        results = self.stream(source, vid_stride=vid_stride, **kw)
        return track_results(results, config, vid_stride=vid_stride)

    def track(self, source: Source | int, **kw: Any) -> list[Result]:
        """Tracked results of a video, stream, or images in order, as a list (see
        :meth:`track_stream`, which yields them one at a time)."""
        return list(self.track_stream(source, **kw))

    # ------------------------------------------------------------- val, export, train
    def val(self, data: str | Path, **options: Any) -> ValReport:
        """COCO metrics of this detector (as loaded: same backend, device and precision) on
        ``data``; ``options`` as for :func:`val`."""
        options.setdefault("imgsz", self.predictor.imgsz)
        return validate(data, self.backend, opts=_options(ValOptions, options))

    def export(self, out: str | Path | None = None, **options: Any) -> ExportReport:
        """Export this detector's PyTorch model; ``options`` as for :func:`export`."""
        weights, tmp = self._checkpoint()
        if tmp is not None and out is None:
            tmp.cleanup()
            raise ConfigError("this detector was not read from a file: give out= for the export")
        try:
            return export(weights, out, **options)
        finally:
            if tmp is not None:
                tmp.cleanup()

    def train(self, **values: Any) -> TrainResult:
        """Fine-tune from this detector's weights (``data=...``, ``epochs=...`` and any other
        value of :func:`train`); afterwards the detector holds the best trained model (read
        from its checkpoint, so a later ``train`` continues with the same network), at the
        size it was trained at.

        The network trained is the checkpoint's own (``yolov9-x`` with its PGI branch, or
        ``gelan-x``); give ``model="yolov9-x"`` to add PGI to a converted checkpoint."""
        weights, tmp = self._checkpoint()
        assert isinstance(self.backend, TorchBackend)
        values.setdefault("model", self.backend.source_name)
        try:
            result = train(weights=str(weights), **values)
        finally:
            if tmp is not None:
                tmp.cleanup()
        trained = Detector.from_pretrained(
            result.best or result.last, device=self.device, precision=self._precision()
        )
        self.__dict__.update(trained.__dict__)
        return result

    def _precision(self) -> str:
        return str(getattr(self.backend, "precision", "fp32"))

    def _checkpoint(self) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
        """This detector's weights as a checkpoint file (written to a temporary folder when it
        was built from a model in memory)."""
        if not isinstance(self.backend, TorchBackend):
            raise ConfigError(f"{self.backend.kind} models cannot be trained or re-exported")
        if self.weights is not None:
            return self.weights, None
        if self._source is None:
            raise ConfigError("this detector holds only a fused graph: build it from a model")
        from yolov9.checkpoints import save_checkpoint

        tmp = tempfile.TemporaryDirectory(prefix="yolov9-")
        path = save_checkpoint(Path(tmp.name) / "model.pt", self._source, self.names)
        return path, tmp
