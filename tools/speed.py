"""Speed benchmarks: seconds per iteration of any method at any profile's setting (beside
the official code where it is installed locally), and how fast the command line answers.

    python -m tools.speed --suite dfkd_small --profile paper --dataset mnist --method dfad dafl
    python -m tools.speed --suite dfkd_small --profile paper --dataset mnist cifar10 --method dfad \\
        --official-dfad PATH/TO/Data-Free-Adversarial-Distillation --pairs 5
    python -m tools.speed --cli

Iterations are timed by probes (bench/run/probe.py: the run's own method, stopped after a few
steps). With ``--official-dfad`` / ``--official-dafl`` / ``--official-zskt`` / ``--official-one``
each pair times ours and the official code (tools/official.py: DFAD_mnist.py / DFAD_cifar.py's
``train()``, DAFL-train.py, ZSKT's solver, ONE's cifar_one.py) on the same
setting, threads and machine, alternating which goes first; the table gives min / median
seconds per iteration and the median of the pairs' ratios. Ours runs as ``run_all.py`` runs
it (with bench/run/allocator.py's glibc settings), the official code in a process of its own as
its script runs (glibc's defaults). GFLOP/s counts
one iteration with torch's FLOP counter; % of peak divides by the CPU's fp32 peak (cores x
clock x FLOPs per cycle from its vector units). Tables go to ``--out`` (default
``tables/speed/``) as Markdown and CSV.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_peak_gflops(threads: int) -> float:
    """fp32 peak of ``threads`` cores: clock (max MHz) x FLOPs per cycle (2 FMA units x lanes x 2)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return math.nan
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), [])
    per_cycle = 64 if "avx512f" in flags else 32 if {"avx2", "fma"} <= set(flags) else 8
    mhz = math.nan
    for path in ("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq",):
        try:
            mhz = int(Path(path).read_text()) / 1000
        except (OSError, ValueError):
            pass
    if math.isnan(mhz):
        mhz = max((float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")),
                  default=math.nan)
    return threads * mhz * per_cycle / 1000


# ----------------------------------------------------------------------------- iterations
def iteration_rows(args: argparse.Namespace) -> list[dict]:
    from bench.data.base import default_data_root
    from bench.results.fingerprint import numerics
    from bench.plan.grid import load_plan
    from tools.official import official_timer
    from bench.run.probe import NotProbeable, probe
    from bench.registry import load_plugins

    load_plugins()
    plan = load_plan(args.suite, args.profile, args.dataset)
    wanted = set(args.method or [])
    pairs = {job.pair for job in plan.runs}
    unknown = sorted(set(args.pair or []) - pairs)
    if unknown:
        print(f"error: --pair {' '.join(unknown)}: not a pair of {args.suite}'s {args.profile} profile; "
              f"its pairs: {', '.join(sorted(p for p in pairs if p))}", file=sys.stderr)
        raise SystemExit(2)
    specs = {}
    for job in plan.runs:
        if args.pair and job.pair not in args.pair:
            continue
        if (not wanted or job.spec.method in wanted) and (job.spec.method, job.spec.dataset) not in specs:
            specs[(job.spec.method, job.spec.dataset)] = job.spec
    data_root = args.data_root or str(default_data_root())
    peak = cpu_peak_gflops(args.threads)
    rows = []
    for (method, dataset), spec in specs.items():
        numerics(args.threads, "cpu")
        officials = {}
        checkout = {"dfad": args.official_dfad, "dafl": args.official_dafl, "zskt": args.official_zskt,
                    "one": args.official_one}.get(method)
        if checkout:
            officials["official"] = official_timer(method, Path(checkout), dataset, args.threads)
            if args.official_our_allocator:
                officials["official (our allocator)"] = official_timer(method, Path(checkout), dataset, args.threads,
                                                                       our_allocator=True)
        ours, theirs, same_alloc, ratios, first = [], [], [], [], None
        for pair in range(args.pairs):
            order = ["ours", *officials] if pair % 2 == 0 else [*officials, "ours"]
            times = {}
            for who in order:
                if who == "ours":
                    try:
                        result = probe(spec, data_root, args.threads, warmup=1, measure=args.iterations,
                                       count_flops=first is None)
                    except NotProbeable as exc:  # e.g. a fitted scikit-learn teacher: no steps to time
                        print(f"{method} {dataset}: not timed ({exc})", file=sys.stderr, flush=True)
                        break
                    if result.step_s != result.step_s:  # NaN: fitted, not trained in steps (trees)
                        print(f"{method} {dataset}: not timed (no training steps)", file=sys.stderr, flush=True)
                        break
                    first = first or result
                    times[who] = result.step_s
                else:
                    times[who] = officials[who](args.iterations)
            if "ours" not in times:
                break
            ours.append(times["ours"])
            if "official" in times:
                theirs.append(times["official"])
                ratios.append(times["ours"] / times["official"])
            if "official (our allocator)" in times:
                same_alloc.append(times["official (our allocator)"])
            print(f"{method} {dataset} pair {pair + 1}: " + ", ".join(f"{k} {v:.2f} s/it" for k, v in times.items()),
                  file=sys.stderr, flush=True)
        if not ours:
            continue
        median = statistics.median(ours)
        gflops = first.flops_per_step / median / 1e9
        rows.append({"method": method, "dataset": dataset, "profile": args.profile, "threads": args.threads,
                     "batch": spec.config.get("batch_size"), "s/it min": round(min(ours), 2),
                     "s/it median": round(median, 2),
                     "official s/it min": round(min(theirs), 2) if theirs else "",
                     "official s/it median": round(statistics.median(theirs), 2) if theirs else "",
                     "ours/official (median of pairs)": round(statistics.median(ratios), 3) if ratios else "",
                     **({"official with our allocator s/it median": round(statistics.median(same_alloc), 2)}
                        if same_alloc else {}),
                     "images/s": round(first.images_per_step / median, 1),
                     "GFLOP/it": round(first.flops_per_step / 1e9, 1), "GFLOP/s": round(gflops, 1),
                     "% of peak": round(100 * gflops / peak, 1) if peak == peak else "", "data": first.data})
    return rows


# ----------------------------------------------------------------------------- command line
CLI_COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "--list": [sys.executable, str(ROOT / "run_all.py"), "--list"],
    "--dry-run (dfkd_small paper grid)": [sys.executable, str(ROOT / "run_all.py"), "--suite", "dfkd_small",
                                          "--profile", "paper", "--dry-run"],
    "--status (dfkd_small)": [sys.executable, str(ROOT / "run_all.py"), "--suite", "dfkd_small", "--status"],
}


def cli_rows(repeats: int, rerun: list[str] | None) -> list[dict]:
    """Median wall seconds of each command over ``repeats`` interleaved rounds."""
    commands = dict(CLI_COMMANDS)
    if rerun:
        commands["rerun of a finished suite: " + " ".join(rerun)] = [sys.executable, str(ROOT / "run_all.py"), *rerun]
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, cmd in commands.items():
            started = time.perf_counter()
            subprocess.run(cmd, cwd=ROOT, capture_output=True, check=False, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            times[name].append(time.perf_counter() - started)
    base = statistics.median(times["import torch"])
    return [{"command": name, "median s": round(statistics.median(t), 2), "min s": round(min(t), 2),
             "x import torch": round(statistics.median(t) / base, 2)} for name, t in times.items()]


def markdown(rows: list[dict]) -> str:
    import pandas as pd

    from bench.report.tables import to_markdown

    return to_markdown(pd.DataFrame(rows).set_index(next(iter(rows[0]))))


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # ours as run_all.py runs it (bench/run/allocator.py)
        from bench.run.allocator import reexec_with_tunables

        reexec_with_tunables()
    p = argparse.ArgumentParser(prog="python -m tools.speed", description=__doc__.split("\n\n")[0])
    p.add_argument("--cli", action="store_true", help="time the command line instead of iterations")
    p.add_argument("--repeats", type=int, default=7, help="--cli: interleaved rounds (median reported)")
    p.add_argument("--rerun", nargs=argparse.REMAINDER, help="--cli: also time these run_all.py arguments")
    p.add_argument("--suite", default="dfkd_small")
    p.add_argument("--profile", default="paper")
    p.add_argument("--dataset", action="append", nargs="+", help="datasets of the profile to time")
    p.add_argument("--method", nargs="+", help="methods to time (default: every method of the grid)")
    p.add_argument("--pair", nargs="+", help="pairs of the profile to time (default: each method's first)")
    p.add_argument("--iterations", type=int, default=2, help="timed iterations per measurement (after one warm-up)")
    p.add_argument("--pairs", type=int, default=1, help="measurements, alternating with the official code")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--data-root")
    p.add_argument("--official-dfad", help="a checkout of github.com/VainF/Data-Free-Adversarial-Distillation")
    p.add_argument("--official-dafl", help="the DAFL folder of a checkout of github.com/huawei-noah/Efficient-Computing "
                                           "(Data-Efficient-Model-Compression/DAFL)")
    p.add_argument("--official-zskt", help="a checkout of github.com/polo5/ZeroShotKnowledgeTransfer")
    p.add_argument("--official-one", help="a checkout of github.com/Lan1991Xu/ONE_NeurIPS2018")
    p.add_argument("--official-our-allocator", action="store_true",
                   help="also time the official code under bench/run/allocator.py's glibc settings")
    p.add_argument("--out", default=str(ROOT / "tables" / "speed"))
    args = p.parse_args(argv)
    args.dataset = [d for group in args.dataset for d in group] if args.dataset else None
    rows = cli_rows(args.repeats, args.rerun) if args.cli else iteration_rows(args)
    name = "cli" if args.cli else "_".join(["iterations", args.suite, args.profile, *(args.dataset or []),
                                            *(args.method or []), *(args.pair or [])])
    if not rows:
        print("nothing was timed: no method of this selection trains in steps", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import platform

    header = (f"# {name}\n\n`python -m tools.speed {' '.join(argv if argv is not None else sys.argv[1:])}` on "
              f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
              f"{time.strftime('%Y-%m-%d')}\n\n")
    (out / f"{name}.md").write_text(header + markdown(rows) + "\n")
    import pandas as pd

    pd.DataFrame(rows).to_csv(out / f"{name}.csv", index=False)
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
