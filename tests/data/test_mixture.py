"""Mixture YAMLs read with their members and val dataset (bad ones refused by key), and the
mixture's batches: each of one member, every sample once per epoch, shuffled by (seed, epoch),
sharded evenly over processes, labelled with the member's label kinds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from yolov9.data.dataset import read_description
from yolov9.data.mixture import MixtureDataset, Part, read_mixture
from yolov9.data.train_dataset import TrainBatch, TrainSample
from yolov9.errors import ConfigError, DataError


def _yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_a_mixture_names_its_members_and_val_dataset(tmp_path: Path) -> None:
    a = _yaml(tmp_path / "a.yaml", "train: images\nnames: [x]\n")
    (tmp_path / "sub").mkdir()
    b = _yaml(tmp_path / "sub" / "b.yaml", "train: images\nnames: [x]\n")
    mix = _yaml(tmp_path / "mix.yaml", "mixture: [a.yaml, sub/b.yaml]\n")
    found = read_mixture(mix)
    assert found is not None
    assert found.members == [a, b]
    assert found.val == a  # the first member by default
    mix.write_text(f"mixture: [a.yaml, {b}]\nval: sub/b.yaml\n")
    found = read_mixture(mix)
    assert found is not None
    assert found.val == b
    assert read_mixture(a) is None  # a dataset, not a mixture
    assert read_mixture(tmp_path) is None


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("mixture: []\n", ConfigError, "non-empty list"),
        ("mixture: [a.yaml]\nnames: [x]\n", ConfigError, r"unknown key\(s\) \['names'\]"),
        ("mixture: [a.yaml, 3]\n", ConfigError, r"mixture\[1\] must be the path of a dataset"),
        ("mixture: [a.yaml, missing.yaml]\n", DataError, r"mixture\[1\]: .*missing.yaml does not"),
        ("mixture: [a.yaml]\nval: gone.yaml\n", DataError, r"val: .*gone.yaml does not exist"),
        ("mixture: [a.yaml, inner.yaml]\n", ConfigError, r"mixture\[1\]: .* is a mixture itself"),
        ("mixture: [a.yaml, mix.yaml]\n", ConfigError, r"mixture\[1\]: .* is a mixture itself"),
    ],
)
def test_bad_mixtures_are_refused_by_key(
    tmp_path: Path, text: str, error: type[Exception], message: str
) -> None:
    _yaml(tmp_path / "a.yaml", "train: images\nnames: [x]\n")
    _yaml(tmp_path / "inner.yaml", "mixture: [a.yaml]\n")
    mix = _yaml(tmp_path / "mix.yaml", text)
    with pytest.raises(error, match=message):
        read_mixture(mix)


def test_a_mixture_is_not_a_dataset_to_validate_on(tmp_path: Path) -> None:
    _yaml(tmp_path / "a.yaml", "train: images\nnames: [x]\n")
    mix = _yaml(tmp_path / "mix.yaml", "mixture: [a.yaml]\n")
    with pytest.raises(DataError, match="mixture of datasets, which only training reads"):
        read_description(mix)


class _Samples:
    """``n`` samples whose targets hold (member, index); epochs recorded."""

    def __init__(self, member: int, n: int) -> None:
        self.member, self.n = member, n
        self.epochs: list[int] = []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> TrainSample:
        image = torch.zeros(3, 8, 8, dtype=torch.uint8)
        targets = torch.tensor([[float(self.member), float(index), 0, 0, 1, 1]])
        return TrainSample(image, targets[:, :5], index, [])

    def set_epoch(self, epoch: int, *, mosaic: bool = True) -> None:
        self.epochs.append(epoch)


def _collate(samples: list[TrainSample]) -> TrainBatch:
    return TrainBatch(torch.stack([s.image for s in samples]), torch.empty(0, 6), [])


def _mixture(*sizes: int) -> MixtureDataset:
    kinds = [frozenset({"boxes", "semantic"}), frozenset({"captions"}), frozenset({"boxes"})]
    return MixtureDataset(
        [Part(_Samples(i, n), _collate, kinds[i], f"m{i}") for i, n in enumerate(sizes)]
    )


def test_every_batch_holds_one_member_and_every_sample_comes_once() -> None:
    mix = _mixture(10, 7, 3)
    batches = mix.batches(4, seed=0, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(20))
    members = [{mix[i][0] for i in b} for b in batches]
    assert all(len(m) == 1 for m in members)
    assert len(batches) == 3 + 2 + 1  # each member's last batch is smaller
    order = [next(iter(m)) for m in members]
    assert order != sorted(order)  # the members' batches interleaved
    assert mix.batches(4, seed=0, epoch=0) == batches  # reproducible
    assert mix.batches(4, seed=0, epoch=1) != batches
    assert mix.batches(4, seed=1, epoch=0) != batches


def test_processes_get_disjoint_shards_of_equal_length() -> None:
    mix = _mixture(10, 7, 3)
    shards = [mix.batches(4, seed=0, epoch=2, rank=r, world_size=4) for r in range(4)]
    assert {len(s) for s in shards} == {1}  # 6 batches: each of 4 processes takes 1
    flat = [i for s in shards for b in s for i in b]
    assert len(flat) == len(set(flat))
    with pytest.raises(DataError, match="6 batches of 4 for 8 processes"):
        mix.batches(4, seed=0, epoch=2, rank=0, world_size=8)


def test_a_batch_carries_its_members_label_kinds() -> None:
    mix = _mixture(4, 4)
    mix.set_epoch(3)
    assert all(p.samples.epochs == [3] for p in mix.parts)  # type: ignore[attr-defined]
    batch = mix.collate([mix[5], mix[6]])
    assert batch.labels == frozenset({"captions"})
    assert batch.images.shape[0] == 2
    with pytest.raises(ValueError, match="mixes members"):
        mix.collate([mix[0], mix[5]])
    with pytest.raises(DataError, match="m1: no training image"):
        _mixture(3, 0)
