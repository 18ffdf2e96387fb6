"""``yolov9 predict``."""

from __future__ import annotations

import argparse
import time
from typing import Any

from yolov9.cli.common import add_device_args, imgsz, log, positive_int, unit_float, write_json
from yolov9.errors import YOLOv9Error


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "predict", help="detect (or segment) objects in images, folders, globs or videos"
    )
    p.add_argument("--weights", required=True, help="checkpoint path or release name")
    p.add_argument("--source", required=True, help="image, folder, glob pattern or video")
    p.add_argument("--imgsz", type=imgsz, default=None, help="inference size (default: ckpt's)")
    p.add_argument("--conf", type=unit_float, default=0.25, help="confidence threshold")
    p.add_argument("--iou", type=unit_float, default=0.45, help="NMS IoU threshold")
    p.add_argument("--max-det", type=positive_int, default=300)
    p.add_argument("--classes", type=int, nargs="+", default=None, help="keep only these ids")
    p.add_argument("--agnostic", action="store_true", help="class-agnostic NMS")
    p.add_argument("--batch", type=positive_int, default=1)
    add_device_args(p)
    p.add_argument("--out", default="runs/predict", help="folder for annotated output")
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
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from yolov9.api import Detector
    from yolov9.inference.writers import save_results
    from yolov9.utils.paths import new_run_dir
    from yolov9.utils.perf import tune_cpu_allocator

    tune_cpu_allocator()
    detector = Detector.from_pretrained(
        args.weights,
        imgsz=args.imgsz,
        device=args.device,
        precision=args.precision,
        full_res_masks=args.full_res_masks,
        threads=args.threads,
    )
    if args.mask_format is not None and detector.task != "segment":
        raise YOLOv9Error(
            f"--mask-format needs a segmentation model; {args.weights} is a detection model"
        )
    out = None if args.no_save else new_run_dir(args.out, args.exist_ok)
    skipped: list[str] = []
    start = time.perf_counter()
    results = detector.stream(
        args.source,
        batch_size=args.batch,
        skipped=skipped,
        conf=args.conf,
        iou=args.iou,
        max_det=args.max_det,
        classes=args.classes,
        agnostic=args.agnostic,
    )
    mask_format = (args.mask_format or "rle") if args.save_json else None
    records, n_images, n_dets = save_results(results, out, mask_format=mask_format)
    elapsed = time.perf_counter() - start
    if n_images == 0:
        raise YOLOv9Error(f"no image of {args.source} could be read ({len(skipped)} skipped)")
    if args.save_json:
        log.info("wrote %d detections to %s", len(records), write_json(args.save_json, records))
    log.info(
        "%d image(s), %d detection(s), %.1f ms/image on %s%s%s",
        n_images,
        n_dets,
        1000 * elapsed / n_images,
        detector.device,
        f"; annotated output in {out}" if out else "",
        f"; {len(skipped)} unreadable file(s) skipped" if skipped else "",
    )
    return 1 if skipped else 0
