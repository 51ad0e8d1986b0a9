"""Answer the rerun of a finished sweep without importing torch, from what it depended on.

A plain ``run_all.py --suite S`` over a grid whose every run is done trains nothing and
prints the summary its tables' manifest saved (bench/outputs.py); still it imports torch
(2-3 s on a 2-core CPU) to learn that. When such a command ends with every run done, this
module writes down what its verdict was made of, like make's up-to-date check:

- the command: its arguments, working directory, interpreter, the environment variables
  the harness reads, how many CPUs it may use (``--threads auto`` counts them) and whether a
  GPU is present (the default device);
- every file the process stamped while it decided (project code and suites for the code
  fingerprints, data sources for the data fingerprints, teachers' weights, run results) and
  every module it imported, with the stamp it had when it was read;
- every file under the results folder and the tables folder.

The same command finds every stamp unchanged, prints the same lines and stops. Any
difference, even an unrelated new file under the results folder, takes the full path,
which checks each run as before and writes the record again. A dataset whose files are not
declared (its digest came from loading it) leaves no record: its data cannot be checked by
stamps. Nothing here imports torch; ``run_all.py`` calls it before anything else.

The one change stamps cannot see (git's "racy clean" case): a file rewritten in place, to the
same size, within the same tick of the kernel's file clock (a few ms) as a write just before this
process read it. The store publishes results by renaming new files (a new inode), so a
concurrent sweep's writes are always seen.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
from pathlib import Path

from bench import store
from bench.store import atomic_write_text, inode_stamp, stamps_under

FOLDER = ".memo"
"""Under the results folder; left out of its own stamps."""
ENV_PREFIXES = ("BENCH_", "ADVKD_", "CUDA_", "SLURM_", "PYTHON", "XDG_", "HOME")
"""Environment variables a sweep reads (data root, caches, plugins, devices, jobs), kept wide."""
UNTRACKED: list[str] = []
"""Why this process's verdict cannot be checked by file stamps (bench.fingerprint adds to it)."""


def replayable(args) -> bool:
    """A plain sweep: the one command that prints the same thing when every run is done.
    ``--rerun`` and ``--retry-failed`` train, the other modes print other things, and SLURM
    asks its queue."""
    return bool(args.suite) and args.executor != "slurm" and not any(
        (args.list, args.dry_run, args.probe, args.status, args.aggregate_only, args.rerun,
         args.retry_failed, args.download))


def command_key(argv: list[str]) -> str:
    """What, besides files, decides what the command does."""
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)}
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpus = sorted(glob.glob("/dev/nvidia[0-9]*") + glob.glob("/dev/dri/renderD*"))
    blob = json.dumps([list(argv), os.getcwd(), sys.executable, env, cpus, gpus], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def trees(results: Path, out_dir: Path) -> dict[str, list[int] | None]:
    """The files of the results folder and, when it lies elsewhere, of the tables folder."""
    stamps = stamps_under(results, skip_dir=FOLDER)
    if not inside(out_dir, results):
        stamps.update(stamps_under(out_dir, skip_dir=FOLDER))
    return stamps


def runs_files(results: Path, out_dir: Path) -> dict[str, list[int] | None]:
    """The results folder's files but the tables': what the verdict on the runs is made of."""
    return {p: s for p, s in stamps_under(results, skip_dir=FOLDER).items() if not inside(p, out_dir)}


def inside(path: Path | str, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def modules() -> dict[str, list[int] | None]:
    """The source files of every module this process imported (project, plugins, torch, ...)."""
    files = {getattr(m, "__file__", None) for m in list(sys.modules.values())}
    return {os.path.abspath(f): inode_stamp(f) for f in sorted(filter(None, files))}


def record_path(results: Path, key: str) -> Path:
    return results / FOLDER / f"{key[:32]}.json"


def save(key: str, results: Path, out_dir: Path, before: dict, lines: dict[str, str]) -> bool:
    """Write the record when the verdict can be checked by stamps: no untracked input, every
    file as this process last saw it, and the results folder unchanged while the verdict was
    reached (``before``: ``runs_files`` just before). ``lines``: what to print
    again, by stream name. Returns whether a record was written."""
    if UNTRACKED:
        return False
    seen = dict(store.SEEN)
    if any(inode_stamp(p) != stamp for p, stamp in seen.items()):
        return False
    if runs_files(results, out_dir) != before:
        return False
    files = {**seen, **modules(), **trees(results, out_dir)}
    record = {"key": key, "out_dir": str(out_dir), "files": files, "lines": lines}
    try:
        (results / FOLDER).mkdir(exist_ok=True)
        atomic_write_text(record_path(results, key), json.dumps(record))
    except OSError:  # a read-only results folder: the full path each time
        return False
    return True


def valid(record, key: str) -> bool:
    """A record this module wrote for ``key``: its fields there with their types."""
    return (isinstance(record, dict) and record.get("key") == key and isinstance(record.get("out_dir"), str)
            and isinstance(record.get("files"), dict) and isinstance(record.get("lines"), dict)
            and set(record["lines"]) <= {"stdout", "stderr"}
            and all(isinstance(t, str) for t in record["lines"].values()))


def replay(key: str, results: Path) -> bool:
    """Print the recorded lines and return True when the record for ``key`` still holds."""
    try:
        record = json.loads(record_path(results, key).read_text())
    except (OSError, ValueError):
        return False
    if not valid(record, key):  # damaged or from another version: the full path rewrites it
        return False
    files = record["files"]
    current = trees(results, Path(record["out_dir"]))
    if any(files.get(p, "new") != s for p, s in current.items()):  # a file changed or appeared
        return False
    if any(inode_stamp(p) != s for p, s in files.items() if p not in current):  # or went
        return False
    for stream, text in record["lines"].items():
        print(text, file=getattr(sys, stream))
    return True
