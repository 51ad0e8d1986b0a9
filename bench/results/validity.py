"""Is a run's cached result usable? One state per run (bench/results/states.py), with the
reason when it is not."""
from __future__ import annotations

import json
from dataclasses import dataclass

from bench.results.fingerprint import code_fingerprint, data_fingerprint, file_digest, run_code
from bench.results.lock import describe, holder
from bench.registry import METHODS
from bench.spec import RunSpec
from bench.results.store import Store
from bench.results.states import CORRUPT, DONE, FAILED, PARTIAL, RUNNING, STALE, RunState

@dataclass(frozen=True)
class RunEnvironment:
    """What the current invocation would run with: data root and the pinned numerics."""

    data_root: str = "data"
    threads: int | str = 1
    """A pinned count, or ``auto`` (bench.run.threads). Not a reason to rerun: the count changes
    float rounding, not what a run is, so a result made with another count is reused (its count
    is in its summary and the report)."""
    download: bool = False
    accept_stale: bool = False
    data_here: bool = True
    """False where the runs' data lives elsewhere (a SLURM login node): data that cannot be read
    from here is then checked by the job that runs, not counted as changed."""


def run_state(spec: RunSpec, store: Store, expect: RunEnvironment, jobs=None, mine: bool = False) -> RunState:
    """The state of ``spec``'s run; ``jobs`` (bench.run.slurm) reports SLURM jobs when given;
    ``mine``: the caller holds the run's lock itself."""
    who = None if mine else holder(store.lock_path(spec.run_id))
    if who is not None:
        return RunState(RUNNING, describe(who))
    status, problem = store.verify(spec.run_id)
    if status == DONE:
        reasons = stale_reasons(spec, store, expect)
        if reasons and not expect.accept_stale:
            return RunState(STALE, "; ".join(reasons))
        return RunState(DONE, "; ".join(reasons) and "accepted stale: " + "; ".join(reasons))
    if status == CORRUPT:
        return RunState(CORRUPT, problem)
    if jobs is not None:
        job = jobs.state(spec.run_id)
        if job is not None:
            return job
    if status == FAILED:
        return RunState(FAILED, store.error(spec.run_id))
    if status == PARTIAL:
        last = store.attempts(spec.run_id)[-1]
        has = (store.attempt_dir(spec.run_id, last) / "checkpoint.pt").exists()
        return RunState(PARTIAL, f"attempt {last} unfinished" + (", resumes from its checkpoint" if has else ""))
    return RunState(status)


def stale_reasons(spec: RunSpec, store: Store, expect: RunEnvironment) -> list[str]:
    """Why a published result no longer answers ``spec`` with today's code and data."""
    row = store.summary(spec.run_id) or {}
    reasons = []
    if spec.method in METHODS and row.get("code_fingerprint") != code_fingerprint(spec):
        reasons.append("code changed: " + (changed_modules(spec, store) or "no fingerprint recorded"))
    for name, digest in _json(row.get("data_fingerprint")).items():
        try:
            now = data_fingerprint(name, expect.data_root, expect.download)
        except Exception as exc:  # noqa: BLE001 - any failure means the data cannot be vouched for
            if expect.data_here:  # "cannot tell" is not "unchanged"
                reasons.append(f"data cannot be checked: {name} in {expect.data_root} "
                               f"({type(exc).__name__}: {str(exc)[:200]})")
            continue
        if now != digest:
            reasons.append(f"data changed: {name}")
    for path, digest in _json(row.get("input_files")).items():
        try:
            now = file_digest(path)
        except OSError:  # not reachable from here: cannot tell
            continue
        if now != digest:
            reasons.append(f"input file changed: {path}")
    for role, dep in spec.roles():
        published = store.summary(dep.run_id) or {}
        used, now = _int(row.get(f"{role}_attempt")), _int(published.get("attempt"))
        if used is not None and now is not None and used != now:
            reasons.append(f"{role} {dep.run_id} was rebuilt (attempt {used} -> {now})")
        elif published and stale_reasons(dep, store, expect):
            reasons.append(f"{role} {dep.run_id} is stale")
    return reasons


def changed_modules(spec: RunSpec, store: Store) -> str:
    """The modules whose code differs from the published attempt's record."""
    try:
        recorded = json.loads(store.artefact(spec.run_id, "spec.json").read_text()).get("code", {})
    except (OSError, ValueError):
        return ""
    now = run_code(spec)
    changed = sorted(m for m in set(now) | set(recorded) if now.get(m) != recorded.get(m))
    return ", ".join(changed)


def _json(text) -> dict:
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
