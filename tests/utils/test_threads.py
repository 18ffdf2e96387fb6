"""The thread governor: fewer threads while other processes take cores, back after."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from yolov9.utils import threads
from yolov9.utils.threads import ThreadGovernor, threads_for


@pytest.fixture(autouse=True)
def _adapting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YOLOV9_ADAPT_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(threads, "_fixed", None)


@pytest.mark.parametrize(
    ("others", "cpus", "most", "expected"),
    [
        (0.0, 2, 2, 2),  # quiet
        (0.2, 2, 2, 2),  # a light neighbour: keep both
        (0.4, 2, 2, 1),  # a core taken a good part of the time
        (0.7, 2, 2, 1),
        (1.0, 2, 2, 1),
        (3.0, 2, 2, 1),  # never below one
        (-0.2, 2, 2, 2),  # measurement noise
        (40.0, 64, 8, 8),  # a big shared host with plenty left
        (6.2, 8, 8, 2),
    ],
)
def test_threads_for(others: float, cpus: int, most: int, expected: int) -> None:
    assert threads_for(others, cpus, most) == expected


@pytest.mark.parametrize(
    ("others", "current", "expected"),
    [
        (0.5, 1, 1),  # sharing a core with the neighbour reads as half a core: stay
        (0.3, 1, 1),
        (0.1, 1, 2),  # the neighbour is gone
        (0.25, 2, 2),  # going down needs more than 30 % of a core taken
        (0.35, 2, 1),
    ],
)
def test_going_back_up_needs_a_clearly_free_core(
    others: float, current: int, expected: int
) -> None:
    assert threads_for(others, 2, 2, current) == expected


class FakeMachine:
    """A /proc/stat of two CPUs, a clock and this process's CPU time, all moved by hand."""

    def __init__(self, path: Path) -> None:
        self.path, self.now, self.busy, self.own = path, 100.0, 0.0, 0.0
        self.write()

    def write(self) -> None:
        ticks = int(self.busy * os.sysconf("SC_CLK_TCK") / 2)
        line = f"{ticks} 0 0 1000 0 0 0 0 0 0"
        self.path.write_text(f"cpu  0 0 0 0\ncpu0 {line}\ncpu1 {line}\nintr 0\n")

    def run(self, seconds: float, ours: float, others: float) -> None:
        """``seconds`` pass; this process uses ``ours`` CPUs and the others ``others``."""
        self.now += seconds
        self.own += ours * seconds
        self.busy += (ours + others) * seconds
        self.write()


def test_governor_follows_the_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    machine = FakeMachine(tmp_path / "stat")
    monkeypatch.setattr(threads.time, "monotonic", lambda: machine.now)
    monkeypatch.setattr(threads, "_own_seconds", lambda: machine.own)
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    calls: list[int] = []
    gov = ThreadGovernor(
        most=2, interval_s=0.5, set_threads=calls.append, stat_path=str(machine.path)
    )
    machine.run(1.0, ours=2.0, others=0.0)
    assert gov.poll() == 2
    machine.run(0.2, ours=1.0, others=1.0)
    assert gov.poll() == 2  # not yet: polled at most every interval_s
    machine.run(0.8, ours=1.0, others=1.0)
    assert gov.poll() == 1
    machine.run(1.0, ours=1.0, others=1.0)
    assert gov.poll() == 1
    machine.run(1.0, ours=1.0, others=0.0)  # the neighbour is gone
    assert gov.poll() == 2
    assert calls == [1, 2]


def test_governor_stays_off_when_the_count_is_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not ThreadGovernor(threads=2).enabled
    monkeypatch.setenv("YOLOV9_ADAPT_THREADS", "0")
    assert not ThreadGovernor().enabled
    monkeypatch.delenv("YOLOV9_ADAPT_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert not ThreadGovernor().enabled


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs Linux's /proc/stat")
def test_governor_gives_way_to_a_real_busy_process() -> None:
    """A process spinning on one of our CPUs: the governor uses one thread fewer (or fewer
    still if the machine is busier than that)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        pytest.skip("needs at least 2 CPUs")
    calls: list[int] = []
    gov = ThreadGovernor(most=len(cpus), interval_s=0.5, set_threads=calls.append)
    code = f"import os; os.sched_setaffinity(0, {{{cpus[0]}}})\nwhile True: pass"
    neighbour = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.1)
        gov.poll()  # start the interval with the neighbour running
        gov._last = gov._sample()
        time.sleep(1.0)
        assert gov.poll() <= len(cpus) - 1
    finally:
        neighbour.kill()
        neighbour.wait()
