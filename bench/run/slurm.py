"""What SLURM knows about our runs, the resources each run's job asks for, and sbatch
options checked before anything is submitted.

A suite's ``slurm:`` block gives the default request (partition, gpus, cpus, mem_gb,
time_min) and may add ``groups``: each a name, a ``when`` (lists of datasets, methods or
student nets a run must match) and the resources its runs need instead, e.g.
ImageNet-sized runs asking for more GPUs, memory and time than the small ones. A run
takes the first group it matches, else the defaults; one array is submitted per
(dependency level, group, method). Flags given on the command line apply to every group.

The launcher records each submitted job id in ``runs/<run_id>/job.json``. ``Jobs`` asks
the scheduler about those ids (``squeue`` for pending and running jobs, then ``sacct``
or, without accounting, ``scontrol show job`` for finished ones), so ``--status`` and
``--dry-run`` say ``queued`` / ``running`` / ``failed`` with SLURM's reason instead of
``todo``, and a second launch does not submit the same runs again.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from bench.results.states import QUEUED, RUNNING, RunState
from bench.errors import UserError
from bench.results.store import Store, atomic_write_text
from bench.results.states import FAILED

PENDING_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING",
                  "SUSPENDED"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
DEAD_STATES = {"FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "CANCELLED", "PREEMPTED",
               "BOOT_FAIL", "DEADLINE", "REVOKED"}
MIN_TIME_MIN = 2
"""Shortest time limit accepted: start-up, at least one step and a checkpoint must fit."""


RESOURCE_KEYS = ("partition", "gpus", "cpus", "mem_gb", "time_min")
DEFAULT_GROUP = "default"


def with_cli(block: dict[str, Any], cli: dict[str, Any]) -> dict[str, Any]:
    """The suite's slurm block with the command line's values (not None) over it and over
    every group."""
    given = {k: v for k, v in cli.items() if v is not None}
    groups = [{**g, **{k: v for k, v in given.items() if k in RESOURCE_KEYS}} for g in block.get("groups") or ()]
    return {**block, **given, **({"groups": groups} if groups else {})}


def resources(spec, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(group name, the sbatch request) for ``spec``'s job: the first group whose ``when``
    it matches (every key listed; a value from the key's list), else the defaults."""
    base = {k: v for k, v in block.items() if k != "groups"}
    for group in block.get("groups") or ():
        if all(str(getattr(spec, key)) in [str(v) for v in values] for key, values in group["when"].items()):
            return group["name"], {**base, **{k: group[k] for k in RESOURCE_KEYS if k in group}}
    return DEFAULT_GROUP, base


class JobArray(NamedTuple):
    """One SLURM array: the runs of one method, dependency level and resource group."""

    level: int
    group: str
    request: dict[str, Any]
    method: str
    specs: list


def arrays_by_resources(levels: list[list], block: dict[str, Any]) -> list[JobArray]:
    """The arrays a launch submits, in submission order."""
    out = []
    for level, specs in enumerate(levels):
        placed = [(resources(s, block), s) for s in specs]
        for name in dict.fromkeys(g for (g, _), _ in placed):
            request = next(r for (g, r), _ in placed if g == name)
            mine = [s for (g, _), s in placed if g == name]
            for method in dict.fromkeys(s.method for s in mine):
                out.append(JobArray(level, name, request, method, [s for s in mine if s.method == method]))
    return out


def signal_lead_s(time_min: int) -> int:
    """Seconds before the limit at which SLURM sends USR2: a tenth of the limit, 15 s to 5 min.

    A fixed 90 s (submitit's default) would signal a 2-minute job before Python has even
    installed its handler.
    """
    return int(min(300, max(15, time_min * 60 // 10)))


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def record_job(store: Store, run_id: str, job_id: str, folder: str) -> None:
    atomic_write_text(store.run_dir(run_id) / "job.json", json.dumps({
        "job_id": job_id, "folder": folder,
        "submitted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}))


@dataclass
class Jobs:
    """SLURM's view of the jobs recorded in a results dir (queried once, lazily)."""

    store: Store
    _known: dict[str, tuple[str, str]] | None = None

    def recorded(self, run_id: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.store.run_dir(run_id) / "job.json").read_text())
        except (OSError, ValueError):
            return None

    def _query(self) -> dict[str, tuple[str, str]]:
        """job id -> (state, reason) for every recorded job SLURM still knows."""
        if self._known is not None:
            return self._known
        ids = sorted({j["job_id"] for p in self.store.runs.glob("*/job.json")
                      if (j := self.recorded(p.parent.name))})
        known: dict[str, tuple[str, str]] = {}
        if ids:
            arrays = ",".join(sorted({i.split("_")[0] for i in ids}))
            out = _run(["squeue", "-h", "-r", "-o", "%i|%T|%r", "-j", arrays]) or ""
            for line in out.splitlines():
                job, state, reason = (line.split("|") + ["", ""])[:3]
                known[job.strip()] = (state.strip(), reason.strip())
            out = _run(["sacct", "-n", "-P", "-X", "-o", "JobID,State,ExitCode", "-j", arrays]) or ""
            for line in out.splitlines():
                job, state, code = (line.split("|") + ["", ""])[:3]
                known.setdefault(job.strip(), (state.split()[0] if state else "", f"exit code {code}"))
            for job in ids:
                if job not in known:
                    known.update(self._scontrol(job))
        self._known = known
        return known

    @staticmethod
    def _scontrol(job: str) -> dict[str, tuple[str, str]]:
        out = _run(["scontrol", "show", "job", "-o", job]) or ""
        found = {}
        for line in out.splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            array = fields.get("ArrayJobId")
            task = fields.get("ArrayTaskId")
            key = f"{array}_{task}" if array and task else fields.get("JobId", job)
            found[key] = (fields.get("JobState", ""), fields.get("Reason", ""))
        return found

    def state(self, run_id: str) -> RunState | None:
        """queued / running / failed for a run with a recorded job SLURM knows, else None."""
        job = self.recorded(run_id)
        if job is None:
            return None
        state, reason = self._query().get(job["job_id"], ("", ""))
        where = f"SLURM job {job['job_id']}"
        if state in PENDING_STATES:
            return RunState(QUEUED, f"{where} {state.lower()} ({reason})")
        if state in RUNNING_STATES:
            return RunState(RUNNING, f"{where} {state.lower()}")
        if state in DEAD_STATES:
            return RunState(FAILED, f"{where} ended {state} ({reason}); log: {job['folder']}")
        if state == "COMPLETED" and self.store.summary(run_id) is None:
            return RunState(FAILED, f"{where} completed without publishing a result; log: {job['folder']}")
        return None


def check_resources(params: dict[str, Any]) -> None:
    """Reject sbatch options the cluster cannot satisfy (read from ``sinfo`` when present)."""
    time_min = int(params.get("time_min") or 0)
    if time_min and time_min < MIN_TIME_MIN:
        raise UserError(f"--time-min {time_min} is too short: a job needs at least {MIN_TIME_MIN} "
                        "minutes to start, run a step and checkpoint before its limit")
    out = _run(["sinfo", "-h", "-o", "%P|%c|%m|%G|%l"])
    if out is None:
        return  # not on a SLURM machine: sbatch will judge
    partitions: dict[str, dict[str, Any]] = {}
    for line in out.splitlines():
        name, cpus, mem, gres, limit = (line.split("|") + [""] * 5)[:5]
        default = name.endswith("*")
        name = name.rstrip("*")
        part = partitions.setdefault(name, {"cpus": 0, "mem": 0, "gpus": 0, "default": default,
                                            "limit": limit})
        part["cpus"] = max(part["cpus"], _int(cpus))
        part["mem"] = max(part["mem"], _int(mem))
        part["gpus"] = max(part["gpus"], _gpus(gres))
    wanted = params.get("partition")
    if wanted and wanted not in partitions:
        raise UserError(f"SLURM partition {wanted!r} does not exist; partitions: {', '.join(partitions)}")
    name = wanted or next((n for n, p in partitions.items() if p["default"]), None)
    if name is None:
        return
    part = partitions[name]
    checks = [("cpus", params.get("cpus"), part["cpus"], "CPUs per node"),
              ("gpus", params.get("gpus"), part["gpus"], "GPUs per node"),
              ("mem-gb", params.get("mem_gb"), part["mem"] / 1024, "GB of memory per node")]
    for flag, asked, has, what in checks:
        if asked and float(asked) > has:
            raise UserError(f"--{flag} {asked} cannot be met: partition {name!r} has at most "
                            f"{has:g} {what} (sinfo); lower it or pick another --partition")
    limit = _minutes(part["limit"])
    if time_min and limit is not None and time_min > limit:
        raise UserError(f"--time-min {time_min} exceeds partition {name!r}'s limit of {limit} minutes")


def _int(text: str) -> int:
    digits = "".join(ch for ch in text if ch.isdigit())
    return int(digits) if digits else 0


def _gpus(gres: str) -> int:
    total = 0
    for item in gres.split(","):
        parts = item.split("(")[0].split(":")
        if parts[0] == "gpu":
            total += int(parts[-1]) if parts[-1].isdigit() else 1
    return total


def _minutes(limit: str) -> int | None:
    """SLURM's [days-]hours:minutes:seconds (or 'infinite') in whole minutes."""
    if not limit or limit in ("infinite", "UNLIMITED", "n/a"):
        return None
    days, _, clock = limit.rpartition("-")
    parts = [int(p) for p in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return (int(days or 0) * 24 + parts[0]) * 60 + parts[1] + (1 if parts[2] else 0)
