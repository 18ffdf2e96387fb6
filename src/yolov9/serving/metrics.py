"""The service's Prometheus metrics (``GET /metrics``, the text format), through the usual
client library (``prometheus_client``, in the ``serve`` extra), in a registry of its own."""

from __future__ import annotations

from typing import Any

from yolov9.utils.optional import require

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)


class ServeMetrics:
    """Requests by endpoint and status, errors by kind, request latency, queue wait, queue
    depth and batch sizes."""

    def __init__(self) -> None:
        require("yolov9 serve", "serve", "prometheus_client")
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "yolov9_requests", "HTTP requests answered", ("endpoint", "status"), registry=r
        )
        self.errors = Counter(
            "yolov9_errors", "requests refused or failed, by kind", ("kind",), registry=r
        )
        self.latency = Histogram(
            "yolov9_request_seconds",
            "time from receiving a request to answering it",
            ("endpoint",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "yolov9_queue_wait_seconds",
            "time a request waited for its batch",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch = Histogram(
            "yolov9_batch_size", "images per forward pass", buckets=BATCH_BUCKETS, registry=r
        )
        self.depth = Gauge("yolov9_queue_depth", "requests waiting for a batch", registry=r)

    def render(self) -> tuple[bytes, str]:
        """(body, content type) of the metrics page."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def observe_batch(self, stats: Any) -> None:
        self.batch.observe(stats.size)
        for wait in stats.waits:
            self.queue_wait.observe(wait)
