"""What must hold before any run starts: the data the pending runs read loads and is large
enough, pretrained weights are on disk, the device exists, the folders can be written.
Each failure is a UserError (exit 2) with nothing trained and nothing finished touched."""
from __future__ import annotations

import os
from pathlib import Path

from bench.data.base import load_raw
from bench.nets.acgan import released_generator_file
from bench.errors import UserError
from bench.nets.weights import pretrained_file, weights_file
from bench.registry import DATASETS
from bench.run.execution import Execution
from bench.spec import RunSpec


def data_names(specs: list[RunSpec]) -> set[str]:
    """The datasets runs read: their own and KD's alternatives (``transfer: related:NAME``)."""
    names = {s.dataset for s in specs}
    return names | {str(s.config.get("transfer", "")).partition(":")[2] for s in specs} - {""}


def check_data(specs: list[RunSpec], opts: Execution) -> None:
    """Load every dataset the pending runs need (their own and KD's alternatives) before
    any run starts, so missing or damaged data, or a training-set size larger than the
    data, stops the sweep with a UserError (exit 2) up front; so do missing pretrained weights
    and a missing released generator file."""
    sizes, problems = {}, []
    for name in sorted(data_names(specs)):  # every dataset tried, so one error names all that are missing
        try:
            sizes[name] = len(load_raw(name, opts.data_root, opts.download).y_train)
        except UserError as exc:
            problems.append(str(exc))
        except (OSError, ValueError, RuntimeError, IndexError) as exc:  # a damaged file or folder layout
            problems.append(f"dataset {name!r} in {opts.data_root} cannot be loaded: {type(exc).__name__}: "
                            f"{str(exc)[:300]} (see docs/data.md for the layout it expects)")
    if len(problems) == 1:
        raise UserError(problems[0])
    if problems:
        raise UserError(f"{len(problems)} datasets cannot be loaded:\n" + "\n".join(f"  - {p}" for p in problems))
    for s in specs:
        if s.config.get("pretrained") is True:  # online nets from published weights: on disk, not fetched
            for arch in s.config.get("nets") or (s.student,):
                pretrained_file(arch)
        if s.config.get("released_generator"):  # a sampler loaded, not trained
            released_generator_file(str(s.config["released_generator"]), opts.data_root)
        if s.config.get("weights"):  # a teacher loaded, not trained
            weights_file(str(s.config["weights"]), s.student, f"{s.method} run on {s.dataset}")
        pooled = DATASETS.get(s.dataset).meta.get("split") == "random"  # tabular: the rest of the pool is the test set
        if s.n_train is not None and s.n_train >= sizes[s.dataset] + (0 if pooled else 1):
            raise UserError(f"n_train={s.n_train} is larger than {s.dataset}'s training set "
                            f"({sizes[s.dataset]} {'rows, some of which must be left to test on' if pooled else 'images'}) "
                            f"in {opts.data_root}")


def check_device(name: str) -> None:
    """An unknown or absent device is an error before any run starts."""
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UserError(f"--device {name!r} is not a torch device; accepted: cpu, cuda, cuda:N, mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UserError(f"--device {name}: no CUDA device is available here; use --device cpu")
        if device.index is not None and device.index >= count:
            raise UserError(f"--device {name}: only {count} CUDA device(s) (cuda:0..cuda:{count - 1})")
    elif device.type == "mps" and not torch.backends.mps.is_available():
        raise UserError(f"--device {name}: MPS is not available here; use --device cpu")
    elif device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"--device {name}: device type {device.type!r} is not supported; use cpu, cuda or mps")


def check_paths(opts: Execution, out_dir: Path, writes: bool, tables: bool) -> None:
    """The results dir (and the tables dir when this command writes tables) must be usable."""
    places = [("--results-dir", Path(opts.results))] + ([("--tables-dir", out_dir)] if tables else [])
    for flag, path in places:
        if path.exists() and not path.is_dir():
            raise UserError(f"{flag} {path} is a file, not a directory; pass a directory")
        if not writes:
            continue
        try:
            path.mkdir(parents=True, exist_ok=True)
            probe = path / f".write-probe.{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise UserError(f"{flag} {path} is not writable ({exc.strerror or exc}); "
                            "pass a directory you can write to") from None
