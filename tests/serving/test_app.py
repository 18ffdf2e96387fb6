"""The service over real HTTP on 127.0.0.1: every endpoint, the JSON of ``--save-json`` (with
the panoptic segments and semantic classes), the drawn picture, the API key, the metrics, and
bad requests answered with a 4xx and a one-line reason while the service goes on unchanged."""

from __future__ import annotations

import base64
import struct
import zlib
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from tests.serving.conftest import NAMES, STUFF, httpx, running, scene, scene_png
from yolov9.api import Detector
from yolov9.serving import ImageLimits, ServeOptions


@pytest.fixture(scope="module")
def url(detector: Detector) -> Iterator[str]:
    options = ServeOptions(limits=ImageLimits(max_bytes=200_000, max_pixels=4_000_000))
    with running(detector, options) as base:
        yield base


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def test_model_health_and_page(url: str) -> None:
    info = httpx.get(f"{url}/v1/model").json()
    assert info["task"] == "panoptic"
    assert info["names"] == NAMES
    assert info["stuff_names"] == STUFF
    assert info["imgsz"] == 128
    assert info["precision"] == "fp32"
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "queue_depth": 0}
    page = httpx.get(f"{url}/")
    assert page.headers["content-type"].startswith("text/html")
    assert "v1/predict" in page.text
    assert "http://" not in page.text
    assert "https://" not in page.text


def test_predict_answers_the_records_of_save_json(url: str, detector: Detector) -> None:
    body = scene_png()
    expected = detector.predict(scene(), conf=0.3)[0]
    multipart = httpx.post(f"{url}/v1/predict?conf=0.3", files={"image": ("a.png", body)})
    raw = httpx.post(f"{url}/v1/predict?conf=0.3", content=body)
    for answer in (multipart, raw):
        assert answer.status_code == 200, answer.text
        got = answer.json()
        assert (got["width"], got["height"]) == (128, 96)
        records = [r for r in expected.records() if "box" in r]
        for r in records:
            r.pop("file"), r.pop("frame")
        assert got["records"] == records
        assert len(records) >= 2
        assert got["panoptic"] == expected.panoptic.records()
        present = np.unique(expected.semantic).tolist()
        assert [s["class_id"] for s in got["semantic"]] == present
        assert {s["class_name"] for s in got["semantic"]} <= {*NAMES, *STUFF}
        assert sum(s["fraction"] for s in got["semantic"]) == pytest.approx(1.0, abs=1e-3)
    polygons = httpx.post(f"{url}/v1/predict?conf=0.3&masks=polygon", content=body).json()
    assert isinstance(polygons["records"][0]["mask"], list)
    picked = httpx.post(f"{url}/v1/predict?conf=0.3&classes=1&max_det=1", content=body).json()
    assert [r["class_id"] for r in picked["records"]] == [1]


def test_the_drawn_result_comes_as_jpeg_or_inline(url: str) -> None:
    body = scene_png()
    drawn = httpx.post(f"{url}/v1/predict?draw=true", content=body)
    assert drawn.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(drawn.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (96, 128, 3)
    inline = httpx.post(f"{url}/v1/predict?draw=inline", content=body).json()
    prefix = "data:image/jpeg;base64,"
    assert inline["annotated"].startswith(prefix)
    again = base64.b64decode(inline["annotated"][len(prefix) :])
    assert cv2.imdecode(np.frombuffer(again, np.uint8), cv2.IMREAD_COLOR).shape == (96, 128, 3)


BAD = [
    ("empty body", {"content": b""}, "", 400, "empty body"),
    ("text", {"content": b"hello", "headers": {"content-type": "text/plain"}}, "", 415, "text"),
    ("broken header", {"content": b"GIF89a" + b"\0" * 40}, "", 415, "not an image"),
    ("random bytes", {"content": bytes(range(256)) * 4}, "", 415, "not an image"),
    ("truncated", {"content": scene_png()[:300]}, "", 400, "truncated"),
    ("bomb", {"content": _png_header(60_000, 60_000)}, "", 413, "pixels"),
    ("too many pixels", {"content": _png_header(3000, 3000)}, "", 413, "exceeds the limit"),
    ("too large", {"content": b"\xff\xd8" + b"\0" * 300_000}, "", 413, "exceeds the limit"),
    ("conf", {"content": scene_png()}, "?conf=2", 400, "conf='2'"),
    ("iou", {"content": scene_png()}, "?iou=abc", 400, "iou='abc'"),
    ("max_det", {"content": scene_png()}, "?max_det=-1", 400, "max_det"),
    ("classes", {"content": scene_png()}, "?classes=0,7", 400, "classes='0,7'"),
    ("draw", {"content": scene_png()}, "?draw=maybe", 400, "draw='maybe'"),
    ("unknown", {"content": scene_png()}, "?confidence=0.5", 400, "unknown query field"),
    ("tile", {"content": scene_png()}, "?tile=640", 400, "tile does not apply"),
    ("small tile", {"content": scene_png()}, "?tile=32", 400, "in [128, 2048]"),
    ("not ascii digits", {"content": scene_png()}, "?max_det=%C2%B2", 400, "max_det"),
    ("huge number", {"content": scene_png()}, "?max_det=" + "9" * 5000, 400, "max_det"),
    (
        "a sliver",
        {"content": cv2.imencode(".png", np.zeros((2, 2600, 3), np.uint8))[1].tobytes()},
        "",
        400,
        "vanishes",
    ),
    ("no field", {"files": {"picture": ("a.png", scene_png())}}, "", 400, "field 'image'"),
    (
        "bad multipart",
        {"content": b"--x\r\nbroken", "headers": {"content-type": "multipart/form-data"}},
        "",
        400,
        "multipart",
    ),
]


@pytest.mark.parametrize(("name", "request_kw", "query", "status", "reason"), BAD)
def test_bad_requests_get_a_4xx_with_a_reason(
    url: str, name: str, request_kw: dict, query: str, status: int, reason: str
) -> None:
    answer = httpx.post(f"{url}/v1/predict{query}", **request_kw)
    assert answer.status_code == status, (name, answer.text)
    error = answer.json()["error"]
    assert reason in error, (name, error)
    assert "\n" not in error


def test_the_service_is_unchanged_after_bad_requests(url: str) -> None:
    before = httpx.post(f"{url}/v1/predict", content=scene_png()).json()
    for _, kw, query, _, _ in BAD:
        httpx.post(f"{url}/v1/predict{query}", **kw)
    wrong_method = httpx.get(f"{url}/v1/predict")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "Method Not Allowed"
    assert httpx.get(f"{url}/v2/nothing").json()["error"] == "Not Found"
    assert httpx.get(f"{url}/healthz").status_code == 200
    after = httpx.post(f"{url}/v1/predict", content=scene_png()).json()
    before.pop("time_ms"), after.pop("time_ms")
    assert after == before


def test_metrics_count_requests_errors_and_batches(url: str) -> None:
    httpx.post(f"{url}/v1/predict", content=b"")
    httpx.post(f"{url}/v1/predict", content=scene_png())
    text = httpx.get(f"{url}/metrics").text
    assert 'yolov9_requests_total{endpoint="predict",status="200"}' in text
    assert 'yolov9_errors_total{kind="bad_request"}' in text
    assert "yolov9_request_seconds_bucket" in text
    assert "yolov9_batch_size_count" in text
    assert "yolov9_queue_depth 0.0" in text


def test_an_api_key_guards_everything_but_health_and_page(detector: Detector) -> None:
    options = ServeOptions(api_key="s3cret", cors=("http://example.test",))
    with running(detector, options) as base:
        assert httpx.get(f"{base}/v1/model").status_code == 401
        assert httpx.get(f"{base}/v1/model", headers={"X-API-Key": "wrong"}).status_code == 401
        assert httpx.get(f"{base}/metrics").status_code == 401
        ok = httpx.get(f"{base}/v1/model", headers={"X-API-Key": "s3cret"})
        assert ok.status_code == 200
        bearer = httpx.post(
            f"{base}/v1/predict",
            content=scene_png(),
            headers={"Authorization": "Bearer s3cret"},
        )
        assert bearer.status_code == 200
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/").status_code == 200
        cors = httpx.options(
            f"{base}/v1/predict",
            headers={"Origin": "http://example.test", "Access-Control-Request-Method": "POST"},
        )
        assert cors.headers["access-control-allow-origin"] == "http://example.test"
    with running(detector, ServeOptions()) as base:  # CORS off by default
        plain = httpx.get(f"{base}/v1/model", headers={"Origin": "http://example.test"})
        assert "access-control-allow-origin" not in plain.headers
