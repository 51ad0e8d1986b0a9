"""Run a list of RunSpecs through an executor, teachers first, skipping finished work.

Executors: ``inline`` (a plain loop in this process), ``debug`` (submitit's
DebugExecutor, same process), ``local`` (submitit LocalExecutor subprocesses, at most
``workers`` at a time) and ``slurm`` (submitit AutoExecutor job arrays; the launcher
submits the teacher array, then the student array with an ``afterany`` dependency,
and exits; ``--status`` reads the result files later).
"""
from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path
from typing import Any, Callable

from tqdm.auto import tqdm

from bench import context
from bench.results.validity import run_state
from bench.results.states import QUEUED, RUNNING, RunState, STALE
from bench.errors import Preempted, UserError
from bench.results.lock import describe, holder
from bench.run.execution import Execution
from bench.run.runner import execute, install_stop_handlers
from bench.run.slurm import Jobs, arrays_by_resources, check_resources, record_job, signal_lead_s
from bench.spec import RunSpec
from bench.results.store import Store
from bench.results.states import CORRUPT, DONE, FAILED, PARTIAL, TODO

def states(specs: list[RunSpec], opts: Execution, jobs=None) -> dict[str, RunState]:
    store = Store(opts.results)
    return {s.run_id: run_state(s, store, opts.environment, jobs) for s in specs}


def select(specs: list[RunSpec], opts: Execution, known: dict[str, RunState] | None = None,
           busy_ok: bool = True) -> list[RunSpec]:
    """The specs that need running: todo, partial, stale and corrupt ones, plus failed
    (``retry_failed``) or every one (``rerun``). ``busy_ok=False`` leaves out runs another
    process or a SLURM job already has (the SLURM launcher must not submit them twice)."""
    known = known if known is not None else states(specs, opts)
    wanted = {TODO, PARTIAL, STALE, CORRUPT}
    if busy_ok:
        wanted |= {RUNNING, QUEUED}
    if opts.retry_failed:
        wanted.add(FAILED)
    if opts.rerun:
        wanted |= {DONE, FAILED}
    return [s for s in specs if known[s.run_id].status in wanted]


def phases(specs: list[RunSpec]) -> tuple[list[RunSpec], list[RunSpec]]:
    """Teachers first (a teacher run is any spec another spec depends on: a teacher or a
    pretrained net)."""
    teacher_ids = {d.run_id for s in specs for d in s.dependencies}
    teachers = [s for s in specs if s.run_id in teacher_ids or s.method == "teacher"]
    return teachers, [s for s in specs if s not in teachers]


def with_teachers(specs: list[RunSpec]) -> list[RunSpec]:
    """Add every spec's dependencies (teacher, pretrained nets, and theirs; deduplicated by run_id)."""
    out: dict[str, RunSpec] = {}

    def add(spec: RunSpec) -> None:
        for dep in spec.dependencies:
            add(dep)
        out.setdefault(spec.run_id, spec)

    for s in specs:
        for dep in s.dependencies:
            add(dep)
    for s in specs:
        out.setdefault(s.run_id, s)
    return list(out.values())


def levels(specs: list[RunSpec]) -> list[list[RunSpec]]:
    """``specs`` grouped by the longest chain of dependencies below them: a teacher (none) is
    at level 0, its students at 1, a run whose dependency has its own (GAN-TSC's inferior
    AC-GAN continues the well-trained one) above both. Each level needs lower levels only."""
    height: dict[str, int] = {}

    def level(spec: RunSpec) -> int:
        if spec.run_id not in height:
            height[spec.run_id] = 1 + max((level(d) for d in spec.dependencies), default=-1)
        return height[spec.run_id]

    out: dict[int, list[RunSpec]] = {}
    for s in specs:
        out.setdefault(level(s), []).append(s)
    return [out[k] for k in sorted(out)]


def run_specs(specs: list[RunSpec], opts: Execution,
              on_finish: Callable[[RunSpec, str], None] = lambda s, st: None, name: str = "advkd") -> None:
    """Run what is not done yet, level by level (teachers first: ``levels``);
    ``on_finish(spec, status)`` after each."""
    store = Store(opts.results)
    groups = levels(with_teachers(specs))
    for spec in [s for g in groups for s in g]:  # leftovers of a kill -9 (only those of dead processes)
        store.clean_tmp(spec.run_id)
    if opts.executor == "slurm":
        jobs = Jobs(store)
        submit_slurm([select(g, opts, states(g, opts, jobs), busy_ok=False) for g in groups], opts, name=name)
        return
    bar = tqdm(total=sum(len(select(g, opts)) for g in groups), desc="runs", unit="run",
               dynamic_ncols=True, disable=not sys.stderr.isatty())  # piped: the per-run lines only

    def finished(spec: RunSpec, status: str) -> None:
        bar.update(1)
        on_finish(spec, status)

    context.STOP.clear()
    previous = install_stop_handlers()
    try:
        for k, group in enumerate(groups):
            phase = select(group, opts)  # chosen once the levels below are final
            if k:
                bar.total = bar.n + len(phase) + sum(len(select(g, opts)) for g in groups[k + 1:])
                bar.refresh()
            ready = []
            for spec in phase:
                missing = [(role, dep) for role, dep in spec.roles() if store.status(dep.run_id) != DONE]
                if missing:
                    role, dep = missing[0]
                    fail_without_running(store, spec, f"{role} run {dep.run_id} is "
                                         f"{store.status(dep.run_id)}: {store.error(dep.run_id)}")
                    finished(spec, FAILED)
                else:
                    ready.append(spec)
            if opts.executor == "local":
                run_local(ready, opts, finished)
            else:
                run_in_process(ready, opts, finished)
    finally:
        bar.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def fail_without_running(store: Store, spec: RunSpec, reason: str) -> None:
    """Record a run that could not run; a result already published stays as it is."""
    from bench.results.provenance import spec_columns

    if store.status(spec.run_id) != DONE:
        store.write_summary(spec.run_id, {**spec_columns(spec), "status": FAILED, "error": reason,
                                          "wall_time_s": 0.0})


def held_last(specs: list[RunSpec], opts: Execution) -> list[RunSpec]:
    """Runs another process holds go to the end: by then it has probably finished them."""
    store = Store(opts.results)
    busy = {s.run_id for s in specs if holder(store.lock_path(s.run_id)) is not None}
    return [s for s in specs if s.run_id not in busy] + [s for s in specs if s.run_id in busy]


class HeldRuns:
    """Which runs another process works on now, each announced once.

    The scheduler waits for those itself instead of handing them to ``execute``: a run blocked
    in its lock does not hear a stop (a worker under submitit ignores SIGTERM until its run
    starts training), so a Ctrl-C or a SIGTERM would wait for the other process's whole run.
    """

    def __init__(self, opts: Execution):
        self.store = Store(opts.results)
        self.told: set[str] = set()

    def held(self, spec: RunSpec) -> bool:
        who = holder(self.store.lock_path(spec.run_id))
        if who is not None and spec.run_id not in self.told:
            self.told.add(spec.run_id)
            print(f"run {spec.run_id} is held by {describe(who)}; waiting", file=sys.stderr, flush=True)
        return who is not None

    def wait(self, spec: RunSpec, poll_s: float = 0.5) -> None:
        """Return once no other process holds ``spec``; raise Preempted on a stop signal."""
        while self.held(spec):
            if context.STOP.is_set():
                raise Preempted(f"stopped while waiting for run {spec.run_id}")
            time.sleep(poll_s)


def run_in_process(specs: list[RunSpec], opts: Execution, finished) -> None:
    """inline / debug: one run after another in this process; a signal between runs, or while
    another process holds the next run, stops too."""
    executor = None
    held = HeldRuns(opts)
    for spec in held_last(specs, opts):
        if context.STOP.is_set():
            raise Preempted("stopped between runs")
        held.wait(spec)
        if opts.executor == "inline":
            status = execute(spec, opts)
        else:
            import submitit

            from bench.run.task import RunTask

            executor = executor or submitit.DebugExecutor(folder=Path(opts.results) / "submitit" / "%j")
            status = executor.submit(RunTask(), spec, opts).result()
        finished(spec, status)


def run_local(specs: list[RunSpec], opts: Execution, finished) -> None:
    """At most ``opts.workers`` subprocesses at a time (submitit would start all at once); a run
    another process holds is submitted once that process lets it go."""
    import submitit

    from bench.run.task import RunTask

    executor = submitit.LocalExecutor(folder=Path(opts.results) / "submitit" / "%j")
    executor.update_parameters(timeout_min=int(opts.slurm.get("time_min") or 24 * 60))
    pending = held_last(specs, opts)
    held = HeldRuns(opts)
    running: list[tuple[RunSpec, Any]] = []
    while pending or running:
        while len(running) < opts.workers:
            spec = next((s for s in pending if not held.held(s)), None)
            if spec is None:  # the rest are held by other processes: submitted once free
                break
            pending.remove(spec)
            running.append((spec, executor.submit(RunTask(), spec, opts)))
        time.sleep(0.2)
        for item in [r for r in running if r[1].done()]:
            running.remove(item)
            spec, job = item
            try:
                status = job.result()
            except Exception as exc:  # the subprocess died (OOM, kill): record it, go on
                if context.STOP.is_set():
                    continue  # stopped by our signal: it checkpointed and resumes next time
                fail_without_running(Store(opts.results), spec, worker_failure(job, exc))
                status = FAILED
            finished(spec, status)
        if context.STOP.is_set():
            stop_workers(running)
            raise Preempted("stopped: the workers checkpointed their runs")


def worker_failure(job: Any, exc: Exception) -> str:
    """One line for a worker that returned no status: submitit's messages run over several
    lines of its log. Without a result file the worker died, and the wrapper's exit code does
    not say how (a SIGKILL from the out-of-memory killer looks like any other death)."""
    if job.paths.result_pickle.exists():  # the task raised: its last line says what
        lines = [line for line in str(exc).splitlines() if line.strip()]
        return f"the worker failed: {lines[-1] if lines else type(exc).__name__}; its log: {job.paths.stderr}"
    return (f"the worker process ended without a result (killed, e.g. out of memory, or crashed); "
            f"its output: {job.paths.stdout}")


def stop_workers(running: list[tuple[RunSpec, Any]], grace_s: float = 120.0) -> None:
    """SIGTERM every worker (each checkpoints at its next step), then wait for them."""
    for _, job in running:
        process = getattr(job, "_process", None)
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for _, job in running:
        process = getattr(job, "_process", None)
        while process is not None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process is not None and process.poll() is None:
            process.kill()


def slurm_parameters(slurm: dict[str, Any]) -> dict[str, Any]:
    """Map the suite's / CLI's slurm block onto submitit AutoExecutor parameters."""
    time_min = int(slurm.get("time_min") or 240)
    params: dict[str, Any] = {
        "timeout_min": time_min,
        "gpus_per_node": int(slurm.get("gpus") or 0),
        "cpus_per_task": int(slurm.get("cpus") or 4),
        "mem_gb": int(slurm.get("mem_gb") or 16),
        "slurm_array_parallelism": int(slurm.get("array_parallelism") or 32),
        "slurm_signal_delay_s": signal_lead_s(time_min),
    }
    params["slurm_partition"] = str(slurm["partition"]) if slurm.get("partition") else None
    return params


def array_ids(jobs: list) -> list[str]:
    return sorted({str(j.job_id).split("_")[0] for j in jobs})


def submit_slurm(groups: list[list[RunSpec]], opts: Execution, executor: Any = None, name: str = "advkd") -> list:
    """Submit each level's arrays (``levels``: teachers first) with an ``afterany`` dependency
    on every array of the levels below.

    One array per (level, resource group, method), named ``<suite>.<method>``, asking for
    its group's resources (bench.run.slurm); each run's job id is recorded in its ``job.json``
    so later launches and ``--status`` know it is queued.
    """
    import submitit

    from bench.run.task import RunTask

    plan = [a for a in arrays_by_resources(groups, opts.slurm) if a.specs]
    for request in {json.dumps(a.request, sort_keys=True) for a in plan} or {json.dumps(opts.slurm)}:
        check_resources(json.loads(request))
    folder = Path(opts.results) / "submitit" / "%j"
    timeouts = opts.slurm.get("max_num_timeout")
    executor = executor or submitit.AutoExecutor(
        folder=folder, cluster="slurm", slurm_max_num_timeout=3 if timeouts is None else int(timeouts))
    store = Store(opts.results)
    submitted: list = []
    per_level = [0] * len(groups)
    below: list = []  # jobs of the levels under the current one
    for level, _, request, method, specs in plan:
        if level and not per_level[level] and submitted:
            below = list(submitted)
        executor.update_parameters(**slurm_parameters(request), slurm_job_name=f"{name}.{method}")
        if below:
            executor.update_parameters(
                slurm_additional_parameters={"dependency": "afterany:" + ":".join(array_ids(below))})
        try:
            jobs = executor.map_array(RunTask(), specs, [opts] * len(specs))
        except submitit.core.utils.FailedJobError as exc:
            raise UserError(f"sbatch refused the {method} array: {str(exc).strip()[-400:]}") from None
        for spec, job in zip(specs, jobs):
            record_job(store, spec.run_id, str(job.job_id), str(folder).replace("%j", str(job.job_id)))
        submitted += jobs
        per_level[level] += len(jobs)
    tqdm.write(f"submitted {len(submitted)} jobs, by dependency level {' + '.join(map(str, per_level)) or '0'} "
               f"(arrays {', '.join(array_ids(submitted)) or '-'}); check with --status")
    return submitted
