"""torch.distributed set-up for ``torchrun`` (DDP): one process per device."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str) -> tuple[DistInfo, torch.device | None]:
    """Join the process group when launched by ``torchrun`` (RANK/WORLD_SIZE set).

    Returns the rank info and, for CUDA, this process's device. NCCL on CUDA, gloo on CPU.
    """
    if "RANK" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo(), None
    info = DistInfo(
        int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"])
    )
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if use_cuda:
        torch.cuda.set_device(info.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return info, torch.device("cuda", info.local_rank) if use_cuda else torch.device("cpu")


def barrier(info: DistInfo) -> None:
    """Wait for every rank (e.g. until rank 0 has written the files the others read)."""
    if info.enabled:
        dist.barrier()


def broadcast_object(obj: T, info: DistInfo) -> T:
    """Rank 0's ``obj`` (any picklable value) on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def all_ranks(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Whether ``flag`` holds on every rank (one all-reduce). Every rank gets the same answer,
    so decisions that change the collective calls that follow (skip a backward, leave mixed
    precision) stay in step and cannot hang the job."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return bool(t.item())


def broadcast_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """Rank 0's decision (e.g. early stopping) for every rank."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, 0)
    return bool(t.item())


def cleanup(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
