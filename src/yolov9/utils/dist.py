"""torch.distributed set-up for ``torchrun`` (DDP): one process per device.

Every collective waits at most ``$YOLOV9_DIST_TIMEOUT`` seconds (default 600) for the other
processes, so a rank whose peer died or hung fails with an error instead of waiting for
PyTorch's gloo default of 30 minutes.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from yolov9.errors import ConfigError

T = TypeVar("T")

ENV_TIMEOUT = "YOLOV9_DIST_TIMEOUT"
# The longest a healthy rank waits for another is one epoch boundary: rank 0 validates and
# writes the checkpoints while the others wait in a broadcast (and, at the start, rank 0
# prepares the run folder). Ten minutes covers validating COCO val2017 on one GPU several
# times over, and is NCCL's own watchdog default; a dead or hung peer is reported after ten
# minutes instead of gloo's thirty. Raise it for long validations on CPU.
DEFAULT_TIMEOUT_S = 600.0


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


def collective_timeout() -> timedelta:
    """How long a collective waits for the other ranks: ``$YOLOV9_DIST_TIMEOUT`` seconds, else
    :data:`DEFAULT_TIMEOUT_S`.

    Raises:
        ConfigError: the variable is not a positive number of seconds.
    """
    text = os.environ.get(ENV_TIMEOUT, "").strip()
    if not text:
        return timedelta(seconds=DEFAULT_TIMEOUT_S)
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{ENV_TIMEOUT}={text!r}: give the collective timeout in seconds (> 0)")
    return timedelta(seconds=seconds)


def init_distributed(device: str) -> tuple[DistInfo, torch.device | None]:
    """Join the process group when launched by ``torchrun`` (RANK/WORLD_SIZE set).

    Returns the rank info and, for CUDA, this process's device. NCCL on CUDA, gloo on CPU;
    collectives time out after :func:`collective_timeout`.
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
        timeout = collective_timeout()
        store = _round_store(info, timeout)
        backend = "nccl" if use_cuda else "gloo"
        if store is None:
            dist.init_process_group(backend, timeout=timeout)
        else:
            dist.init_process_group(
                backend, store=store, rank=info.rank, world_size=info.world_size, timeout=timeout
            )
    return info, torch.device("cuda", info.local_rank) if use_cuda else torch.device("cpu")


def _round_store(info: DistInfo, timeout: timedelta) -> dist.Store | None:
    """torchrun's worker store, its keys prefixed by a token fresh for this round of an
    elastic job; None (the default ``env://`` set-up) without ``--max-restarts``.

    torchrun (since 2.4) hands the workers of every round the same store, with no per-round
    prefix: after a restart a rank can read a peer's address from the previous round (gloo:
    "Connection refused" in connectFullMesh, NCCL likewise, pytorch issue 167288) and every
    restart fails. ``TORCHELASTIC_RESTART_COUNT`` cannot tell the rounds apart (it counts the
    failures of one node), so rank 0 draws a token and hands it to each rank in answer to
    the rank's own fresh nonce: a key left by an earlier round is never taken for this one.
    """
    if (
        int(os.environ.get("TORCHELASTIC_MAX_RESTARTS") or 0) == 0
        or os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    ):
        return None
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timeout
    )
    if info.rank == 0:
        token = uuid.uuid4().hex
        deadline = time.monotonic() + timeout.total_seconds()
        waiting, answered = set(range(1, info.world_size)), set()
        while waiting:  # answer every nonce seen (stale ones too) until each rank has the token
            for rank in sorted(waiting):
                if store.check([f"yolov9/got/{token}/{rank}"]):
                    waiting.discard(rank)
                elif store.check([f"yolov9/nonce/{rank}"]):
                    nonce = store.get(f"yolov9/nonce/{rank}").decode()
                    if nonce not in answered:
                        store.set(f"yolov9/token/{nonce}", token)
                        answered.add(nonce)
            if waiting and time.monotonic() > deadline:
                raise dist.DistError(
                    f"ranks {sorted(waiting)} did not join within {timeout.total_seconds():.0f} s"
                )
            time.sleep(0.02 if waiting else 0)
    else:
        nonce = uuid.uuid4().hex
        store.set(f"yolov9/nonce/{info.rank}", nonce)
        token = store.get(f"yolov9/token/{nonce}").decode()  # waits for rank 0's answer
        store.set(f"yolov9/got/{token}/{info.rank}", "1")
    return dist.PrefixStore(f"yolov9/round-{token}", store)


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
    """Leave the process group after a run that ended normally (every rank gets here).

    Not after an error: the other ranks may be inside a collective, or gone, and tearing the
    group down can wait for them (NCCL's ``destroy_process_group``, gloo's worker threads);
    a failing process just exits, and its peers' collectives fail on the closed connections
    or, at the latest, after :func:`collective_timeout`.
    """
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()
