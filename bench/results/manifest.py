"""Rebuild a suite's tables, report and figures only when something they are made of changed.

A rerun of a finished suite would otherwise load pandas, SciPy and matplotlib, count every
net's FLOPs and redraw every figure to write the same files again. The inputs are listed
in a manifest beside the outputs (``.aggregate.json``): the plan, the command, the commit,
the harness's own code, and each run's state and published summary file (a run publishes
by replacing it, so its size and modification time change with every new result). When
all of them match the manifest and every output file it lists is still there, unchanged,
the terminal summary saved with it is printed instead.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from bench.results.store import Store, atomic_write_text, file_stamp, stamps_under

MANIFEST = ".aggregate.json"
CODE_ROOT = Path(__file__).resolve().parents[1]


def inputs_key(plan, known: dict, store: Store, command: str, commit: str | None) -> str:
    """A digest of everything the outputs are made of (see the module docstring)."""
    code = sorted((str(p.relative_to(CODE_ROOT)), file_stamp(p)) for p in CODE_ROOT.rglob("*")
                  if p.suffix in (".py", ".yaml", ".csv") and "__pycache__" not in p.parts)
    runs = sorted((run_id, state.status, state.reason, file_stamp(store.run_dir(run_id) / "summary.csv"))
                  for run_id, state in known.items())
    blob = json.dumps([repr(plan), command, commit, code, runs], default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def outputs_of(out_dir: Path) -> dict[str, list[int] | None]:
    """Every file under ``out_dir`` but the manifest, with its size and modification time."""
    top = os.path.abspath(out_dir)
    return {os.path.relpath(p, top): stamp and stamp[:2] for p, stamp in sorted(stamps_under(out_dir).items())
            if os.path.basename(p) != MANIFEST}


def cached_summary(out_dir: Path, key: str) -> str | None:
    """The saved terminal summary when the inputs and every output are as the manifest says."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("key") != key or manifest.get("outputs") != outputs_of(out_dir):
        return None
    return manifest.get("summary")


def save_manifest(out_dir: Path, key: str, summary: str) -> None:
    atomic_write_text(out_dir / MANIFEST, json.dumps({"key": key, "summary": summary,
                                                      "outputs": outputs_of(out_dir)}, indent=1))
