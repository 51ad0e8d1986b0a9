"""One writer per run: an exclusive ``flock`` on ``runs/<run_id>/lock``.

The kernel drops a flock when its process dies (kill -9 included), so a lock can never
outlive its holder; the file itself stays and names the last holder (host, pid, SLURM
job), which ``--status`` shows for a running run. A lock file nobody holds is *stale*:
it is simply taken over. flock works across processes on one machine and on shared
file systems that support it (NFSv4, Lustre and GPFS with flock enabled).
"""
from __future__ import annotations

import fcntl
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from bench.results.store import regular_fd


class RunLock:
    """``with RunLock(path).hold(wait=True):`` — exclusive while the block runs."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self, wait: bool = False, poll_s: float = 0.5, on_wait=None) -> bool:
        """Take the lock; with ``wait`` block until it is free (``on_wait(holder)`` once)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    return False
                if on_wait and not told:
                    on_wait(holder(self.path))
                    told = True
                time.sleep(poll_s)
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(_me()).encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _me() -> dict[str, object]:
    return {"host": platform.node(), "pid": os.getpid(), "job": os.environ.get("SLURM_JOB_ID", ""),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def holder(path: Path) -> dict[str, object] | None:
    """Who holds the lock now (host, pid, job, since), or None when it is free or stale."""
    path = Path(path)
    try:
        fd = regular_fd(path)
    except OSError:  # absent, or damage that is the store's to report (layout_problem)
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                return json.loads(os.pread(fd, 4096, 0) or b"{}")
            except ValueError:
                return {"host": "?", "pid": "?"}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def describe(who: dict[str, object]) -> str:
    job = f", SLURM job {who['job']}" if who.get("job") else ""
    return f"pid {who.get('pid')} on {who.get('host')}{job} since {who.get('since', '?')}"
