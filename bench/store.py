"""Results layout on disk: one folder per run_id with spec.json, curve.csv, summary.csv.

Every file is written to a temporary name and renamed, so a killed process never
leaves a half-written file behind. A run is *done* only when its summary says so.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

DONE, FAILED, PARTIAL, TODO = "done", "failed", "partial", "todo"
ID_COLUMNS = {"run_id": str, "teacher_run_id": str}
"""Hex run ids such as '9284223143e98332' would otherwise be parsed as floats."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_csv(path: Path, rows: list[dict[str, Any]] | pd.DataFrame) -> None:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    atomic_write_text(path, frame.to_csv(index=False))


def atomic_torch_save(path: Path, obj: Any) -> None:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


class Store:
    """Where runs live: ``<root>/runs/<run_id>/``."""

    def __init__(self, root: Path | str):
        self.root = Path(root)
        self.runs = self.root / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs / run_id

    def summary(self, run_id: str) -> dict[str, Any] | None:
        path = self.run_dir(run_id) / "summary.csv"
        if not path.exists():
            return None
        rows = pd.read_csv(path, keep_default_na=False, na_values=[""],
                           dtype=ID_COLUMNS).to_dict("records")
        if not rows:
            return None
        row = rows[0]
        if not isinstance(row.get("error"), str):
            row["error"] = ""
        return row

    def status(self, run_id: str) -> str:
        summary = self.summary(run_id)
        if summary is not None:
            return str(summary.get("status", FAILED))
        return PARTIAL if self.run_dir(run_id).exists() else TODO

    def error(self, run_id: str) -> str:
        summary = self.summary(run_id) or {}
        return str(summary.get("error", ""))

    def write_spec(self, run_id: str, record: dict[str, Any]) -> None:
        atomic_write_text(self.run_dir(run_id) / "spec.json", json.dumps(record, indent=2, sort_keys=True))

    def write_summary(self, run_id: str, row: dict[str, Any]) -> None:
        atomic_write_csv(self.run_dir(run_id) / "summary.csv", [row])

    def summaries(self, run_ids: Iterable[str]) -> pd.DataFrame:
        rows = [s for s in (self.summary(r) for r in run_ids) if s is not None]
        return pd.DataFrame(rows)

    def curves(self, run_ids: Iterable[str]) -> pd.DataFrame:
        frames = []
        for run_id in run_ids:
            path = self.run_dir(run_id) / "curve.csv"
            if path.exists() and path.stat().st_size:
                frames.append(pd.read_csv(path).assign(run_id=run_id))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
