"""Seconds per iteration of the official DFAD and DAFL codes, run from a local checkout.

Each timing runs in a process of its own, as the script runs (glibc's default allocator;
optionally bench/allocator.py's settings), with the given torch threads, after one untimed
iteration. Nothing of the official code is copied or edited: it is imported or executed
from the user's checkout with shims that let the 2019 code start on today's libraries on a
CPU, none of them touching the timed loop (each is named where it is set).

    python -m bench.official dfad PATH mnist|cifar10 N THREADS   # prints seconds per iteration
    python -m bench.official dafl PATH mnist N THREADS
"""
from __future__ import annotations

import importlib
import os
import runpy
import subprocess
import sys
import tempfile
import time
import types
from argparse import Namespace
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]

DFAD = {  # C:DFAD DFAD_mnist.py / DFAD_cifar.py main(): nets, batch, nz and optimisers
    "mnist": dict(module="DFAD_mnist", teacher=("lenet", "LeNet5", {}), student=("lenet", "LeNet5Half", {}),
                  nz=100, nc=1, batch_size=512, lr_s=0.01, weight_decay=1e-4),
    "cifar10": dict(module="DFAD_cifar", teacher=("resnet_8x", "ResNet34_8x", {"num_classes": 10}),
                    student=("resnet_8x", "ResNet18_8x", {"num_classes": 10}),
                    nz=256, nc=3, batch_size=256, lr_s=0.1, weight_decay=5e-4),
}
DAFL = {  # C:DAFL README, MNIST: DAFL-train.py's defaults are the MNIST setting (batch 512, lr_G 0.2, lr_S 2e-3)
    "mnist": dict(script="DAFL-train.py", args=["--dataset", "MNIST", "--channels", "1", "--n_epochs", "1"]),
}
CODES = {"dfad": (DFAD, "DFAD_mnist.py", "github.com/VainF/Data-Free-Adversarial-Distillation"),
         "dafl": (DAFL, "DAFL-train.py", "github.com/huawei-noah/Efficient-Computing "
                                         "(Data-Efficient-Model-Compression/DAFL)")}


def official_timer(method: str, path: Path, dataset: str, threads: int,
                   our_allocator: bool = False) -> Callable[[int], float]:
    """A function timing ``n`` iterations of ``method``'s official code at ``path`` (exit 2 when
    the checkout or the dataset's setting is missing)."""
    settings, marker, where = CODES[method]
    if dataset not in settings:
        print(f"error: no official {method.upper()} setting for {dataset!r}; known: {', '.join(settings)}",
              file=sys.stderr)
        raise SystemExit(2)
    if not (path / marker).is_file():
        print(f"error: --official-{method} {path}: {marker} not found there (give a checkout of {where})",
              file=sys.stderr)
        raise SystemExit(2)
    env = {k: v for k, v in os.environ.items() if k != "GLIBC_TUNABLES"} | {"BENCH_MALLOC": "default"}
    if our_allocator:
        from bench.allocator import TUNABLES

        env["GLIBC_TUNABLES"] = TUNABLES

    def timed(n: int) -> float:
        out = subprocess.run([sys.executable, "-m", "bench.official", method, str(path), dataset, str(n),
                              str(threads)], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
        return float(out.stdout.strip().splitlines()[-1])

    return timed


def dfad_seconds(path: Path, dataset: str, n: int) -> float:
    """The official DFAD ``train()`` for one untimed, then ``n`` timed iterations.

    Shims: ``torchvision.models.utils`` (gone from torchvision; its segmentation nets import it)
    and ``visdom`` (DFAD_cifar.py builds a plotter at import)."""
    import torch

    setting = DFAD[dataset]
    utils = types.ModuleType("torchvision.models.utils")
    utils.load_state_dict_from_url = torch.hub.load_state_dict_from_url
    sys.modules.setdefault("torchvision.models.utils", utils)
    visdom = types.ModuleType("visdom")
    visdom.Visdom = lambda *a, **k: types.SimpleNamespace(line=lambda *a, **k: None, image=lambda *a, **k: None,
                                                          images=lambda *a, **k: None)
    sys.modules.setdefault("visdom", visdom)
    sys.path.insert(0, str(path))
    script = importlib.import_module(setting["module"])
    network = importlib.import_module("network")

    def build(spec):
        module, name, kwargs = spec
        return getattr(getattr(network, module), name)(**kwargs)

    teacher, student = build(setting["teacher"]).eval(), build(setting["student"])
    generator = network.gan.GeneratorA(nz=setting["nz"], nc=setting["nc"], img_size=32)
    opt_s = torch.optim.SGD(student.parameters(), lr=setting["lr_s"], weight_decay=setting["weight_decay"],
                            momentum=0.9)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    args = Namespace(batch_size=setting["batch_size"], nz=setting["nz"], epoch_itrs=1, log_interval=10 ** 9,
                     verbose=False)
    cpu = torch.device("cpu")
    script.train(args, teacher, student, generator, cpu, [opt_s, opt_g], 1)  # warm-up
    args.epoch_itrs = n
    started = time.perf_counter()
    script.train(args, teacher, student, generator, cpu, [opt_s, opt_g], 1)
    return (time.perf_counter() - started) / n


class _Timed(Exception):
    """Raised from the last timed optimiser step: the script has run long enough."""


def dafl_seconds(path: Path, dataset: str, n: int) -> float:
    """DAFL-train.py as its README runs it, stopped after one untimed and ``n`` timed iterations.

    The script trains at module level, so it is executed as ``__main__`` and timed at its
    optimiser steps: each iteration ends with the generator's, then the student's Adam step.
    Shims, set before it runs: ``.cuda()`` of tensors and modules returns them on the CPU
    (the code calls it unconditionally); ``torch.load`` reads its pickled teacher with
    ``weights_only=False`` (today's default refuses whole modules); the teacher is the code's
    own ``lenet.LeNet5`` at its initial weights (speed does not depend on them); the MNIST test
    set, read after 120 iterations, is never reached and is not loaded."""
    import torch
    import torchvision.datasets.mnist as tv_mnist

    sys.path.insert(0, str(path))
    lenet = importlib.import_module("lenet")
    folder = tempfile.mkdtemp(prefix="dafl-official-")
    torch.save(lenet.LeNet5(), os.path.join(folder, "teacher"))
    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self
    load = torch.load
    torch.load = lambda f, *a, **k: load(f, *a, **{**k, "weights_only": False})
    tv_mnist.MNIST = lambda *a, **k: []
    stamps: list[float] = []
    step = torch.optim.Adam.step

    def timed_step(self, *a, **k):
        out = step(self, *a, **k)
        stamps.append(time.perf_counter())
        if len(stamps) == 2 * (n + 1):
            raise _Timed
        return out

    torch.optim.Adam.step = timed_step
    sys.argv = [DAFL[dataset]["script"], *DAFL[dataset]["args"], "--teacher_dir", folder + os.sep,
                "--output_dir", folder + os.sep, "--data", folder]
    try:
        runpy.run_path(str(path / DAFL[dataset]["script"]), run_name="__main__")
    except _Timed:
        pass
    return (stamps[-1] - stamps[1]) / n  # from the end of the untimed iteration to the end of the last


def main() -> int:
    method, path, dataset, n, threads = sys.argv[1:6]
    import torch

    torch.set_num_threads(int(threads))
    seconds = {"dfad": dfad_seconds, "dafl": dafl_seconds}[method]
    print(seconds(Path(path), dataset, int(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
