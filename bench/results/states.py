"""The states a run can be in, and the reason that goes with one."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RunStatus(StrEnum):
    """A string enum: equal to its value, so summary.csv's ``status`` column compares as is."""

    DONE = "done"
    """Published, checksums match, same code, data and numerics."""
    STALE = "stale"
    """Published, but something it depends on changed since: rerun unless ``--accept-stale``."""
    FAILED = "failed"
    CORRUPT = "corrupt"
    """Damaged files: quarantined and rerun."""
    RUNNING = "running"
    """Another process holds its lock."""
    QUEUED = "queued"
    """A SLURM job waits for it."""
    PARTIAL = "partial"
    """An unfinished attempt to resume."""
    TODO = "todo"


DONE, STALE, FAILED, CORRUPT, RUNNING, QUEUED, PARTIAL, TODO = RunStatus
STATES = tuple(RunStatus)


@dataclass(frozen=True)
class RunState:
    status: RunStatus
    reason: str = ""
