"""Dynamic batching: requests of one key run together (up to the batch size, within the
wait), other keys wait their turn, a full queue refuses at once, a failing batch fails its
own requests only; over HTTP, concurrent requests batch and get what they get alone, and an
overloaded service answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from tests.serving.conftest import httpx, running, scene_png
from yolov9.api import Detector
from yolov9.serving import ServeOptions
from yolov9.serving.batcher import Batcher, OverloadedError


class _Recorder:
    def __init__(self, delay: float = 0.0, fail_on: Any = None) -> None:
        self.batches: list[tuple[list[int], Any]] = []
        self.delay, self.fail_on = delay, fail_on

    def __call__(self, images: list[np.ndarray], options: Any) -> list[int]:
        time.sleep(self.delay)
        if options == self.fail_on:
            raise RuntimeError("this batch fails")
        values = [int(im[0]) for im in images]
        self.batches.append((values, options))
        return [v * 10 for v in values]


async def _submit_all(batcher: Batcher, jobs: list[tuple[int, Any]]) -> list[Any]:
    tasks = [batcher.submit(np.array([v]), opt, opt) for v, opt in jobs]
    return await asyncio.gather(*tasks, return_exceptions=True)


def test_requests_of_one_key_share_a_batch() -> None:
    run = _Recorder(delay=0.05)
    batcher = Batcher(run, max_batch=4, max_wait_ms=100, queue_size=16)
    jobs = [(i, "a" if i % 3 else "b") for i in range(9)]
    results = asyncio.run(_submit_all(batcher, jobs))
    batcher.close()
    assert results == [v * 10 for v, _ in jobs]  # each request its own result
    for values, option in run.batches:
        assert all((v % 3 != 0) == (option == "a") for v in values)  # one key per batch
        assert len(values) <= 4
    assert max(len(v) for v, _ in run.batches) > 1
    assert sorted(v for values, _ in run.batches for v in values) == list(range(9))


def test_without_batching_each_request_runs_alone() -> None:
    run = _Recorder()
    batcher = Batcher(run, max_batch=1, max_wait_ms=0, queue_size=16)
    asyncio.run(_submit_all(batcher, [(i, "a") for i in range(5)]))
    batcher.close()
    assert [len(v) for v, _ in run.batches] == [1] * 5


def test_a_full_queue_refuses_and_a_failing_batch_fails_only_its_requests() -> None:
    run = _Recorder(delay=0.2, fail_on="bad")
    batcher = Batcher(run, max_batch=1, max_wait_ms=0, queue_size=2)
    results = asyncio.run(_submit_all(batcher, [(1, "bad"), (2, "a"), (3, "a"), (4, "a")]))
    batcher.close()
    assert isinstance(results[0], RuntimeError)  # its batch failed
    assert any(isinstance(r, OverloadedError) for r in results[1:])  # the queue held 2
    assert 20 in results or 30 in results  # the others were served
    with pytest.raises(ValueError, match="max_batch"):
        Batcher(run, max_batch=0)


def test_concurrent_http_requests_batch_and_get_their_own_results(detector: Detector) -> None:
    shapes = [(96, 128), (96, 128), (120, 90), (96, 128), (120, 90), (96, 128)]
    bodies = [scene_png(s, seed=i) for i, s in enumerate(shapes)]
    alone = ServeOptions(max_batch=1, max_wait_ms=0)
    with running(detector, alone) as base:
        expected = [
            httpx.post(f"{base}/v1/predict?masks=none", content=b).json()["records"] for b in bodies
        ]
    together = ServeOptions(max_batch=8, max_wait_ms=300)
    with running(detector, together) as base, ThreadPoolExecutor(len(bodies)) as pool:
        answers = list(
            pool.map(
                lambda b: httpx.post(f"{base}/v1/predict?masks=none", content=b, timeout=60),
                bodies,
            )
        )
        metrics = httpx.get(f"{base}/metrics").text
    for want, answer in zip(expected, answers, strict=True):
        got = answer.json()["records"]
        assert [r["class_id"] for r in got] == [r["class_id"] for r in want]
        for g, w in zip(got, want, strict=True):
            assert g["box"] == pytest.approx(w["box"], abs=0.02)
            assert g["score"] == pytest.approx(w["score"], abs=1e-4)
    sizes = _histogram(metrics, "yolov9_batch_size")
    assert sizes["count"] < len(bodies)  # fewer forward passes than requests
    assert sizes["sum"] == len(bodies)


def _histogram(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        for part in ("count", "sum"):
            if line.startswith(f"{name}_{part} "):
                out[part] = float(line.split()[1])
    return out


def test_an_overloaded_service_answers_503_with_retry_after(
    detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    predictor = type(detector.predictor)
    original = predictor.__call__

    def sluggish(self: Any, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # a slow model: requests pile up
        return original(self, *args, **kwargs)

    options = ServeOptions(max_batch=1, max_wait_ms=0, queue_size=2)
    with running(detector, options) as base:
        monkeypatch.setattr(predictor, "__call__", sluggish)
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda _: httpx.post(f"{base}/v1/predict", content=scene_png(), timeout=60),
                    range(8),
                )
            )
        codes = sorted(a.status_code for a in answers)
        assert set(codes) <= {200, 503}
        assert codes.count(503) >= 1
        assert codes.count(200) >= 3  # the one running and the two queued
        refused = next(a for a in answers if a.status_code == 503)
        assert refused.headers["retry-after"] == "1"
        assert "busy" in refused.json()["error"]
        monkeypatch.undo()
        assert httpx.post(f"{base}/v1/predict", content=scene_png()).status_code == 200
