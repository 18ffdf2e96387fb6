"""Training on a mixture of datasets that each carry some labels: the all-task network on a
panoptic dataset (no captions) and a caption dataset (no boxes, masks or stuff) learns every
term, each batch one member's with its terms only, validated on a third dataset with every
label; a member without labels the model learns, and the language step, are refused."""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from tests.engine.test_trainer_all import _cfg
from yolov9.data.synthetic_world import STUFF, THINGS, write_world
from yolov9.engine.build import build_training
from yolov9.engine.training import train
from yolov9.engine.training_data import load_training_data
from yolov9.errors import ConfigError, DataError
from yolov9.utils.dist import DistInfo

PANOPTIC = frozenset({"boxes", "masks", "semantic"})
CAPTIONS = frozenset({"captions"})


@pytest.fixture(scope="module")
def mixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A panoptic world, a captioned world without box labels, and a mixture of both."""
    root = tmp_path_factory.mktemp("mixture")
    pan = write_world(root / "pan", {"train": 4, "val": 2}, (64, 64), seed=3, captions=True)
    cap = write_world(root / "cap", {"train": 4}, (64, 64), seed=4, captions=True)["all"]
    shutil.rmtree(cap.parent / "labels")  # captions only: the images have no boxes
    spec = {"train": {"images": "images/train", "captions": "captions_train.json"}}
    (cap.parent / "captions.yaml").write_text(yaml.safe_dump({"path": str(cap.parent), **spec}))
    mix = root / "mix.yaml"
    mix.write_text(
        yaml.safe_dump(
            {
                "mixture": ["pan/coco-panoptic.yaml", "cap/captions.yaml"],
                "val": str(pan["all"]),
            }
        )
    )
    return mix


def test_each_batch_is_one_members_with_its_label_kinds(mixture: Path, tmp_path: Path) -> None:
    data = load_training_data(str(mixture))
    assert data.names == list(THINGS)
    assert data.stuff_names == list(STUFF)
    assert len(data.members) == 2
    assert data.captions_val is not None
    assert data.panoptic_val is not None
    assert len(data.all_captions) == 5 * 4  # the caption member's: five per image
    cfg = _cfg(mixture, tmp_path / "run")
    parts = build_training(cfg, data, device=torch.device("cpu"), dist=DistInfo(), run_dir=tmp_path)
    loader = parts.loader(0)
    kinds = []
    for batch in loader:
        kinds.append(batch.labels)
        if batch.labels == PANOPTIC:
            assert batch.semantic is not None
            assert batch.masks is not None
            assert batch.captions is None
        else:
            assert batch.labels == CAPTIONS
            assert batch.captions is not None
            assert batch.semantic is None
    assert sorted(kinds, key=len) == [CAPTIONS, PANOPTIC]  # batch 4: one of each member


def test_the_all_task_network_learns_every_term_from_the_mixture(
    mixture: Path, tmp_path: Path
) -> None:
    run = train(_cfg(mixture, tmp_path / "run", epochs=1))
    assert run.fitness == "all-tasks"
    record = run.history[-1]
    for term in ("box", "seg", "cls", "dfl", "focal", "dice", "caption"):
        assert record[f"train/main/{term}"] > 0, term
    for figure in ("PQ", "mIoU", "AP", "mask/AP", "BLEU-4", "CIDEr-D"):
        assert figure in record, figure
    assert (tmp_path / "run" / "label_issues_1.txt").is_file()


def test_a_member_the_model_cannot_learn_from_is_refused(mixture: Path, tmp_path: Path) -> None:
    pan_model = functools.partial(_cfg, mixture, tmp_path / "run", epochs=1)
    with pytest.raises(DataError, match=r"cap/captions.yaml: its labels \(captions\) are none"):
        train(pan_model(**{"model.name": "yolov9-t-pan"}))
    with pytest.raises(ConfigError, match="a mixture of datasets trains in one step"):
        train(pan_model(**{"optim.language_step": "on"}))
