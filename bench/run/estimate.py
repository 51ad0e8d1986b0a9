"""What the runs still to do will cost on this machine: finished siblings' wall times,
else probes of their configurations (bench/run/probe.py)."""
from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from tqdm.auto import tqdm

from bench.config import AUTO
from bench.results.states import DONE
from bench.results.store import Store
from bench.run.execution import Execution
from bench.run.threads import threads_for
from bench.spec import RunSpec


def estimate(store: Store, specs: list[RunSpec], todo: list[RunSpec], opts: Execution | None = None,
             run_probes: bool = False) -> str:
    """Seconds the runs to do will take: the mean wall time of finished runs with the same
    method/dataset/config, else a probe of the configuration on this machine (bench/run/probe.py:
    cached ones always; missing ones measured when ``run_probes``)."""
    known: dict[tuple, list[float]] = {}
    for s in specs:
        summary = store.summary(s.run_id)
        if summary and summary.get("status") == DONE:
            known.setdefault((s.method, s.dataset, s.params), []).append(float(summary["wall_time_s"]))
    if not todo:
        return "nothing to run"
    by_sibling, rest = 0.0, []
    for s in todo:
        times = known.get((s.method, s.dataset, s.params))
        if times:
            by_sibling += sum(times) / len(times)
        else:
            rest.append(s)
    parts = [f"~{hours(by_sibling)} for {len(todo) - len(rest)} run(s) timed by finished siblings"] if len(rest) < len(todo) else []
    if rest and opts is not None:
        parts += probe_estimate(rest, opts, run_probes)
    elif rest:
        parts.append(f"{len(rest)} run(s) with no finished sibling to time them by")
    return "; ".join(parts)


def probe_estimate(specs: list[RunSpec], opts: Execution, run_probes: bool) -> list[str]:
    """The probes' estimate for ``specs`` (one probe per distinct configuration)."""
    from bench.run.probe import cached_probe, configuration, probe_cached
    from bench.run.runner import pick_device

    device = str(pick_device(opts.device))
    configs: dict[tuple, list[RunSpec]] = {}  # one probe per spec-without-seed and thread count
    for s in specs:
        config = json.dumps(configuration(s), sort_keys=True, default=str)
        configs.setdefault((config, threads_for(opts.threads, s)), []).append(s)
    total, timed, missing, missing_configs, failed = 0.0, 0, 0, 0, []
    groups = list(configs.values())
    if not run_probes and not (Path(opts.results) / "probes").is_dir():  # nothing probed here yet: no
        groups, missing, missing_configs = [], len(specs), len(configs)   # code fingerprints to compute
    show = run_probes and sys.stderr.isatty()
    for group in tqdm(groups, desc="probes", unit="config", disable=not show):
        try:
            threads = threads_for(opts.threads, group[0])
            found = (probe_cached(group[0], opts.results, opts.data_root, threads, device) if run_probes
                     else cached_probe(opts.results, group[0], threads, device))
        except Exception as exc:  # NotProbeable, data errors, a method's own: the dry-run goes on
            failed.append(f"{group[0].method} on {group[0].dataset}: {type(exc).__name__}: {exc}")
            continue
        if found is None:
            missing, missing_configs = missing + len(group), missing_configs + 1
            continue
        total += found.estimate_s * len(group)
        timed += len(group)
    parts = []
    if timed:
        parts.append(f"~{hours(total)} for {timed} run(s) from probes on this machine ({device}, "
                     f"{threads_text(specs, opts.threads)}; steps x seconds per step + evaluations, no start-up or data loading)")
    if missing:
        parts.append(f"{missing} run(s) not probed yet (--probe times a few steps of each of their "
                     f"{missing_configs} configuration(s))")
    if failed:
        parts.append(f"{len(failed)} configuration(s) cannot be probed ({'; '.join(failed[:3])})")
    return parts


def threads_text(specs: list[RunSpec], requested: int | str) -> str:
    """'2 threads per run' / 'threads per run: auto (2 for 30 runs, 1 for 6)'."""
    if requested != AUTO:
        return f"{requested} thread(s) per run"
    counts = Counter(threads_for(requested, s) for s in specs)
    return "threads per run: auto (" + ", ".join(f"{n} for {k} run(s)" for n, k in sorted(counts.items(), reverse=True)) + ")"


def hours(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.1f} h"
