#!/usr/bin/env python
"""advkd-bench command line: the flags, their checks, exit codes and the re-exec that keeps
freed memory in the process; what the flags ask for is done by bench.api."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class DefaultsShown(argparse.HelpFormatter):
    """--help names each flag's default where it has one (not for switches and unset values)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        default = action.default
        if default in (None, False, argparse.SUPPRESS) or "%(default)" in (action.help or ""):
            return action.help or ""
        return f"{action.help} (default: %(default)s)"


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Reproduce adversarial-KD papers' tables.",
        formatter_class=DefaultsShown,
        epilog="e.g. python run_all.py --suite dfkd_small  (the quick profile: 6 to 10 min on a 2-core CPU); "
               "--dry-run shows a grid, what is done and an estimate from finished runs before training")
    p.add_argument("--suite", help="suite name (see --list) or path to a suite .yaml")
    p.add_argument("--profile", default="quick",
                   help="smoke: seconds, for tests | quick: minutes on a laptop CPU, small data and budgets, "
                        "not comparable to the papers | paper: the papers' settings, GPU hours to days "
                        "(--dry-run lists the grid)")
    p.add_argument("--list", action="store_true", help="list suites, methods and datasets")
    p.add_argument("--plugin", action="append", metavar="FILE.py|MODULE",
                   help="import your own module that registers methods, nets or datasets (repeatable); "
                        "worker processes and SLURM jobs import it too ($ADVKD_PLUGINS)")
    p.add_argument("--dry-run", action="store_true", help="show the grid and what is done; run nothing")
    p.add_argument("--probe", action="store_true",
                   help="with --dry-run: time a few steps of each configuration not timed yet (cached in "
                        "<results-dir>/probes), for an estimate of the grid's hours on this machine")
    p.add_argument("--status", action="store_true", help="read result files and report progress")
    p.add_argument("--aggregate-only", action="store_true", help="rebuild tables from results")
    p.add_argument("--dataset", action="append", help="replace the profile's datasets (repeatable)")
    p.add_argument("--seeds", type=int, nargs="+", help="replace the profile's seeds")
    p.add_argument("--n-train", type=int, nargs="+", dest="n_train",
                   help="replace the profile's training-set sizes (suites with n_train, e.g. kdgan_compression)")
    p.add_argument("--experiment", action="append",
                   help="run and report only this experiment of the suite (repeatable), e.g. kdgan_table1")
    p.add_argument("--set", action="append", metavar="METHOD.KEY=VALUE",
                   help="override a method parameter for every run (repeatable), e.g. --set kdgan.epochs=10; "
                        "listed as a departure in the report")
    p.add_argument("--executor", default="inline", help="inline | debug | local | slurm")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel runs for --executor local (default: as many as the cores hold at the runs' "
                        "thread count)")
    p.add_argument("--threads", default=None,
                   help="torch threads per run, or auto: 1 for tabular data, else the cores this process may "
                        "use (at most 8); never chosen by the executor, so a run id gives the same numbers "
                        "under every executor (default: the profile's threads:, else auto)")
    p.add_argument("--rerun", action="store_true", help="run again even finished runs")
    p.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    p.add_argument("--accept-stale", action="store_true",
                   help="count and keep results whose code or data changed since they ran")
    p.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--data-root", default=None, help="dataset root (default $BENCH_DATA or ./data)")
    p.add_argument("--download", action="store_true", help="let torchvision download missing data")
    p.add_argument("--results-dir", default="results", help="where runs are stored")
    p.add_argument("--tables-dir", default=None,
                   help="where tables/report/figures go (default <results-dir>/tables/<suite>[_<profile>][_<datasets>])")
    slurm = p.add_argument_group("slurm (override the suite's slurm: block)")
    slurm.add_argument("--partition")
    slurm.add_argument("--gpus", type=int)
    slurm.add_argument("--cpus", type=int)
    slurm.add_argument("--mem-gb", type=int)
    slurm.add_argument("--time-min", type=int)
    slurm.add_argument("--array-parallelism", type=int)
    slurm.add_argument("--max-num-timeout", type=int,
                       help="times a job may hit its time limit and be requeued (default 3)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if argv is None and not (args.list or (args.dry_run and not args.probe) or args.status):  # training: keep freed memory
        from bench.run.allocator import reexec_with_tunables

        reexec_with_tunables()
    from bench.errors import Preempted, UserError
    from bench.registry import PLUGINS_ENV

    if args.plugin:  # absolute paths: a worker may start in another directory
        given = [str(Path(p).resolve()) if p.endswith(".py") else p for p in args.plugin]
        os.environ[PLUGINS_ENV] = os.pathsep.join(filter(None, [os.environ.get(PLUGINS_ENV, "")] + given))

    try:
        return dispatch(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed: not an error
        sys.stderr.close()
        return 0
    except Preempted as exc:
        print(f"interrupted ({exc}); finished runs and a checkpoint are kept: "
              "run the same command again to resume", file=sys.stderr)
        return 130


SLURM_ONLY = ("partition", "gpus", "cpus", "mem_gb", "array_parallelism", "max_num_timeout")


def check_flags(args: argparse.Namespace) -> None:
    """Flags that contradict each other or make no sense are an error, not a silent choice."""
    from bench.errors import UserError

    modes = [f"--{m.replace('_', '-')}" for m in ("dry_run", "status", "aggregate_only") if getattr(args, m)]
    if len(modes) > 1:
        raise UserError(f"{' and '.join(modes)} cannot be combined: pick one")
    if getattr(args, "probe", False) and not args.dry_run:
        raise UserError("--probe goes with --dry-run: it measures what a run would cost instead of running it")
    running_flags = [f for f, on in (("--rerun", args.rerun), ("--retry-failed", args.retry_failed),
                                     ("--download", args.download),
                                     ("--workers", args.workers is not None)) if on]
    if (args.aggregate_only or args.status) and running_flags:
        raise UserError(f"{modes[0]} runs nothing, so {', '.join(running_flags)} would be ignored")
    if args.workers is not None and args.executor != "local":
        raise UserError(f"--workers applies to --executor local only (got --executor {args.executor})")
    for flag in ("gpus", "cpus", "mem_gb", "time_min", "array_parallelism"):
        value = getattr(args, flag)
        if value is not None and value < (0 if flag == "gpus" else 1):
            raise UserError(f"--{flag.replace('_', '-')} must be at least {0 if flag == 'gpus' else 1}, "
                            f"got {value}")
    if args.max_num_timeout is not None and args.max_num_timeout < 0:
        raise UserError(f"--max-num-timeout must be >= 0, got {args.max_num_timeout}")
    slurm_given = [f"--{f.replace('_', '-')}" for f in SLURM_ONLY if getattr(args, f) is not None]
    if slurm_given and args.executor != "slurm":
        raise UserError(f"{', '.join(slurm_given)} only apply to --executor slurm")
    if args.time_min is not None and args.executor not in ("slurm", "local"):
        raise UserError("--time-min applies to --executor slurm or local only")
    if args.threads is not None:
        from bench.config import parse_threads

        parse_threads(args.threads)
    if args.device:
        from bench.run.checks import check_device  # torch: after every check that does without it

        check_device(args.device)


def dispatch(args: argparse.Namespace) -> int:
    from bench.errors import UserError
    from bench.plan.profile import check_profile_name
    from bench.plan.schema import read_yaml, suite_path

    if args.suite and not args.list:  # a bad suite file, profile or flag is told before torch loads
        path = suite_path(args.suite)
        check_profile_name(path, read_yaml(path).get("profiles"), args.profile)
        check_flags(args)
    from bench import api
    from bench.config import parse_threads
    from bench.registry import load_plugins
    from bench.run.checks import check_paths
    from bench.run.execution import Execution
    from bench.run.threads import default_workers

    load_plugins()  # the --plugin files given to this call, also when bench.api was imported before it
    if args.list:
        print(api.list_text())
        return 0
    if not args.suite:
        raise UserError("--suite is required (or --list to see the suites)")
    plan = api.plan_for(args.suite, args.profile, args.dataset, args.seeds, args.n_train, args.set,
                        args.experiment)
    threads = parse_threads(args.threads if args.threads is not None else plan.threads)
    workers = default_workers(plan.specs, threads) if args.workers is None else args.workers
    opts = Execution(executor=args.executor, workers=workers, rerun=args.rerun,
                     retry_failed=args.retry_failed, device=args.device,
                     data_root=api.data_root_for(plan, args.data_root, args.results_dir), results=args.results_dir,
                     download=args.download, threads=threads, accept_stale=args.accept_stale,
                     slurm={"partition": args.partition, "gpus": args.gpus, "cpus": args.cpus,
                            "mem_gb": args.mem_gb, "time_min": args.time_min,
                            "array_parallelism": args.array_parallelism,
                            "max_num_timeout": args.max_num_timeout})
    out_dir = Path(args.tables_dir) if args.tables_dir else api.default_tables_dir(plan, args.dataset, args.results_dir)
    aggregates = not (args.dry_run or args.status or (args.executor == "slurm" and not args.aggregate_only))
    check_paths(opts, out_dir, writes=not ((args.dry_run and not args.probe) or args.status), tables=aggregates)
    if args.dry_run:
        print(api.dry_run_text(plan, opts, run_probes=args.probe))
        return 0
    if args.status:
        print(api.status_text(plan, opts))
        return 0
    if not args.aggregate_only:
        api.run_suite(plan, opts)
        if args.executor == "slurm":
            return 0
    body, _, written = api.aggregate_suite(plan, opts, out_dir).rpartition("\n")
    code, verdict = api.outcome(plan, opts)
    print(f"{body}\n{verdict}; {written}" if body else f"{verdict}; {written}")
    return code


if __name__ == "__main__":
    sys.exit(main())
