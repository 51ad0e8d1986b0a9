"""Run a list of RunSpecs through an executor, teachers first, skipping finished work.

Executors: ``inline`` (a plain loop in this process), ``debug`` (submitit's
DebugExecutor, same process), ``local`` (submitit LocalExecutor subprocesses, at most
``workers`` at a time) and ``slurm`` (submitit AutoExecutor job arrays; the launcher
submits the teacher array, then the student array with an ``afterany`` dependency,
and exits; ``--status`` reads the result files later).
"""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import submitit
from tqdm.auto import tqdm

from bench.errors import Preempted, UserError
from bench import context
from bench.runner import execute, install_stop_handlers
from bench.spec import RunSpec
from bench.store import DONE, FAILED, PARTIAL, TODO, Store

EXECUTORS = ("inline", "debug", "local", "slurm")


@dataclass
class Options:
    executor: str = "inline"
    workers: int = 2
    rerun: bool = False
    retry_failed: bool = False
    device: str | None = None
    data_root: str = "data"
    results: str = "results"
    download: bool = False
    slurm: dict[str, Any] = field(default_factory=dict)


class RunTask(submitit.helpers.Checkpointable):
    """The callable submitted to submitit; on preemption submitit requeues it.

    submitit's SIGUSR2 handler requeues the job and exits at once (it cannot wait for a
    step boundary), so the run resumes from its last periodic checkpoint.
    """

    def __call__(self, spec: RunSpec, results: str, data_root: str, device: str | None,
                 download: bool, threads: int | None = None) -> str:
        if threads:
            import torch

            torch.set_num_threads(threads)
        return execute(spec, results, data_root, device, download, show_progress=False,
                       handle_signals=False)


def select(specs: list[RunSpec], store: Store, rerun: bool, retry_failed: bool) -> list[RunSpec]:
    """The specs that still need running: todo/partial, plus failed or done if asked."""
    wanted = {TODO, PARTIAL}
    if retry_failed:
        wanted.add(FAILED)
    if rerun:
        wanted |= {DONE, FAILED}
    return [s for s in specs if store.status(s.run_id) in wanted]


def phases(specs: list[RunSpec]) -> tuple[list[RunSpec], list[RunSpec]]:
    """Teachers first (a teacher run is any spec another spec depends on)."""
    teacher_ids = {s.teacher.run_id for s in specs if s.teacher}
    teachers = [s for s in specs if s.run_id in teacher_ids or s.method == "teacher"]
    return teachers, [s for s in specs if s not in teachers]


def with_teachers(specs: list[RunSpec]) -> list[RunSpec]:
    """Add every spec's teacher spec (deduplicated by run_id, order kept)."""
    out: dict[str, RunSpec] = {}
    for s in specs:
        if s.teacher:
            out.setdefault(s.teacher.run_id, s.teacher)
    for s in specs:
        out.setdefault(s.run_id, s)
    return list(out.values())


def run_specs(specs: list[RunSpec], opts: Options,
              on_finish: Callable[[RunSpec, str], None] = lambda s, st: None) -> None:
    """Run what is not done yet, teachers first; ``on_finish(spec, status)`` after each."""
    if opts.executor not in EXECUTORS:
        raise UserError(f"unknown executor {opts.executor!r}; accepted: {', '.join(EXECUTORS)}")
    if opts.executor == "local" and opts.workers < 1:
        raise UserError(f"--workers must be at least 1, got {opts.workers}")
    store = Store(opts.results)
    teachers, students = phases(with_teachers(specs))
    todo_t = select(teachers, store, opts.rerun, opts.retry_failed)
    todo_s = select(students, store, opts.rerun, opts.retry_failed)
    if opts.executor == "slurm":
        submit_slurm(todo_t, todo_s, opts)
        return
    bar = tqdm(total=len(todo_t) + len(todo_s), desc="runs", unit="run", dynamic_ncols=True)

    def finished(spec: RunSpec, status: str) -> None:
        bar.update(1)
        on_finish(spec, status)

    context.STOP.clear()
    previous = install_stop_handlers() if opts.executor != "local" else {}
    try:
        for phase in (todo_t, todo_s):
            ready = []
            for spec in phase:
                if spec.teacher and store.status(spec.teacher.run_id) != DONE:
                    fail_without_running(store, spec, f"teacher run {spec.teacher.run_id} is "
                                         f"{store.status(spec.teacher.run_id)}: "
                                         f"{store.error(spec.teacher.run_id)}")
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
    from bench.runner import spec_columns

    store.write_summary(spec.run_id, {**spec_columns(spec), "status": FAILED, "error": reason,
                                      "wall_time_s": 0.0})


def job_args(spec: RunSpec, opts: Options, threads: int | None = None) -> tuple:
    return (spec, opts.results, opts.data_root, opts.device, opts.download, threads)


def run_in_process(specs: list[RunSpec], opts: Options, finished) -> None:
    """inline / debug: one run after another in this process; a signal between runs stops too."""
    executor = submitit.DebugExecutor(folder=Path(opts.results) / "submitit" / "%j")
    for spec in specs:
        if context.STOP.is_set():
            raise Preempted("stopped between runs")
        if opts.executor == "inline":
            status = execute(*job_args(spec, opts)[:5])
        else:
            status = executor.submit(RunTask(), *job_args(spec, opts)).result()
        finished(spec, status)


def run_local(specs: list[RunSpec], opts: Options, finished) -> None:
    """At most ``opts.workers`` subprocesses at a time (submitit would start all at once)."""
    executor = submitit.LocalExecutor(folder=Path(opts.results) / "submitit" / "%j")
    executor.update_parameters(timeout_min=int(opts.slurm.get("time_min") or 24 * 60))
    threads = max(1, (os.cpu_count() or 1) // opts.workers)
    pending = list(specs)
    running: list[tuple[RunSpec, Any]] = []
    while pending or running:
        while pending and len(running) < opts.workers:
            spec = pending.pop(0)
            running.append((spec, executor.submit(RunTask(), *job_args(spec, opts, threads))))
        time.sleep(0.2)
        for item in [r for r in running if r[1].done()]:
            running.remove(item)
            spec, job = item
            try:
                status = job.result()
            except Exception as exc:  # the subprocess died (OOM, kill): record it, go on
                fail_without_running(Store(opts.results), spec, f"worker died: {exc}")
                status = FAILED
            finished(spec, status)


def slurm_parameters(slurm: dict[str, Any]) -> dict[str, Any]:
    """Map the suite's / CLI's slurm block onto submitit AutoExecutor parameters."""
    params: dict[str, Any] = {
        "timeout_min": int(slurm.get("time_min") or 240),
        "gpus_per_node": int(slurm.get("gpus") or 0),
        "cpus_per_task": int(slurm.get("cpus") or 4),
        "mem_gb": int(slurm.get("mem_gb") or 16),
        "slurm_array_parallelism": int(slurm.get("array_parallelism") or 32),
    }
    if slurm.get("partition"):
        params["slurm_partition"] = str(slurm["partition"])
    return params


def array_ids(jobs: list) -> list[str]:
    return sorted({str(j.job_id).split("_")[0] for j in jobs})


def submit_slurm(teachers: list[RunSpec], students: list[RunSpec], opts: Options,
                 executor: Any = None) -> list:
    """Submit teachers as one array, students as a second array that waits for it."""
    executor = executor or submitit.AutoExecutor(folder=Path(opts.results) / "submitit" / "%j",
                                                 cluster="slurm")
    executor.update_parameters(**slurm_parameters(opts.slurm))
    submitted = []

    def array(specs: list[RunSpec]) -> list:
        columns = list(zip(*(job_args(s, opts) for s in specs)))
        return executor.map_array(RunTask(), *columns) if specs else []

    t_jobs = array(teachers)
    submitted += t_jobs
    if t_jobs:
        executor.update_parameters(
            slurm_additional_parameters={"dependency": "afterany:" + ":".join(array_ids(t_jobs))})
    submitted += array(students)
    tqdm.write(f"submitted {len(t_jobs)} teacher and {len(submitted) - len(t_jobs)} student jobs "
               f"(arrays {', '.join(array_ids(submitted)) or '-'}); check with --status")
    return submitted
