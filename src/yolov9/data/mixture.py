"""Mixtures of datasets that each carry some kinds of labels, trained together.

A mixture is a YAML that names datasets (each a data YAML, COCO JSON or folder as ``--data``
takes them) whose train splits are drawn together, and the dataset whose val split scores the
run::

    mixture:                   # paths relative to this file
      - coco-panoptic.yaml     # boxes, instance masks and stuff
      - coco-captions.yaml     # captions only
      - extra-boxes.yaml       # boxes only
    val: coco-all.yaml         # optional; default: the first member

Every batch holds images of one member only, so it carries one set of label kinds
(:data:`~yolov9.loss.interface.LABELS`) and the criterion computes the terms those labels
allow (``TrainBatch.labels``); members are drawn in proportion to their sizes, the order
shuffled by (seed, epoch).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
import yaml
from torch.utils.data import Dataset

from yolov9.data.train_dataset import TrainBatch, TrainSample
from yolov9.errors import ConfigError, DataError

KEYS = {"mixture", "val"}


@dataclass(frozen=True)
class Mixture:
    """A mixture YAML read: its members' paths (train splits) and the val dataset's."""

    source: Path
    members: list[Path]
    val: Path


def read_mixture(data: str | Path) -> Mixture | None:
    """The mixture ``data`` describes, or None when it is not a mixture YAML.

    Raises:
        ConfigError: a malformed mixture (unknown keys, no member, a member not a path).
        DataError: a member or the val dataset that does not exist.
    """
    path = Path(data).expanduser()
    desc = _mixture_description(path)
    if desc is None:
        return None
    unknown = sorted(set(desc) - KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {unknown} in a mixture; allowed: {sorted(KEYS)}")
    raw = desc["mixture"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: 'mixture' must be a non-empty list of dataset paths")
    members = [_member(path, f"mixture[{i}]", value) for i, value in enumerate(raw)]
    val = _member(path, "val", desc["val"]) if desc.get("val") else members[0]
    return Mixture(path, members, val)


def _member(source: Path, key: str, value: Any) -> Path:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: {key} must be the path of a dataset, got {value!r}")
    member = Path(value).expanduser()
    member = member if member.is_absolute() else source.parent / member
    if not member.exists():
        raise DataError(f"{source}: {key}: {member} does not exist")
    if member.resolve() == source.resolve() or _mixture_description(member) is not None:
        raise ConfigError(f"{source}: {key}: {member} is a mixture itself; list its members")
    return member


def _mixture_description(path: Path) -> dict[str, Any] | None:
    """The YAML at ``path`` when it describes a mixture (read shallowly: no member is
    followed), else None (a bad YAML too: the dataset reader names its problem)."""
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return None
    try:
        desc = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        return None
    return desc if isinstance(desc, dict) and "mixture" in desc else None


class PartSet(Protocol):
    """What a member's training samples offer (a ``TrainDataset``, ``CaptionTrainDataset``
    or ``CaptionedDataset``)."""

    def __len__(self) -> int: ...
    def __getitem__(self, index: int) -> TrainSample: ...
    def set_epoch(self, epoch: int, *, mosaic: bool = True) -> None: ...


@dataclass(frozen=True)
class Part:
    """One member's samples, how they batch, and the label kinds its batches carry."""

    samples: PartSet
    collate: Callable[[list[TrainSample]], TrainBatch]
    labels: frozenset[str]
    name: str


class MixtureDataset(Dataset[tuple[int, TrainSample]]):
    """The members' samples end to end; an index gives (member, sample). Batch them with
    :meth:`batches` (one member per batch) and :meth:`collate`."""

    def __init__(self, parts: Sequence[Part]) -> None:
        if not parts:
            raise DataError("a mixture needs at least one dataset")
        self.parts = list(parts)
        self.starts = [0]
        for part in self.parts:
            if not len(part.samples):
                raise DataError(f"{part.name}: no training image")
            self.starts.append(self.starts[-1] + len(part.samples))

    def __len__(self) -> int:
        return self.starts[-1]

    def __getitem__(self, index: int) -> tuple[int, TrainSample]:
        part = bisect.bisect_right(self.starts, index) - 1
        return part, self.parts[part].samples[index - self.starts[part]]

    def set_epoch(self, epoch: int, *, mosaic: bool = True) -> None:
        for part in self.parts:
            part.samples.set_epoch(epoch, mosaic=mosaic)

    def collate(self, items: list[tuple[int, TrainSample]]) -> TrainBatch:
        """One member's samples as its batch, labelled with the member's label kinds."""
        members = {p for p, _ in items}
        if len(members) != 1:
            raise ValueError(f"a mixture's batch mixes members {sorted(members)}")
        part = self.parts[members.pop()]
        batch = part.collate([s for _, s in items])
        batch.labels = part.labels
        return batch

    def batches(
        self, batch: int, *, seed: int, epoch: int, rank: int = 0, world_size: int = 1
    ) -> list[list[int]]:
        """The epoch's batches of indices: each member shuffled by (seed, epoch, member) and
        cut into batches of ``batch`` (its last one smaller), the batches of all members
        shuffled together by (seed, epoch); with several processes, every process takes every
        ``world_size``-th batch, all of them the same number."""
        out: list[list[int]] = []
        for i, part in enumerate(self.parts):
            g = torch.Generator().manual_seed(seed * 1000003 + epoch * 101 + i)
            order = (torch.randperm(len(part.samples), generator=g) + self.starts[i]).tolist()
            out += [order[j : j + batch] for j in range(0, len(order), batch)]
        g = torch.Generator().manual_seed(seed * 1000003 + epoch)
        out = [out[j] for j in torch.randperm(len(out), generator=g).tolist()]
        if world_size > 1:
            per_rank = len(out) // world_size
            if per_rank == 0:
                raise DataError(
                    f"{len(out)} batches of {batch} for {world_size} processes: use a smaller "
                    "batch or more images"
                )
            out = out[rank::world_size][:per_rank]
        return out
