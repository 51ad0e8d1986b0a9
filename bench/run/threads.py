"""How many torch threads a run gets: a number the user pins, or ``auto``.

The thread count changes the order of reductions on CPU, so it is part of what fixes a
run's numbers: the runner sets it, records it in the run's summary, and resolves it from
the run and the machine only, never from the executor, so a run id gives the same numbers
inline, in local workers or in a job on the same machine.

``auto`` (the default) is chosen by what one step costs. Tabular runs (MLPs of a few
thousand weights on a few features) get one thread: their steps are too small to split.
Image runs get every core this process may use, up to ``AUTO_CAP``: every image
configuration timed (``python -m tools.speed --threads 1|2``), from digits' 8x8 DFAD to
Fashion-MNIST's LeNet-5, runs 1.3-2x faster on two threads than on one. Beyond ``AUTO_CAP``
threads these nets gain little and a shared node loses more.
"""
from __future__ import annotations

import os

from bench.config import AUTO
from bench.registry import DATASETS
from bench.spec import RunSpec

AUTO_CAP = 8


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


def threads_for(requested: int | str, spec: RunSpec) -> int:
    """The thread count ``spec`` runs with when ``requested`` (a number or ``auto``)."""
    if requested != AUTO:
        return int(requested)
    if DATASETS.get(spec.dataset).meta.get("tabular"):
        return 1
    return min(AUTO_CAP, available_cores())
