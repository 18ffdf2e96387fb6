"""``yolov9 predict`` and ``yolov9 track``."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from yolov9.cli.common import (
    add_caption_args,
    add_device_args,
    add_tile_args,
    apply_caption_args,
    imgsz,
    log,
    positive_int,
    tile_values,
    unit_float,
)
from yolov9.errors import ConfigError, YOLOv9Error

if TYPE_CHECKING:
    from yolov9.inference.result import Result

SOURCE_HELP = (
    "image, folder, glob pattern, video, webcam index (0) or stream URL (rtsp://, http://...)"
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="detect (or segment) objects in images, folders, videos or streams",
    )
    _add_common(p, conf=0.25)
    p.add_argument("--batch", type=positive_int, default=1)
    add_tile_args(p)
    p.set_defaults(handler=run_predict, out_default="runs/predict")

    t = sub.add_parser(
        "track", help="follow objects through videos and streams (ByteTrack or BoT-SORT)"
    )
    _add_common(t, conf=None)
    t.add_argument(
        "--tracker",
        choices=("bytetrack", "botsort"),
        default="bytetrack",
        help="ByteTrack (default) or BoT-SORT (motion and camera-motion only), with their "
        "published defaults",
    )
    t.add_argument(
        "--tracker-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="change a tracker setting, e.g. --tracker-set buffer=60 (high, low, new_track, "
        "match, second_match, unconfirmed_match, buffer, fuse_score, gmc)",
    )
    t.add_argument(
        "--save-mot",
        action="store_true",
        help="write MOTChallenge text files (frame,id,x,y,w,h,conf,-1,-1,-1) into the run folder",
    )
    t.set_defaults(handler=run_track, out_default="runs/track")


def _add_common(p: argparse.ArgumentParser, *, conf: float | None) -> None:
    p.add_argument("--weights", required=True, help="checkpoint path or release name")
    p.add_argument("--source", required=True, help=SOURCE_HELP)
    p.add_argument("--imgsz", type=imgsz, default=None, help="inference size (default: ckpt's)")
    p.add_argument(
        "--conf",
        type=unit_float,
        default=conf,
        help="confidence threshold"
        + (" (default 0.25)" if conf is not None else " (default: the tracker's low, 0.1)"),
    )
    p.add_argument("--iou", type=unit_float, default=0.45, help="NMS IoU threshold")
    p.add_argument("--max-det", type=positive_int, default=300)
    p.add_argument("--classes", type=int, nargs="+", default=None, help="keep only these ids")
    p.add_argument("--agnostic", action="store_true", help="class-agnostic NMS")
    p.add_argument(
        "--vid-stride", type=positive_int, default=1, help="take every N-th frame of videos"
    )
    p.add_argument(
        "--buffer",
        type=positive_int,
        default=4,
        help="frames held for a live stream; older ones are dropped when the model is slower",
    )
    p.add_argument(
        "--no-drop",
        action="store_true",
        help="streams: wait for the model instead of dropping frames (a recorded video over HTTP)",
    )
    add_device_args(p)
    p.add_argument("--out", default=None, help="folder for annotated output")
    p.add_argument("--exist-ok", action="store_true", help="reuse --out instead of --out-N")
    p.add_argument("--no-save", action="store_true", help="do not write annotated output")
    p.add_argument("--save-json", metavar="FILE", help="write all detections as JSON")
    seg = p.add_argument_group("segmentation models")
    seg.add_argument(
        "--mask-format",
        choices=("rle", "polygon"),
        default=None,
        help="how --save-json writes masks: COCO RLE (default) or polygons, in image pixels",
    )
    seg.add_argument(
        "--full-res-masks",
        action="store_true",
        help="masks from the prototypes straight at image resolution (sharper, slower)",
    )
    pan = p.add_argument_group("panoptic models")
    pan.add_argument(
        "--save-panoptic",
        metavar="DIR",
        help="write COCO panoptic results: a PNG per image (RGB-encoded segment ids) in DIR "
        "and DIR.json",
    )
    pan.add_argument(
        "--save-semantic",
        metavar="DIR",
        help="write the semantic map of each image as a PNG of class indices (things, then "
        "stuff) in DIR",
    )
    pan.add_argument(
        "--pan-conf",
        type=unit_float,
        default=0.25,
        help="instances scoring below this are left out of the panoptic segmentation "
        "(default 0.25, the authors')",
    )
    pan.add_argument(
        "--min-stuff-area",
        type=int,
        default=0,
        help="stuff segments with fewer pixels become void (default 0: none, as the authors)",
    )
    add_caption_args(p)


def run_predict(args: argparse.Namespace) -> int:
    return _run(args, tracking=False)


def run_track(args: argparse.Namespace) -> int:
    return _run(args, tracking=True)


def _settings(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` tracker settings, values typed as the defaults are."""
    from yolov9.track import TRACKERS

    types = {k: type(v) for k, v in vars(TRACKERS["bytetrack"]).items()}
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or key not in types:
            raise ConfigError(
                f"--tracker-set {pair}: expected KEY=VALUE with KEY one of {sorted(types)}"
            )
        kind = types[key]
        try:
            out[key] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
        except ValueError:
            raise ConfigError(f"--tracker-set {pair}: {text!r} is not a {kind.__name__}") from None
    return out


def _run(args: argparse.Namespace, *, tracking: bool) -> int:
    from yolov9.api import Detector
    from yolov9.inference.writers import OutputWriter
    from yolov9.tasks.base import FusionOptions
    from yolov9.tasks.registry import get_task
    from yolov9.utils.paths import new_run_dir
    from yolov9.utils.perf import tune_cpu_allocator

    tune_cpu_allocator()
    if args.min_stuff_area < 0:
        raise ConfigError(f"--min-stuff-area must be >= 0, got {args.min_stuff_area}")
    tiles = tile_values(args) if not tracking else {}
    settings = _settings(args.tracker_set) if tracking else {}
    detector = Detector.from_pretrained(
        args.weights,
        imgsz=args.imgsz,
        device=args.device,
        precision=args.precision,
        full_res_masks=args.full_res_masks,
        threads=args.threads,
        fusion=FusionOptions(score_threshold=args.pan_conf, min_stuff_area=args.min_stuff_area),
    )
    task = get_task(detector.task)
    apply_caption_args(args, detector.backend, task, args.weights)
    if args.mask_format is not None and not task.gives("masks"):
        raise YOLOv9Error(
            f"--mask-format needs a segmentation model; {args.weights} is a "
            f"{task.description} model"
        )
    for flag, field in (("--save-panoptic", "panoptic"), ("--save-semantic", "semantic")):
        if getattr(args, flag[2:].replace("-", "_")) and not task.gives(field):
            raise YOLOv9Error(
                f"{flag} needs a panoptic model; {args.weights} is for {task.description}"
            )
    if tiles and not detector.predictor.tiles_apply:
        raise YOLOv9Error(
            f"--tile does not apply to {task.description} models yet (the semantic maps or "
            "captions of tiles are not merged); predict without it"
        )
    wants_folder = not args.no_save or (tracking and args.save_mot)
    out = new_run_dir(args.out or args.out_default, args.exist_ok) if wants_folder else None
    skipped: list[str] = []
    stats: dict[str, int] = {}
    options: dict[str, Any] = {
        "skipped": skipped,
        "vid_stride": args.vid_stride,
        "buffer": args.buffer,
        "drop": not args.no_drop,
        "stats": stats,
        "iou": args.iou,
        "max_det": args.max_det,
        "classes": args.classes,
        "agnostic": args.agnostic,
    }
    if args.conf is not None:
        options["conf"] = args.conf
    start = time.perf_counter()
    if tracking:
        results = detector.track_stream(
            args.source, tracker=args.tracker, tracker_settings=settings, **options
        )
    else:
        results = detector.stream(args.source, batch_size=args.batch, **options, **tiles)
    results = _print_captions(results)
    writer = OutputWriter(
        None if args.no_save else out,
        json_path=Path(args.save_json) if args.save_json else None,
        mask_format=(args.mask_format or "rle") if args.save_json else None,
        mot_dir=out if tracking and args.save_mot else None,
        panoptic_dir=Path(args.save_panoptic) if args.save_panoptic else None,
        semantic_dir=Path(args.save_semantic) if args.save_semantic else None,
    ).consume(results)
    elapsed = time.perf_counter() - start
    n_images = writer.images
    if n_images == 0:
        raise YOLOv9Error(f"no image of {args.source} could be read ({len(skipped)} skipped)")
    if args.save_json:
        log.info("wrote %d detections to %s", writer.detections, args.save_json)
    if writer.panoptic is not None:
        log.info(
            "COCO panoptic results: %s and %s", writer.panoptic.folder, writer.panoptic.json_path
        )
    if args.save_semantic:
        log.info("semantic maps in %s", args.save_semantic)
    if tracking and args.save_mot:
        log.info("MOTChallenge files in %s", out)
    log.info(
        "%d %s, %d %s, %.1f ms/image (%.1f fps) on %s%s%s%s",
        n_images,
        "frame(s)" if tracking else "image(s)",
        writer.detections,
        "tracked detection(s)" if tracking else "detection(s)",
        1000 * elapsed / n_images,
        n_images / elapsed,
        detector.device,
        f"; annotated output in {out}" if out and not args.no_save else "",
        f"; {stats['dropped']} stream frame(s) dropped" if stats.get("dropped") else "",
        f"; {len(skipped)} unreadable file(s) skipped" if skipped else "",
    )
    return 1 if skipped else 0


def _print_captions(results: Iterable[Result]) -> Iterator[Result]:
    """Pass the results on, printing each caption model's caption (one line per image)."""
    for result in results:
        if result.caption is not None:
            where = result.path or "frame"
            if result.frame is not None:
                where += f" frame {result.frame}"
            score = f" ({result.caption_score:.2f})" if result.caption_score is not None else ""
            print(f"{where}: caption: {result.caption}{score}", flush=True)
        yield result
