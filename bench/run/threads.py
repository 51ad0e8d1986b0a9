"""How many torch threads a run gets: a number the user pins, or ``auto``.

The thread count changes the order of reductions on CPU, so it is part of what fixes a
run's numbers: the runner sets it, records it in the run's summary, and resolves it from
the run and the machine only, never from the executor, so a run id gives the same numbers
inline, in local workers or in a job on the same machine.

``auto`` (the default) is chosen by what one step costs and by what else the machine is
running when the run starts. Tabular runs (MLPs of a few thousand weights on a few features)
get one thread: their steps are too small to split. Image runs get the cores this process
may use, up to ``AUTO_CAP``, less the cores other work is busy on: OpenMP's threads spin
at each barrier, so a run with more threads than free cores waits on its slowest thread
every step and becomes several times slower than on one thread. Passive OpenMP waiting
(OMP_WAIT_POLICY=PASSIVE) would avoid that too but slows every step of an idle machine, so the
count is lowered instead. The count is recorded with the run; it changes float rounding, not what the run is, so a run
made with another count is reused.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from bench.config import AUTO
from bench.registry import DATASETS
from bench.spec import RunSpec

AUTO_CAP = 8
LOAD_SAMPLE_S = 5.0
"""How long one reading of the machine's load serves (a plan asks per run)."""
_LOAD: list[float] = []


def available_cores() -> int:
    """Cores this process may run on (a SLURM job's allocation, a taskset), not the machine's."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_workers(specs: list[RunSpec], requested: int | str) -> int:
    """Parallel runs for the local executor: as many as the cores hold at the runs' thread count."""
    most = max((threads_for(requested, s) for s in specs), default=1)
    return max(1, available_cores() // most)


def busy_cores() -> int:
    """Threads other than this one that are running or waiting for a core now: the median of
    five readings of /proc/loadavg's runnable count over 0.1 s (0 where there is none)."""
    if _LOAD and time.monotonic() - _LOAD[0] < LOAD_SAMPLE_S:
        return int(_LOAD[1])
    readings = []
    for _ in range(5):
        try:
            readings.append(int(Path("/proc/loadavg").read_text().split()[3].split("/")[0]) - 1)
        except (OSError, ValueError, IndexError):  # not Linux
            return 0
        time.sleep(0.02)
    busy = max(0, sorted(readings)[len(readings) // 2])
    _LOAD[:] = [time.monotonic(), busy]
    return busy


def threads_for(requested: int | str, spec: RunSpec) -> int:
    """The thread count ``spec`` runs with when ``requested`` (a number or ``auto``)."""
    if requested != AUTO:
        return int(requested)
    if DATASETS.get(spec.dataset).meta.get("tabular"):
        return 1
    return max(1, min(AUTO_CAP, available_cores() - busy_cores()))
