"""DDP: two processes with the gloo backend on CPU, launched by torchrun: on one node and on
two (two torchrun agents on this machine), and a rank that fails or hangs ends the job."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

from yolov9.checkpoints import load_weights, read_torch_file

TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]
TAG = "TEST_JOB_TAG"


def train_args(data: Path, out: Path, epochs: int = 2) -> list[str]:
    """``yolov9 train`` on the tiny dataset: 4 images per rank and epoch, 2 batches of 2."""
    return [
        "train",
        "--model",
        "yolov9-t",
        "--data",
        str(data),
        "--epochs",
        str(epochs),
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--out",
        str(out),
        "--set",
        "optim.nominal_batch=4",
        "--set",
        "optim.warmup_epochs=0",
    ]


def worker_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a torchrun job; ``TEST_JOB_TAG`` marks its processes (see
    :func:`wait_jobs`)."""
    return {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "YOLOV9_CACHE_DIR": str(tmp_path / "cache"),
        TAG: uuid.uuid4().hex,
        **extra,
    }


def _tagged(tag: str) -> list[int]:
    """The processes whose environment holds ``TEST_JOB_TAG=tag``: a job's torchrun agents and
    their workers (which torchrun starts in sessions of their own)."""
    mark = f"{TAG}={tag}".encode()
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if mark in (entry / "environ").read_bytes().split(b"\0"):
                pids.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return pids


def start_job(cmd: Sequence[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``cmd`` (stdout and stderr into ``log``)."""
    with open(log, "wb") as f:
        return subprocess.Popen(
            list(cmd), env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )


def wait_jobs(
    procs: Sequence[subprocess.Popen[bytes]], env: dict[str, str], timeout: float
) -> list[int]:
    """Exit codes of ``procs``, the torchrun processes of one job. Nothing outlives the test:
    on a timeout torchrun is asked to stop its workers, then whatever of the job remains is
    killed, and the test fails."""
    deadline = time.monotonic() + timeout
    try:
        return [p.wait(timeout=max(deadline - time.monotonic(), 0.1)) for p in procs]
    except subprocess.TimeoutExpired:
        for p in procs:
            p.terminate()  # torchrun stops its workers (SIGTERM, then SIGKILL)
        for p in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=40)
        pytest.fail(f"torchrun still running after {timeout:.0f} s (stopped)")
    finally:
        for pid in _tagged(env[TAG]):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def run_job(
    cmd: Sequence[str], env: dict[str, str], log: Path, timeout: float
) -> tuple[int, str, float]:
    """(exit code, output, seconds) of one torchrun job."""
    start = time.monotonic()
    (code,) = wait_jobs([start_job(cmd, env, log)], env, timeout)
    return code, log.read_text(errors="replace"), time.monotonic() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from yolov9.data.synthetic import write_dataset

    root = tmp_path_factory.mktemp("ddp-data")
    return write_dataset(root, splits={"train": 8, "val": 4}, size=(96, 96))["yolo"]


# rank 1 alone gets a non-finite loss for its first two batches: before the decision was
# collective, rank 1 skipped its backward while rank 0 all-reduced gradients, and the job hung
LAUNCH = textwrap.dedent("""
    import os, sys
    from yolov9.cli import main
    from yolov9.engine import trainer

    real = trainer.Trainer._forward_backward
    calls = {"n": 0}

    def poisoned(self, batch):
        calls["n"] += 1
        if os.environ["RANK"] == "1" and calls["n"] <= 2:
            criterion = self.p.criterion
            self.p.criterion = lambda out, t: (lambda r: r._replace(total=r.total * float("nan")))(
                criterion(out, t)
            )
            try:
                return real(self, batch)
            finally:
                self.p.criterion = criterion
        return real(self, batch)

    trainer.Trainer._forward_backward = poisoned
    sys.exit(main(sys.argv[1:]))
""")


def test_two_process_training_with_torchrun_survives_one_rank_diverging(
    tiny_data: Path, tmp_path: Path
) -> None:
    script = tmp_path / "launch.py"
    script.write_text(LAUNCH)
    cmd = [*TORCHRUN, "--standalone", "--nproc_per_node", "2", str(script)]
    cmd += train_args(tiny_data, tmp_path / "run")
    code, log, _ = run_job(cmd, worker_env(tmp_path), tmp_path / "log.txt", timeout=300)
    assert code == 0, log[-3000:]
    assert "2 process(es)" in log
    assert log.count("non-finite loss: batch skipped") == 4  # both ranks skip both batches
    assert log.count("epoch 2/2:") >= 1
    loaded = load_weights(tmp_path / "run" / "weights" / "last.pt")
    assert loaded.model.name == "yolov9-t"
    assert loaded.meta["epoch"] == 1
    assert not (tmp_path / "run-2").exists()  # only rank 0 created a run folder


def _two_process_epoch(tmp_path: Path, model: str, data: Path) -> str:
    """One epoch of ``model`` on ``data`` by torchrun with two CPU processes (batch 4, 64 px,
    run folder ``tmp_path/run``); checks it ran in two processes and returns its log."""
    cmd = [*TORCHRUN, "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "yolov9", "train", "--model", model, "--data", str(data)]
    cmd += ["--epochs", "1", "--imgsz", "64", "--batch", "4", "--workers", "0", "--device", "cpu"]
    cmd += ["--out", str(tmp_path / "run"), "--set", "optim.nominal_batch=4"]
    code, log, _ = run_job(cmd, worker_env(tmp_path), tmp_path / "log.txt", timeout=600)
    assert code == 0, log[-3000:]
    assert "2 process(es)" in log
    return log


@pytest.mark.slow
def test_two_process_segmentation_training(tmp_path: Path) -> None:
    """Masks travel with their images to each rank; the ranks' mask losses all-reduce."""
    import yaml

    from tests.data.seg_scenes import write_seg_dataset

    desc = yaml.safe_load(write_seg_dataset(tmp_path / "data", images=8)["yolo"].read_text())
    data = tmp_path / "data" / "train.yaml"
    data.write_text(yaml.safe_dump({**desc, "train": desc["val"]}))
    log = _two_process_epoch(tmp_path, "yolov9-t-seg", data)
    assert "mask AP" in log
    assert load_weights(tmp_path / "run" / "weights" / "last.pt").model.task == "segment"


@pytest.mark.slow
def test_two_process_panoptic_training(tmp_path: Path) -> None:
    """Semantic targets and ignore maps travel with their images to each rank; the ranks'
    semantic losses all-reduce; rank 0 validates PQ."""
    from yolov9.data.synthetic_world import write_world

    data = write_world(tmp_path / "data", {"train": 8, "val": 2}, (64, 96))["coco-panoptic"]
    log = _two_process_epoch(tmp_path, "yolov9-t-pan", data)
    assert "val PQ" in log
    loaded = load_weights(tmp_path / "run" / "weights" / "last.pt")
    assert loaded.model.task == "panoptic"
    assert loaded.stuff_names == ["sky", "grass", "sand", "water", "wall"]


def _tensors(last: Path) -> dict[str, torch.Tensor]:
    """The EMA weights (what ``load_weights`` gives) and the raw training weights."""
    ema = load_weights(last).model.state_dict()
    raw = read_torch_file(last)["train"]["model"]
    return {**{f"ema.{k}": v for k, v in ema.items()}, **{f"raw.{k}": v for k, v in raw.items()}}


@pytest.mark.slow
def test_two_nodes_train_exactly_like_one_node_with_two_processes(
    tiny_data: Path, tmp_path: Path
) -> None:
    """``--nnodes 2 --nproc-per-node 1`` (c10d rendezvous on 127.0.0.1) gives bit-equal weights
    to ``--standalone --nproc-per-node 2``: what a rank computes depends on its rank number only
    (seeds, data shard), and two-way gloo all-reduces add the same two numbers on either side."""
    env = worker_env(tmp_path)
    single = [*TORCHRUN, "--standalone", "--nproc-per-node", "2", "-m", "yolov9"]
    single += train_args(tiny_data, tmp_path / "one-node")
    code, log, _ = run_job(single, env, tmp_path / "one-node.txt", timeout=300)
    assert code == 0, log[-3000:]

    endpoint = f"127.0.0.1:{free_port()}"
    nodes = [*TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d"]
    nodes += ["--rdzv-endpoint", endpoint, "--rdzv-id", "two-nodes-test", "-m", "yolov9"]
    nodes += train_args(tiny_data, tmp_path / "two-nodes")
    logs = [tmp_path / f"node{i}.txt" for i in range(2)]
    procs = [start_job(nodes, env, log) for log in logs]
    codes = wait_jobs(procs, env, timeout=300)
    text = "\n".join(log.read_text(errors="replace") for log in logs)
    assert codes == [0, 0], text[-4000:]
    assert "2 process(es)" in text
    assert not (tmp_path / "two-nodes-2").exists()  # one run folder, written by rank 0 only

    a = _tensors(tmp_path / "one-node" / "weights" / "last.pt")
    b = _tensors(tmp_path / "two-nodes" / "weights" / "last.pt")
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{len(differ)} of {len(a)} tensors differ, e.g. {differ[:3]}"


# rank 1 fails (RAISE) or stops answering (HANG) in its second batch of the first epoch
FAIL = textwrap.dedent("""
    import os, sys, time
    from yolov9.cli import main
    from yolov9.engine import trainer
    from yolov9.errors import DataError

    real = trainer.Trainer._forward_backward
    calls = {"n": 0}

    def failing(self, batch):
        calls["n"] += 1
        if os.environ["RANK"] == "1" and calls["n"] == 2:
            if os.environ["FAIL_MODE"] == "raise":
                raise DataError("bad-image.jpg: broken JPEG data (injected on rank 1)")
            time.sleep(3600)
        return real(self, batch)

    trainer.Trainer._forward_backward = failing
    sys.exit(main(sys.argv[1:]))
""")


def _failing_job(tiny_data: Path, tmp_path: Path, mode: str, **env: str) -> tuple[int, str, float]:
    script = tmp_path / "launch.py"
    script.write_text(FAIL)
    cmd = [*TORCHRUN, "--standalone", "--nproc-per-node", "2", str(script)]
    cmd += train_args(tiny_data, tmp_path / "run")
    return run_job(cmd, worker_env(tmp_path, FAIL_MODE=mode, **env), tmp_path / "log.txt", 120)


def test_an_exception_on_one_rank_ends_the_job(tiny_data: Path, tmp_path: Path) -> None:
    """Rank 1 fails in the middle of an epoch while rank 0 waits for it in a collective: the
    job ends with rank 1's error (nothing of ours keeps rank 1 from exiting) instead of
    hanging; torchrun then stops rank 0."""
    code, log, seconds = _failing_job(tiny_data, tmp_path, "raise")
    assert code != 0, log[-3000:]
    assert "error: bad-image.jpg: broken JPEG data (injected on rank 1)" in log
    assert "epoch 1/2:" not in log  # no epoch completed
    assert seconds < 120


@pytest.mark.slow  # ~35 s: waits for the collective timeout
def test_a_hung_rank_times_out_the_others(tiny_data: Path, tmp_path: Path) -> None:
    """Rank 1 stops answering: rank 0's collective fails after YOLOV9_DIST_TIMEOUT seconds
    (not gloo's 30 minutes), naming the variable, and the job ends."""
    code, log, seconds = _failing_job(tiny_data, tmp_path, "hang", YOLOV9_DIST_TIMEOUT="10")
    assert code != 0, log[-3000:]
    assert "rank 0: a collective failed" in log, log[-3000:]
    assert "YOLOV9_DIST_TIMEOUT=10 s" in log
    assert seconds < 120


def test_collective_timeout_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from yolov9.errors import ConfigError
    from yolov9.utils.dist import DEFAULT_TIMEOUT_S, ENV_TIMEOUT, collective_timeout

    monkeypatch.delenv(ENV_TIMEOUT, raising=False)
    assert collective_timeout().total_seconds() == DEFAULT_TIMEOUT_S == 600
    monkeypatch.setenv(ENV_TIMEOUT, "90.5")
    assert collective_timeout().total_seconds() == 90.5
    for bad in ("0", "-3", "soon", "nan", "inf"):
        monkeypatch.setenv(ENV_TIMEOUT, bad)
        with pytest.raises(ConfigError, match=ENV_TIMEOUT):
            collective_timeout()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
