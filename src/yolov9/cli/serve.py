"""``yolov9 serve``: the HTTP service and web page of a model (``yolov9.serving``)."""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

from yolov9.cli.common import (
    add_device_args,
    imgsz,
    non_negative_float,
    positive_int,
)
from yolov9.errors import ConfigError

KEY_VARIABLE = "YOLOV9_API_KEY"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve a model over HTTP, with a web page (needs: pip install 'yolov9[serve]')",
        description="An HTTP service and a web page for a model (checkpoint or exported file): "
        "POST /v1/predict, GET /v1/model, /healthz, /metrics, and the page at /.",
    )
    p.add_argument("--weights", required=True, help="checkpoint, release name or exported file")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--imgsz", type=imgsz, default=None, help="inference size (default: ckpt's)")
    add_device_args(p)
    p.add_argument(
        "--api-key",
        default=None,
        help=f"ask every API request for this key (X-API-Key header); or set {KEY_VARIABLE}",
    )
    p.add_argument(
        "--cors",
        nargs="+",
        default=(),
        metavar="ORIGIN",
        help="browser origins allowed to call the API (default: none, CORS off)",
    )
    p.add_argument("--max-batch", type=positive_int, default=8, help="images per forward pass")
    p.add_argument(
        "--max-wait-ms",
        type=non_negative_float,
        default=5.0,
        help="how long a request waits for others to batch with (0: no waiting)",
    )
    p.add_argument(
        "--queue", type=positive_int, default=64, help="requests waiting at most (then 503)"
    )
    p.add_argument(
        "--queue-mb",
        type=positive_int,
        default=1024,
        help="decoded images waiting, in MB, at most (then 503)",
    )
    p.add_argument("--max-upload-mb", type=non_negative_float, default=20.0)
    p.add_argument("--max-pixels", type=positive_int, default=40_000_000)
    p.add_argument(
        "--body-timeout",
        type=non_negative_float,
        default=30.0,
        help="seconds to receive a request's body (slower senders get 408)",
    )
    p.set_defaults(handler=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from yolov9.serving import ImageLimits, ServeOptions, serve

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port must be in 0..65535, got {args.port}")
    key = args.api_key or os.environ.get(KEY_VARIABLE) or None
    options = ServeOptions(
        host=args.host,
        port=args.port,
        api_key=key,
        cors=tuple(args.cors),
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        queue_size=args.queue,
        queue_bytes=args.queue_mb << 20,
        limits=ImageLimits(int(args.max_upload_mb * (1 << 20)), args.max_pixels),
        body_timeout_s=args.body_timeout,
    )
    # Ctrl-C is how a service stops: after uvicorn's graceful shutdown
    with contextlib.suppress(KeyboardInterrupt):
        serve(
            args.weights,
            options=options,
            imgsz=args.imgsz,
            device=args.device,
            precision=args.precision,
            threads=args.threads,
        )
    print("stopped", flush=True)
    return 0
