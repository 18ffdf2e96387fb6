"""Elastic fault tolerance: ``torchrun --max-restarts N`` restarts a job whose worker died, and
the restarted job continues its run from ``last.pt`` on its own."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest

from tests.engine.test_distributed import TORCHRUN, run_job, tiny_data, train_args, worker_env
from yolov9.checkpoints import load_weights, read_torch_file
from yolov9.engine import elastic

__all__ = ["tiny_data"]  # the fixture, shared with test_distributed

# on the first attempt only, rank KILL_RANK is killed (SIGKILL: no exception, no clean-up) in
# batch KILL_BATCH of epoch KILL_EPOCH (counted from 1), after writing the file KILL_MARK
LAUNCH = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    from yolov9.cli import main
    from yolov9.engine import trainer

    train_epoch, forward_backward = trainer.Trainer._train_epoch, trainer.Trainer._forward_backward
    now = {"epoch": -1, "batch": 0}

    def counting_epochs(self, epoch):
        now["epoch"], now["batch"] = epoch, 0
        return train_epoch(self, epoch)

    def dying(self, batch):
        now["batch"] += 1
        if (
            os.environ["TORCHELASTIC_RESTART_COUNT"] == "0"
            and os.environ["RANK"] == os.environ["KILL_RANK"]
            and now["epoch"] + 1 == int(os.environ["KILL_EPOCH"])
            and now["batch"] == int(os.environ["KILL_BATCH"])
        ):
            Path(os.environ["KILL_MARK"]).write_text(f"epoch {now['epoch'] + 1}")
            os.kill(os.getpid(), signal.SIGKILL)
        return forward_backward(self, batch)

    trainer.Trainer._train_epoch = counting_epochs
    trainer.Trainer._forward_backward = dying
    sys.exit(main(sys.argv[1:]))
""")


def _elastic_job(
    data: Path, tmp: Path, *, epochs: int, kill_epoch: int, kill_rank: int = 0
) -> tuple[int, str]:
    script = tmp / "launch.py"
    script.write_text(LAUNCH)
    cmd = [*TORCHRUN, "--standalone", "--nproc-per-node", "2", "--max-restarts", "2"]
    cmd += [str(script), *train_args(data, tmp / "run", epochs=epochs)]
    env = worker_env(
        tmp,
        KILL_RANK=str(kill_rank),
        KILL_EPOCH=str(kill_epoch),
        KILL_BATCH="2",
        KILL_MARK=str(tmp / "killed"),
    )
    code, log, _ = run_job(cmd, env, tmp / "log.txt", timeout=400)
    return code, log


def _complete(run: Path, epochs: int, log: str) -> None:
    """A whole run in ``run``, as if nothing had happened, and nothing left behind."""
    last = read_torch_file(run / "weights" / "last.pt")
    assert int(last["train"]["epoch"]) == epochs - 1, log[-3000:]
    assert [int(r["epoch"]) for r in last["train"]["history"]] == list(range(epochs))
    assert load_weights(run / "weights" / "best.pt").model.name == "yolov9-t"
    assert (run / "weights" / "best-converted.pt").is_file()
    rows = list(csv.DictReader((run / "results.csv").read_text().splitlines()))
    assert [int(float(r["epoch"])) for r in rows] == list(range(epochs))
    assert log.count(f"epoch {epochs}/{epochs}:") == 1
    assert not run.with_name(run.name + "-2").exists()  # the restart kept the run folder
    assert not list(run.parent.glob(".*.elastic-*"))  # the record is gone with the job


@pytest.mark.slow
def test_a_killed_worker_restarts_the_job_from_the_last_epoch(
    tiny_data: Path, tmp_path: Path
) -> None:
    """Rank 0 is SIGKILLed in the middle of epoch 2 of 3: torchrun restarts both workers, and
    the job resumes from epoch 1's ``last.pt`` (no --resume given) and completes the run."""
    code, log = _elastic_job(tiny_data, tmp_path, epochs=3, kill_epoch=2)
    assert code == 0, log[-4000:]
    assert (tmp_path / "killed").read_text() == "epoch 2"
    assert "restarted by torchrun (--max-restarts 2): resumed" in log, log[-4000:]
    assert "from weights/last.pt after epoch 1 of 3" in log
    assert log.count("epoch 1/3:") == 1  # epoch 1 was not trained again
    _complete(tmp_path / "run", 3, log)


@pytest.mark.slow
def test_a_worker_killed_before_any_saved_epoch_starts_afresh_in_its_folder(
    tiny_data: Path, tmp_path: Path
) -> None:
    """Rank 1 dies in epoch 1: nothing to resume, the restart trains from scratch, in the run
    folder the first attempt chose (``run`` exists already, so that was ``run-2``)."""
    (tmp_path / "run").mkdir()
    code, log = _elastic_job(tiny_data, tmp_path, epochs=2, kill_epoch=1, kill_rank=1)
    assert code == 0, log[-4000:]
    assert (tmp_path / "killed").read_text() == "epoch 1"
    assert "restarted by torchrun (--max-restarts 2): the previous attempt saved no epoch: " in log
    _complete(tmp_path / "run-2", 2, log)
    assert not (tmp_path / "run-3").exists()


def test_the_record_names_the_job_and_survives_a_bad_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(elastic.ENV_RUN_ID, "job/7")
    out = tmp_path / "runs" / "exp"
    assert elastic.record_path(out) == tmp_path / "runs" / ".exp.elastic-job_7.json"
    assert elastic.read_record(out) is None
    elastic.write_record(out, elastic.RunRecord(tmp_path / "runs" / "exp-3", 4))
    record = elastic.read_record(out)
    assert record == elastic.RunRecord(tmp_path / "runs" / "exp-3", 4)
    assert record.last == tmp_path / "runs" / "exp-3" / "weights" / "last.pt"
    monkeypatch.setenv(elastic.ENV_RUN_ID, "another-job")
    assert elastic.read_record(out) is None  # another job's record is not ours
    monkeypatch.setenv(elastic.ENV_RUN_ID, "job/7")
    elastic.record_path(out).write_text("{not json")
    assert elastic.read_record(out) is None
    elastic.remove_record(out)
    elastic.remove_record(out)  # gone already: fine
    assert not elastic.record_path(out).exists()


def test_restart_counters_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (elastic.ENV_RESTART_COUNT, elastic.ENV_MAX_RESTARTS):
        monkeypatch.delenv(name, raising=False)
    assert (elastic.restart_count(), elastic.max_restarts(), elastic.enabled()) == (0, 0, False)
    monkeypatch.setenv(elastic.ENV_MAX_RESTARTS, "3")
    monkeypatch.setenv(elastic.ENV_RESTART_COUNT, "0")
    assert (elastic.restart_count(), elastic.max_restarts(), elastic.enabled()) == (0, 3, True)
    monkeypatch.setenv(elastic.ENV_RESTART_COUNT, "2")
    assert elastic.restart_count() == 2
