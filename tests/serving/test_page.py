"""The web page in a real browser: headless Chromium (Debian's ``chromium``) against a service
on 127.0.0.1 loads the page, uploads an image through the file input, and shows the drawn
result, the detections' table and the semantic classes; the confidence slider asks again.
A screenshot is kept in ``runs/test-artifacts/serve_page.png``. Skips where Chromium is
absent, except under ``CI=true``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving.conftest import running, scene_png
from yolov9.api import Detector
from yolov9.serving import ServeOptions

websocket = pytest.importorskip("websocket", reason="websocket-client (dev extra) not installed")

from tests.serving.browser import Chromium, find_chromium  # noqa: E402

ARTIFACT = Path(__file__).resolve().parents[2] / "runs" / "test-artifacts" / "serve_page.png"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Chromium]:
    executable = find_chromium()
    if executable is None:
        if os.environ.get("CI") == "true":
            pytest.fail("Chromium is required under CI=true (apt-get install chromium)")
        pytest.skip("Chromium not installed (apt-get install chromium): the page test needs it")
    chromium = Chromium(executable, tmp_path / "profile")
    try:
        yield chromium
    finally:
        chromium.close()


def test_the_page_uploads_an_image_and_shows_the_result(
    detector: Detector, browser: Chromium, tmp_path: Path
) -> None:
    image = tmp_path / "scene.png"
    image.write_bytes(scene_png((192, 256)))
    with running(detector, ServeOptions()) as url:
        browser.open(f"{url}/")
        described = browser.wait_for(
            "document.getElementById('model').textContent.includes('classes') && "
            "document.getElementById('model').textContent"
        )
        assert "panoptic" in described
        browser.choose_file("#file", image)
        rows = browser.wait_for("document.querySelectorAll('#detections tbody tr').length")
        assert rows >= 2
        drawn = browser.wait_for(
            "document.getElementById('result').complete && "
            "[document.getElementById('result').naturalWidth, "
            "document.getElementById('result').naturalHeight]"
        )
        assert drawn == [256, 192]
        status = browser.evaluate("document.getElementById('status').textContent")
        assert f"{rows} detections in a 256x192 image" in status
        first = browser.evaluate(
            "[...document.querySelectorAll('#detections tbody tr')[0].cells]"
            ".map(c => c.textContent)"
        )
        assert first[1] in ("a", "b")
        assert float(first[2]) >= 0.25
        stuff = browser.evaluate("document.querySelectorAll('#stuff tbody tr').length")
        assert stuff >= 1
        browser.screenshot(ARTIFACT)
        # a stricter confidence asks again: fewer (or as many) rows, all above it
        browser.evaluate(
            "(() => { const s = document.getElementById('conf'); s.value = '0.9';"
            " s.dispatchEvent(new Event('input')); })()"
        )
        browser.wait_for(
            "document.getElementById('status').textContent.includes('0 det') || "
            "[...document.querySelectorAll('#detections tbody tr')]"
            ".every(r => parseFloat(r.cells[2].textContent) >= 0.9)"
        )
        fewer = browser.evaluate("document.querySelectorAll('#detections tbody tr').length")
        assert fewer <= rows
    assert ARTIFACT.stat().st_size > 10_000
