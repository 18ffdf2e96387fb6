"""DDP: two processes with the gloo backend on CPU, launched by torchrun."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from yolov9.checkpoints import load_weights

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


def test_two_process_training_with_torchrun_survives_one_rank_diverging(tmp_path: Path) -> None:
    from yolov9.data.synthetic import write_dataset

    data = write_dataset(tmp_path / "data", splits={"train": 8, "val": 4}, size=(96, 96))["yolo"]
    script = tmp_path / "launch.py"
    script.write_text(LAUNCH)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "YOLOV9_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(script),
        "train",
        "--model",
        "yolov9-t",
        "--data",
        str(data),
        "--epochs",
        "2",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--out",
        str(tmp_path / "run"),
        "--set",
        "optim.nominal_batch=4",
        "--set",
        "optim.warmup_epochs=0",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "2 process(es)" in log
    assert log.count("non-finite loss: batch skipped") == 4  # both ranks skip both batches
    assert log.count("epoch 2/2:") >= 1
    loaded = load_weights(tmp_path / "run" / "weights" / "last.pt")
    assert loaded.model.name == "yolov9-t"
    assert loaded.meta["epoch"] == 1
    assert not (tmp_path / "run-2").exists()  # only rank 0 created a run folder


@pytest.mark.slow
def test_two_process_segmentation_training(tmp_path: Path) -> None:
    """Masks travel with their images to each rank; the ranks' mask losses all-reduce."""
    import yaml

    from tests.data.seg_scenes import write_seg_dataset

    desc = yaml.safe_load(write_seg_dataset(tmp_path / "data", images=8)["yolo"].read_text())
    data = tmp_path / "data" / "train.yaml"
    data.write_text(yaml.safe_dump({**desc, "train": desc["val"]}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "YOLOV9_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "yolov9", "train", "--model", "yolov9-t-seg", "--data", str(data)]
    cmd += ["--epochs", "1", "--imgsz", "64", "--batch", "4", "--workers", "0", "--device", "cpu"]
    cmd += ["--out", str(tmp_path / "run"), "--set", "optim.nominal_batch=4"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert "2 process(es)" in log
    assert "mask AP" in log
    assert load_weights(tmp_path / "run" / "weights" / "last.pt").model.task == "segment"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
