"""What produced a result: the checkout's commit, whether its tree was clean, and the
spec's columns every summary row carries."""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path
from typing import Any

from bench.spec import RunSpec


def _git(*args: str) -> str | None:
    """``git args`` in this checkout: its output, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The checkout's commit, or "unknown" outside a git checkout."""
    return _git("rev-parse", "HEAD") or "unknown"


@functools.lru_cache(maxsize=1)
def code_dirty() -> bool | None:
    """Whether tracked files differ from that commit (None: unknown): a run trained on a dirty
    tree cannot be rebuilt from its commit alone, and the report says so."""
    status = _git("status", "--porcelain", "--untracked-files=no")
    return None if status is None else bool(status)


def spec_columns(spec: RunSpec) -> dict[str, Any]:
    """Flattened spec columns for summary.csv (params prefixed with ``cfg.``)."""
    cols = {"run_id": spec.run_id, "method": spec.method, "dataset": spec.dataset,
            "seed": spec.seed, "student": spec.student, "n_train": spec.n_train,
            "teacher_arch": spec.teacher.student if spec.teacher else None}
    cols.update({f"cfg.{k}": (str(list(v)) if isinstance(v, tuple) else v) for k, v in spec.params})
    return cols
