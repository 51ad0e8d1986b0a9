"""How runs are executed, from the command line to ``execute``: one frozen value that the
scheduler, the executors' workers and SLURM jobs all receive (pickled as it is)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.config import AUTO, parse_threads
from bench.errors import UserError
from bench.results.validity import RunEnvironment

EXECUTORS = ("inline", "debug", "local", "slurm")


@dataclass(frozen=True)
class Execution:
    executor: str = "inline"
    """inline (this process) | debug (submitit, this process) | local (worker processes) | slurm."""
    workers: int = 2
    """Parallel runs for the local executor."""
    rerun: bool = False
    """Run again even finished runs."""
    retry_failed: bool = False
    device: str | None = None
    """torch device; None: cuda where available, else cpu."""
    data_root: str = "data"
    results: str = "results"
    download: bool = False
    threads: int | str = AUTO
    """torch threads per run, or ``auto`` (bench/run/threads.py): resolved from the run and the
    machine, never from the executor, so a run id gives the same numbers under every executor."""
    accept_stale: bool = False
    slurm: dict[str, Any] = field(default_factory=dict)
    """Resources for the slurm executor (the suite's slurm block merged with the flags)."""

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise UserError(f"--executor {self.executor!r} is unknown; accepted: {', '.join(EXECUTORS)}")
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        object.__setattr__(self, "threads", parse_threads(self.threads))
        object.__setattr__(self, "data_root", str(self.data_root))
        object.__setattr__(self, "results", str(self.results))

    @property
    def environment(self) -> RunEnvironment:
        """What a finished run is checked against to be reused."""
        return RunEnvironment(self.data_root, self.threads, self.download, self.accept_stale,
                              data_here=self.executor != "slurm")
