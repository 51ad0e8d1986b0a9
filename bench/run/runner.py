"""Execute one RunSpec: seed, pick the device, call the method, write its files.

``execute`` is the single callable every executor runs (inline, in a subprocess or
as a SLURM array task). It never raises for a failing method: the exception (or a
NaN) is recorded in summary.csv as ``failed`` and the sweep goes on. Only a
preemption leaves the run unfinished, with a checkpoint to resume from.
"""
from __future__ import annotations

import json
import os
import platform
import random
import signal
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import context
from bench.results.validity import RunEnvironment, run_state
from bench.config import build_config, config_class
from bench.context import RunContext
from bench.errors import CorruptCheckpoint, Preempted
from bench.results.fingerprint import digest_of, numerics, run_code
from bench.results.lock import RunLock, describe
from bench.registry import METHODS, load_plugins
from bench.spec import RunSpec
from bench.results.store import Store, atomic_write_csv, atomic_write_text, clean_tmp
from bench.results.states import CORRUPT, DONE, FAILED
from bench.results.values import value_problems
from bench.results.provenance import code_dirty, code_version, spec_columns
from bench.run.execution import Execution
from bench.run.threads import threads_for


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _on_signal(signum, frame) -> None:  # noqa: ARG001
    """Ask the running loop to checkpoint and stop at the next step boundary.

    After a first Ctrl-C, a second one interrupts at once (default handler).
    """
    context.STOP_SIGNAL[:] = [signum]
    context.STOP.set()
    if signum == signal.SIGINT:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def execute(spec: RunSpec, execution: Execution, show_progress: bool = True, handle_signals: bool = True) -> str:
    """Run ``spec`` to completion (or resume it) under its lock; return its final status.

    Waits while another process holds the run, then returns ``done`` without training if
    that process finished it (unless ``execution.rerun``). Otherwise it resumes the run's unfinished
    attempt when that attempt was made by the same code with the same numerics, or starts
    a new attempt, and publishes the attempt when it ends. A run already done is never
    touched in place: a rerun that fails leaves the published result as it was.

    With ``handle_signals`` SIGTERM/SIGUSR2/SIGINT make the loop checkpoint and raise
    Preempted at the next step (the executors that requeue rely on it).
    """
    load_plugins()
    store = Store(execution.results)
    expect = execution.environment
    for where in store.set_aside_damaged_layout(spec.run_id):
        print(f"run {spec.run_id}: damaged results layout set aside in {where}", file=sys.stderr, flush=True)
    lock = RunLock(store.lock_path(spec.run_id))
    lock.acquire(wait=True, on_wait=lambda who: print(
        f"run {spec.run_id} is held by {describe(who)}; waiting", file=sys.stderr, flush=True))
    try:
        store.clean_tmp(spec.run_id)
        state = run_state(spec, store, expect, mine=True)
        if state.status == CORRUPT:
            where = store.quarantine(spec.run_id, state.reason)
            print(f"run {spec.run_id}: {state.reason}; set aside in {where}, training it again",
                  file=sys.stderr, flush=True)
        elif not execution.rerun and state.status == DONE:
            return DONE
        for _ in range(2):  # a second go only after setting a corrupt checkpoint aside
            try:
                return _attempt(spec, store, expect, execution.device, show_progress, handle_signals)
            except CorruptCheckpoint as exc:
                print(f"run {spec.run_id}: {exc}; starting a new attempt", file=sys.stderr)
                store.quarantine(spec.run_id, str(exc), attempt=store.attempts(spec.run_id)[-1])
        raise AssertionError("unreachable: a new attempt has no checkpoint")
    finally:
        lock.release()


def _attempt(spec: RunSpec, store: Store, expect: RunEnvironment, device: str | None,
             show_progress: bool, handle_signals: bool) -> str:
    dev = pick_device(device)
    pinned = numerics(threads_for(expect.threads, spec), str(dev))
    code = run_code(spec)
    record = {"spec": spec.to_dict(), "run_id": spec.run_id, "code_version": code_version(),
              "code_fingerprint": digest_of(code), "code": code,
              "numerics": pinned}
    attempt = resumable_attempt(store, spec.run_id, record) or store.new_attempt(spec.run_id)
    folder = store.attempt_dir(spec.run_id, attempt)
    clean_tmp(folder)
    atomic_write_text(folder / "spec.json", json.dumps({
        **record, "torch": torch.__version__, "numpy": np.__version__,
        "python": platform.python_version(), "device": str(dev), "host": platform.node(),
        "slurm_job": os.environ.get("SLURM_JOB_ID", ""),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }, indent=2, sort_keys=True))
    seed_everything(spec.seed)
    ctx = RunContext(spec, store, Path(expect.data_root), dev, download=expect.download,
                     show_progress=show_progress, folder=folder)
    row = spec_columns(spec)
    previous = install_stop_handlers() if handle_signals else {}
    try:
        for role, dep in spec.roles():
            if store.status(dep.run_id) != DONE:
                raise RuntimeError(f"{role} run {dep.run_id} is {store.status(dep.run_id)}")
        entry = METHODS.get(spec.method)
        cfg = build_config(config_class(entry, spec.student), spec.config, f"run {spec.run_id}")
        metrics = entry.obj(ctx, cfg)
        row.update(ctx.extra)
        row.update(metrics)
        impossible = value_problems(row)
        if impossible:  # a broken method, never a result
            raise ValueError(f"the method reported impossible values: {', '.join(impossible)}")
        row.update(status=DONE, error="")
    except (Preempted, CorruptCheckpoint):
        raise
    except Exception as exc:  # the run fails, the sweep goes on
        write_quietly(folder / "error.log", traceback.format_exc())
        row.update(ctx.extra)
        row.update(status=FAILED, error=f"{type(exc).__name__}: {exc}".replace("\n", " "))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    row.update(wall_time_s=round(ctx.wall_time_s, 2), device=str(dev), code_version=record["code_version"],
               code_dirty=code_dirty(), code_fingerprint=record["code_fingerprint"],
               data_fingerprint=json.dumps(ctx.datasets, sort_keys=True), threads=pinned["threads"],
               input_files=json.dumps(ctx.files, sort_keys=True) if ctx.files else "",
               deterministic=pinned["deterministic"], device_type=pinned["device_type"])
    if row["status"] == DONE:
        ctx.clear_checkpoint()
    if row["status"] == FAILED and store.status(spec.run_id) == DONE:
        # a rerun failed: keep the published result, keep the failure in its attempt
        atomic_write_csv(folder / "summary.csv", [row])
        print(f"run {spec.run_id}: attempt {attempt} failed ({row['error']}); the published "
              f"result (attempt {store.summary(spec.run_id)['attempt']}) is kept", file=sys.stderr)
        return FAILED
    try:
        store.publish(spec.run_id, attempt, row)
    except OSError as exc:  # e.g. a full disk: the attempt stays unpublished and resumable
        print(f"run {spec.run_id}: could not publish attempt {attempt}: {exc}", file=sys.stderr)
        return FAILED
    return row["status"]


def resumable_attempt(store: Store, run_id: str, record: dict[str, Any]) -> int | None:
    """The latest unpublished attempt, if this code with these numerics made it (or it is
    still empty): it resumes from its checkpoint, or starts over in place when it was killed
    before the first one."""
    attempts = store.attempts(run_id)
    published = (store.summary(run_id) or {}).get("attempt")
    if not attempts or attempts[-1] == published:
        return None
    folder = store.attempt_dir(run_id, attempts[-1])
    if not any(p.suffix != ".tmp" for p in folder.iterdir()):
        return attempts[-1]  # killed between creating the folder and writing spec.json: empty
    if (folder / "summary.csv").exists():  # it ended (a failed rerun): never resumed
        return None
    try:
        made_by = json.loads((folder / "spec.json").read_text())
    except (OSError, ValueError):
        return None
    def pinned(numerics: dict) -> dict:  # the thread count only reorders float sums: resume across it
        return {k: v for k, v in (numerics or {}).items() if k != "threads"}

    same = made_by.get("code_fingerprint") == record["code_fingerprint"] and \
        pinned(made_by.get("numerics")) == pinned(record["numerics"])
    return attempts[-1] if same else None


def write_quietly(path: Path, text: str) -> None:
    """Best effort (the failure path must not fail, e.g. on a full disk)."""
    try:
        path.write_text(text)
    except OSError as exc:
        print(f"could not write {path}: {exc}", file=sys.stderr)


def install_stop_handlers() -> dict:
    """Route SIGTERM/SIGUSR2/SIGINT to a checkpoint-and-stop; return the old handlers."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for sig in (signal.SIGTERM, signal.SIGUSR2, signal.SIGINT):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, _on_signal)
    return previous
