"""The HTTP layer (Starlette, in the ``serve`` extra): routes, the API key, CORS, body limits,
errors as 4xx with a one-line reason, and the metrics of every answer.

Endpoints: ``GET /`` (the page), ``POST /v1/predict``, ``GET /v1/model``, ``GET /healthz``,
``GET /metrics``. Every answer but ``/`` and ``/healthz`` asks for the API key when the
service has one (``X-API-Key: KEY`` or ``Authorization: Bearer KEY``).
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.resources
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from yolov9.serving.batcher import OverloadedError
from yolov9.serving.images import BadInputError
from yolov9.serving.metrics import ServeMetrics
from yolov9.serving.service import Service, jpeg, result_json
from yolov9.utils.optional import require

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger(__name__)

KINDS = {400: "bad_request", 401: "unauthorized", 408: "timeout", 413: "too_large"}
KINDS |= {415: "unsupported", 503: "overloaded", 500: "internal", 404: "not_found"}
KINDS |= {405: "method_not_allowed"}


def page_html() -> str:
    """The web page (no external assets)."""
    return importlib.resources.files("yolov9.serving").joinpath("page.html").read_text()


def create_app(service: Service, metrics: ServeMetrics) -> Starlette:
    """The ASGI application of ``service``; closing it (its lifespan's end) closes the
    service."""
    require("yolov9 serve", "serve", "starlette", "python_multipart")
    import contextlib

    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    options = service.options
    page = page_html()
    cpu = asyncio.Semaphore(2)  # uploads decoded (or results drawn) at once
    metrics.depth.set_function(lambda: service.batcher.depth)  # read when scraped

    def error(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
        metrics.errors.labels(KINDS.get(status, str(status))).inc()
        return JSONResponse({"error": reason}, status_code=status, headers=headers)

    def authorized(request: Request) -> bool:
        if options.api_key is None:
            return True
        given = request.headers.get("x-api-key", "")
        bearer = request.headers.get("authorization", "")
        if not given and bearer.lower().startswith("bearer "):
            given = bearer[7:].strip()
        return hmac.compare_digest(given.encode(), options.api_key.encode())

    def endpoint(
        name: str, *, public: bool = False
    ) -> Callable[[Callable[[Request], Awaitable[Response]]], Callable[[Request], Any]]:
        """Times and counts the answers of a handler; asks for the key unless ``public``."""

        def wrap(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Any]:
            async def run(request: Request) -> Response:
                start = time.perf_counter()
                if not public and not authorized(request):
                    response = error(401, "missing or wrong API key (X-API-Key header)")
                else:
                    try:
                        response = await handler(request)
                    except BadInputError as e:
                        response = error(e.status, e.reason)
                    except OverloadedError as e:
                        response = error(503, f"busy: {e}; retry", {"Retry-After": "1"})
                    except ClientDisconnect:
                        response = error(400, "the client went away before sending its body")
                    except Exception:  # a bug: logged, answered, and the service goes on
                        log.exception("request to %s failed", name)
                        response = error(500, "internal error (the service logged it)")
                metrics.requests.labels(name, str(response.status_code)).inc()
                metrics.latency.labels(name).observe(time.perf_counter() - start)
                return response

            return run

        return wrap

    async def read_body(request: Request) -> bytes:
        """The body, at most the upload limit (413 beyond it, before reading it all)."""
        limit = options.limits.max_bytes
        declared = request.headers.get("content-length", "")
        margin = 64 << 10  # a multipart envelope around the image
        if declared.isdigit() and int(declared) > limit + margin:
            raise BadInputError(413, f"body of {declared} bytes exceeds the limit of {limit}")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit + margin:
                raise BadInputError(413, f"body exceeds the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def image_bytes(request: Request) -> bytes:
        """The uploaded image: multipart field ``image``, or the raw body."""
        try:
            body = await asyncio.wait_for(read_body(request), options.body_timeout_s)
        except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
            raise BadInputError(
                408, f"body not received within {options.body_timeout_s:g} s"
            ) from None
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/x-www-form-urlencoded" or kind.startswith("text/"):
            raise BadInputError(415, f"content type {kind}: send an image, raw or as multipart")
        if kind != "multipart/form-data":
            return body

        async def replay() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        try:
            form = await Request(request.scope, replay).form(max_files=1, max_fields=16)
        except Exception as e:  # python-multipart's and Starlette's parse errors
            raise BadInputError(400, f"malformed multipart body: {e}") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise BadInputError(400, "multipart body without a file field 'image'")
        return await upload.read()

    @endpoint("predict")
    async def predict(request: Request) -> Response:
        start = time.perf_counter()
        params = service.params(dict(request.query_params))
        body = await image_bytes(request)
        async with cpu:  # decoding and drawing off the event loop, a few at a time
            image = await asyncio.to_thread(service.image, body, params)
        result = await service.predict(image, params)
        async with cpu:
            if params.draw == "true":
                drawn = await asyncio.to_thread(jpeg, result)
                return Response(drawn, media_type="image/jpeg")
            seconds = time.perf_counter() - start
            answer = await asyncio.to_thread(
                result_json, result, params, seconds, service.stuff_names
            )
        return JSONResponse(answer)

    @endpoint("model")
    async def model(_: Request) -> Response:
        return JSONResponse(service.info())

    @endpoint("healthz", public=True)
    async def healthz(_: Request) -> Response:
        if not service.batcher.alive:
            return error(503, "the inference worker has stopped")
        return JSONResponse({"status": "ok", "queue_depth": service.batcher.depth})

    @endpoint("metrics")
    async def metrics_page(_: Request) -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    @endpoint("page", public=True)
    async def index(_: Request) -> Response:
        return HTMLResponse(page)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> Any:
        yield
        service.close()

    middleware = []
    if options.cors:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(options.cors),
                allow_methods=["GET", "POST"],
                allow_headers=["X-API-Key", "Authorization", "Content-Type"],
            )
        )
    routes = [
        Route("/", index, methods=["GET"]),
        Route("/v1/predict", predict, methods=["POST"]),
        Route("/v1/model", model, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_page, methods=["GET"]),
    ]

    async def http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, str(exc.detail))

    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},  # 404, 405: JSON like the rest
    )
