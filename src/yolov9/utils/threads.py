"""CPU thread counts that hold up on a machine doing other work.

PyTorch's CPU kernels run on an OpenMP thread pool whose threads spin for a while at the end
of every parallel region before they sleep. On a quiet machine that saves a wake-up per
operator. With another busy process on the cores, the thread that shares a core with it is
descheduled for whole time slices while its partners spin waiting for it, and every operator
pays that: beside one busy process on 2 cores, ``yolov9 predict`` of gelan-t at 256 went from
28 to 73 ms per image, and the network alone at 640 fell off a cliff (docs/benchmarks.md,
"A busy machine"). Letting idle threads sleep (``OMP_WAIT_POLICY=PASSIVE``) avoids the cliff
but costs every operator a wake-up: 1.5x slower on a quiet machine.

So the thread count follows the machine instead (:class:`ThreadGovernor`): every half second,
between batches, it reads how much CPU time other processes took on the cores this process
may use (``/proc/stat`` less this process's own time) and uses as many threads as there are
cores left for it, at least one and at most what it started with. Quiet, nothing changes;
beside a busy process it runs on the cores that are free, and goes back when they are free
again. It is off when the user fixed the thread count (``--threads``, ``threads=``,
``OMP_NUM_THREADS``) or set ``YOLOV9_ADAPT_THREADS=0``, and off the machines without
``/proc/stat``.
"""

from __future__ import annotations

import logging
import math
import os
import resource
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

ENV_ADAPT = "YOLOV9_ADAPT_THREADS"
STAT = "/proc/stat"
# busy time in /proc/stat's cpu lines: user nice system idle iowait irq softirq steal
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)


_fixed: int | None = None  # the count given to set_torch_threads, if any


def set_torch_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when given (``--threads``), which also keeps the
    governor off in this process; torch's default (one per physical core) otherwise."""
    global _fixed
    if threads:
        import torch

        torch.set_num_threads(threads)
        _fixed = threads


def adapting_allowed(threads: int | None = None) -> bool:
    """Whether the thread count may follow the machine: not when fixed (``threads``,
    :func:`set_torch_threads`, ``OMP_NUM_THREADS``) or switched off with
    ``YOLOV9_ADAPT_THREADS=0``."""
    if threads or _fixed or os.environ.get("OMP_NUM_THREADS"):
        return False
    return os.environ.get(ENV_ADAPT, "1").strip().lower() not in ("0", "false", "no", "off")


def threads_for(others: float, cpus: int, most: int, current: int | None = None) -> int:
    """Threads to use when other processes keep ``others`` CPUs busy (averaged) out of the
    ``cpus`` this process may run on: the cores left, between 1 and ``most``.

    Going down, a core taken more than 30 % of the time counts as taken: spinning threads of
    our own take CPU time from the neighbour, so it shows as less than it would take alone
    (beside 2 spinning ONNX Runtime threads a busy loop got about half a core). Going back
    up from ``current``, a core must be free at least 80 % of the time: a thread sharing a
    core with the neighbour (which the scheduler does for a while) reads as half a core free,
    and with one threshold both ways the count flapped.
    """
    free = cpus - max(others, 0.0)
    wanted = max(1, min(most, math.floor(free + 0.3)))
    if current is not None and wanted > current:
        wanted = max(current, min(most, math.floor(free + 0.2)))
    return wanted


def _busy_seconds(cpus: set[int], path: str = STAT) -> float:
    """CPU-seconds spent busy so far on ``cpus`` (all processes)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    with open(path) as f:
        for line in f:
            name, _, rest = line.partition(" ")
            if not name.startswith("cpu") or name == "cpu":
                continue
            if int(name[3:]) in cpus:
                values = rest.split()
                total += sum(int(values[i]) for i in _BUSY_FIELDS if i < len(values))
    return total / ticks


def _own_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class ThreadGovernor:
    """Adapts torch's thread count to the cores other processes leave free; call
    :meth:`poll` between batches (it costs a file read every ``interval_s``, nothing else).

    ``threads``: the count the user fixed (the governor then stays off), or None; ``most``:
    the most threads it uses (torch's count when it starts).
    """

    def __init__(
        self,
        threads: int | None = None,
        *,
        most: int | None = None,
        interval_s: float = 0.5,
        set_threads: Callable[[int], None] | None = None,
        stat_path: str = STAT,
    ) -> None:
        import torch

        self.most = threads or most or torch.get_num_threads()
        self.current = self.most
        self.interval_s = interval_s
        self.stat_path = stat_path
        self._set = set_threads or torch.set_num_threads
        self.cpus = (
            set(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else set(range(os.cpu_count() or 1))
        )
        self.enabled = adapting_allowed(threads) and self.most > 1 and os.path.exists(stat_path)
        self._last: tuple[float, float, float] | None = None
        if self.enabled:
            self._last = self._sample()

    def _sample(self) -> tuple[float, float, float]:
        return time.monotonic(), _busy_seconds(self.cpus, self.stat_path), _own_seconds()

    def poll(self) -> int:
        """The thread count now (changed when the interval has passed and the load moved)."""
        if not self.enabled or self._last is None:
            return self.current
        now = time.monotonic()
        if now - self._last[0] < self.interval_s:
            return self.current
        try:
            sample = self._sample()
        except (OSError, ValueError):
            self.enabled = False
            return self.current
        elapsed = sample[0] - self._last[0]
        others = ((sample[1] - self._last[1]) - (sample[2] - self._last[2])) / elapsed
        self._last = sample
        wanted = threads_for(others, len(self.cpus), self.most, self.current)
        if wanted != self.current:
            log.debug("other processes keep %.1f CPUs busy: %d thread(s)", others, wanted)
            self._set(wanted)
            self.current = wanted
        return self.current

    def restore(self) -> None:
        """Back to the thread count it started with."""
        if self.current != self.most:
            self._set(self.most)
            self.current = self.most
