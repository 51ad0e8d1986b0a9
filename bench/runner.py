"""Execute one RunSpec: seed, pick the device, call the method, write its files.

``execute`` is the single callable every executor runs (inline, in a subprocess or
as a SLURM array task). It never raises for a failing method: the exception (or a
NaN) is recorded in summary.csv as ``failed`` and the sweep goes on. Only a
preemption leaves the run unfinished, with a checkpoint to resume from.
"""
from __future__ import annotations

import functools
import platform
import random
import signal
import subprocess
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench import context
from bench.config import build_config
from bench.context import RunContext
from bench.errors import Preempted
from bench.registry import METHODS, load_plugins
from bench.spec import RunSpec
from bench.store import DONE, FAILED, Store


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def pick_device(requested: str | None = None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def spec_columns(spec: RunSpec) -> dict[str, Any]:
    """Flattened spec columns for summary.csv (params prefixed with ``cfg.``)."""
    cols = {"run_id": spec.run_id, "method": spec.method, "dataset": spec.dataset,
            "seed": spec.seed, "student": spec.student, "n_train": spec.n_train,
            "teacher_arch": spec.teacher.student if spec.teacher else None}
    cols.update({f"cfg.{k}": (str(list(v)) if isinstance(v, tuple) else v) for k, v in spec.params})
    return cols


def _on_signal(signum, frame) -> None:  # noqa: ARG001
    """Ask the running loop to checkpoint and stop at the next step boundary.

    After a first Ctrl-C, a second one interrupts at once (default handler).
    """
    context.STOP.set()
    if signum == signal.SIGINT:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def execute(spec: RunSpec, results_root: str | Path, data_root: str | Path,
            device: str | None = None, download: bool = False, show_progress: bool = True,
            handle_signals: bool = True) -> str:
    """Run ``spec`` to completion (or resume it); return its final status.

    With ``handle_signals`` SIGTERM/SIGUSR2/SIGINT make the loop checkpoint and raise
    Preempted at the next step; inside submitit jobs submitit keeps its own SIGUSR2
    handler (requeue), and the run resumes from its last periodic checkpoint.
    """
    load_plugins()
    store = Store(results_root)
    dev = pick_device(device)
    store.write_spec(spec.run_id, {
        "spec": spec.to_dict(), "run_id": spec.run_id, "code_version": code_version(),
        "torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version(),
        "device": str(dev), "host": platform.node(),
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    seed_everything(spec.seed)
    ctx = RunContext(spec, store, Path(data_root), dev, download=download, show_progress=show_progress)
    start = time.monotonic()
    row = spec_columns(spec)
    previous = install_stop_handlers() if handle_signals else {}
    try:
        if spec.teacher and store.status(spec.teacher.run_id) != DONE:
            raise RuntimeError(f"teacher run {spec.teacher.run_id} is {store.status(spec.teacher.run_id)}")
        entry = METHODS.get(spec.method)
        cfg = build_config(entry.meta["config"], spec.config, f"run {spec.run_id}")
        metrics = entry.obj(ctx, cfg)
        row.update(ctx.extra)
        row.update(metrics)
        row.update(status=DONE, error="")
    except Preempted:
        raise
    except Exception as exc:  # the run fails, the sweep goes on
        (ctx.dir / "error.log").write_text(traceback.format_exc())
        row.update(ctx.extra)
        row.update(status=FAILED, error=f"{type(exc).__name__}: {exc}".replace("\n", " "))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    row["wall_time_s"] = round(time.monotonic() - start, 2)
    row["device"] = str(dev)
    store.write_summary(spec.run_id, row)
    if row["status"] == DONE:
        ctx.clear_checkpoint()
    return row["status"]


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
