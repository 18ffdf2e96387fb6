"""Caption data: the real COCO captions of 79 images read as written (raw case, punctuation,
trailing spaces), problems counted and named, and `yolov9 val --predictions` scoring a COCO
caption results file without reading an image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from yolov9.cli import main
from yolov9.data.captions import caption_split, read_captions
from yolov9.errors import DataError


def _write(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path


def _doc() -> dict:
    return {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}, {"id": 3}],
        "annotations": [
            {"image_id": 1, "caption": "A red bus on a street. "},
            {"image_id": 1, "caption": "A bus, red."},
            {"image_id": 2, "caption": "Two cats sleeping"},
            {"image_id": 2, "caption": "   "},
            {"image_id": 9, "caption": "A ghost"},
        ],
    }


def test_problems_are_counted_and_named(tmp_path: Path) -> None:
    caps = read_captions(_write(tmp_path / "captions.json", _doc()))
    assert caps.captions == {1: ["A red bus on a street.", "A bus, red."], 2: ["Two cats sleeping"]}
    assert caps.problems == [
        "1 empty caption(s) skipped (e.g. annotations[3])",
        "1 caption(s) of images not in 'images' skipped (e.g. image 9)",
        "1 image(s) without a caption (e.g. image 3)",
    ]


def test_a_data_yaml_names_the_caption_split(tmp_path: Path) -> None:
    _write(tmp_path / "captions_val.json", _doc())
    (tmp_path / "data.yaml").write_text("val: {images: images, captions: captions_val.json}\n")
    caps = caption_split(tmp_path / "data.yaml", "val")
    assert caps is not None
    assert caps.images_dir == tmp_path / "images"
    assert caption_split(tmp_path / "data.yaml", "train") is None


def _val(tmp_path: Path, data: Path, results: Path) -> tuple[int, dict]:
    out = tmp_path / "metrics.json"
    argv = ["val", "--data", str(data), "--predictions", str(results), "--json", str(out)]
    rc = main([*argv, "--out", str(tmp_path / "runs")])
    return rc, json.loads(out.read_text()) if out.is_file() else {}


def test_val_scores_a_results_file(tmp_path: Path) -> None:
    data = _write(tmp_path / "captions.json", _doc())
    perfect = _write(
        tmp_path / "res.json",
        [{"image_id": 1, "caption": "a red bus on a street"}, {"image_id": 2, "caption": "x"}],
    )
    rc, got = _val(tmp_path, data, perfect)
    assert rc == 0
    assert got["images"] == 2
    assert set(got["caption"]) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr-D"}
    assert 0 < got["caption"]["BLEU-1"] < 1


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({"image_id": 1}, "expected a non-empty JSON list"),
        ([{"image_id": 1}], "entry 0 needs 'image_id' and 'caption'"),
        ([{"image_id": 5, "caption": "a"}], "entry 0: image 5 has no reference caption"),
        ([{"image_id": 1, "caption": "a"}] * 2, "image 1 has two captions (entry 1)"),
    ],
)
def test_bad_results_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], results: object, message: str
) -> None:
    data = _write(tmp_path / "captions.json", _doc())
    rc, _ = _val(tmp_path, data, _write(tmp_path / "res.json", results))
    assert rc == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert message in last


def test_an_empty_captions_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no image has a caption"):
        read_captions(_write(tmp_path / "c.json", {"images": [], "annotations": []}))


def test_the_real_coco_captions(shared: Path, tmp_path: Path) -> None:
    data = shared / "data" / "coco_mini_val2017_captions" / "captions_val2017.json"
    caps = read_captions(data)
    assert len(caps) == 79
    assert all(len(c) == 5 for c in caps.captions.values())
    assert not caps.problems
    # each image's first caption against the other four, through the whole command: the
    # scores pycocoevalcap gives on the same captions (tests/metrics/data, set "human")
    doc = json.loads(data.read_text())
    results = [{"image_id": k, "caption": v[0]} for k, v in caps.captions.items()]
    firsts = {(r["image_id"], r["caption"]) for r in results}
    doc["annotations"] = [
        a for a in doc["annotations"] if (a["image_id"], a["caption"].strip()) not in firsts
    ]
    rc, got = _val(
        tmp_path, _write(tmp_path / "refs.json", doc), _write(tmp_path / "r.json", results)
    )
    assert rc == 0
    assert got["images"] == 79
    fixture = Path(__file__).parents[1] / "metrics" / "data" / "caption_reference.json"
    want = json.loads(fixture.read_text())["scores"]["human"]
    for n in range(4):
        assert got["caption"][f"BLEU-{n + 1}"] == pytest.approx(want["BLEU"][n], abs=1e-9)
    assert got["caption"]["CIDEr-D"] == pytest.approx(want["CIDEr-D"], abs=1e-9)
