"""``yolov9 serve`` / ``yolov9.serve(...)``: load a model (a checkpoint or an exported file),
build the service and run it under uvicorn (in the ``serve`` extra) until interrupted."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

from yolov9.serving.service import ServeOptions
from yolov9.utils.optional import require

log = logging.getLogger(__name__)


def build_app(detector: Any, options: ServeOptions) -> Any:
    """The ASGI application serving ``detector`` (a :class:`yolov9.Detector`)."""
    from yolov9.serving.app import create_app
    from yolov9.serving.metrics import ServeMetrics
    from yolov9.serving.service import Service

    metrics = ServeMetrics()
    return create_app(Service(detector, options, on_batch=metrics.observe_batch), metrics)


def server(app: Any, options: ServeOptions, sock: socket.socket | None = None) -> Any:
    """A uvicorn server of ``app`` (``.run()`` blocks; ``sock``: an already bound socket).
    Connections beyond the queue and the batch in flight get uvicorn's 503 at once, so the
    requests the service holds stay bounded."""
    require("yolov9 serve", "serve", "uvicorn")
    import uvicorn

    config = uvicorn.Config(
        app,
        host=options.host,
        port=options.port,
        log_level="warning",
        timeout_keep_alive=5,
        limit_concurrency=options.queue_size + options.max_batch + 32,
        access_log=False,
    )
    return uvicorn.Server(config)


def serve(weights: str | Path, *, options: ServeOptions | None = None, **load: Any) -> None:
    """Serve the model at ``weights`` until interrupted; ``load``: as
    :meth:`yolov9.Detector.from_pretrained` takes them (imgsz, device, precision, threads)."""
    require(
        "yolov9 serve", "serve", "starlette", "uvicorn", "python_multipart", "prometheus_client"
    )
    from yolov9.api import Detector

    options = options or ServeOptions()
    detector = Detector.from_pretrained(weights, **load)
    app = build_app(detector, options)
    host = f"[{options.host}]" if ":" in options.host else options.host
    print(
        f"serving {weights} ({detector.predictor.task.description}, "
        f"{detector.backend.describe()}) at http://{host}:{options.port}/ "
        f"(API: POST /v1/predict; {'API key required' if options.api_key else 'no API key'})",
        flush=True,
    )
    server(app, options).run()
