"""Seconds per iteration of the official DFAD, DAFL, ZSKT and ONE codes, run from a local checkout.

Each timing runs in a process of its own, as the script runs (glibc's default allocator;
optionally bench/run/allocator.py's settings), with the given torch threads, after one untimed
iteration. Nothing of the official code is copied or edited: it is imported or executed
from the user's checkout with shims that let the 2019 code start on today's libraries on a
CPU, none of them touching the timed loop (each is named where it is set).

    python -m tools.official dfad PATH mnist|cifar10 N THREADS   # prints seconds per iteration
    python -m tools.official dafl PATH mnist N THREADS
    python -m tools.official zskt PATH cifar10 N THREADS
    python -m tools.official one PATH cifar100 N THREADS

KDGAN's official code (github.com/xiaojiew1/KDGAN) is TensorFlow 1 with tf.contrib.slim, which
no TensorFlow for Python 3.11 provides: it cannot be timed here.
"""
from __future__ import annotations

import functools
import importlib
import importlib.machinery
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
ZSKT = {  # C:ZSKT scripts/ZeroShot (CIFAR-10) and main.py's flags; MAD's WRN-40-2 -> WRN-16-2 pair
    "cifar10": dict(dataset="CIFAR10", teacher="WRN-40-2", student="WRN-16-2", batch_size=128, z_dim=100,
                    n_generator_iter=1, n_student_iter=10, student_learning_rate=2e-3,
                    generator_learning_rate=1e-3, KL_temperature=1.0, AT_beta=250.0),
}
ONE = {  # C:ONE scripts/ONE_ResNet32.sh (three ResNet-32 branches; the script's own -j 4 workers)
    "cifar100": dict(classes=100, args=["-a", "one_resnet", "--dataset", "cifar100", "--depth", "32",
                                        "--epochs", "300", "--consistency_rampup", "80", "--schedule", "151", "225",
                                        "--gamma", "0.1", "--wd", "1e-4", "--checkpoint", "checkpoints"]),
}
CODES = {"dfad": (DFAD, "DFAD_mnist.py", "github.com/VainF/Data-Free-Adversarial-Distillation"),
         "dafl": (DAFL, "DAFL-train.py", "github.com/huawei-noah/Efficient-Computing "
                                         "(Data-Efficient-Model-Compression/DAFL)"),
         "zskt": (ZSKT, "solver.py", "github.com/polo5/ZeroShotKnowledgeTransfer"),
         "one": (ONE, "cifar_one.py", "github.com/Lan1991Xu/ONE_NeurIPS2018")}


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
        from bench.run.allocator import TUNABLES

        env["GLIBC_TUNABLES"] = TUNABLES

    def timed(n: int) -> float:
        out = subprocess.run([sys.executable, "-m", "tools.official", method, str(path), dataset, str(n),
                              str(threads)], cwd=ROOT, env=env, capture_output=True, text=True)
        if out.returncode != 0:  # e.g. another version of the code, where a shim or rewrite does not apply
            last = (out.stderr.strip().splitlines() or ["no message"])[-1]
            print(f"error: the official {method.upper()} code at {path} failed: {last}", file=sys.stderr)
            raise SystemExit(2)
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


def _on_the_cpu() -> None:
    """Shim: ``.cuda()`` of tensors and modules returns them where they are (codes that call
    it unconditionally run on a CPU)."""
    import torch

    torch.Tensor.cuda = lambda self, *a, **k: self
    torch.nn.Module.cuda = lambda self, *a, **k: self


def _stamped_steps(optimizer: type, steps: int) -> list[float]:
    """Times of ``optimizer``'s steps; the ``steps``-th raises ``_Timed``. Time is taken after
    each step, so one iteration of k steps runs from the end of one k-th step to the next."""
    stamps: list[float] = []
    step = optimizer.step

    def timed_step(self, *a, **k):
        out = step(self, *a, **k)
        stamps.append(time.perf_counter())
        if len(stamps) == steps:
            raise _Timed
        return out

    optimizer.step = timed_step
    return stamps


def _per_iteration(stamps: list[float], steps_per_iteration: int, n: int) -> float:
    """Seconds per iteration after the first (untimed) one."""
    return (stamps[-1] - stamps[steps_per_iteration - 1]) / n


def _rewritten(script: Path, rewrites: dict[str, str]):
    """``script`` compiled after replacing text of its source (idioms today's Python or PyTorch
    refuse, each named where it is given); nothing is written to the checkout."""
    source = script.read_text()
    for old, new in rewrites.items():
        if old not in source:
            raise RuntimeError(f"{script.name} no longer holds {old!r}: the rewrite does not apply to this checkout")
        source = source.replace(old, new)
    return compile(source, str(script), "exec")


def _run_script(script: Path, argv: list[str], rewrites: dict[str, str] | None = None) -> None:
    """Execute ``script`` as ``__main__`` with ``argv`` (its source ``_rewritten`` when
    ``rewrites`` are given) until ``_Timed`` stops it."""
    sys.argv = [script.name, *argv]
    try:
        if rewrites:
            exec(_rewritten(script, rewrites), {"__name__": "__main__", "__file__": str(script)})
        else:
            runpy.run_path(str(script), run_name="__main__")
    except _Timed:
        return
    raise RuntimeError(f"{script.name} ended before the timed iterations")


def dafl_seconds(path: Path, dataset: str, n: int) -> float:
    """DAFL-train.py as its README runs it, stopped after one untimed and ``n`` timed iterations.

    The script trains at module level, so it is executed as ``__main__`` and timed at its
    optimiser steps: each iteration ends with the generator's, then the student's Adam step.
    Shims, set before it runs: ``.cuda()`` (``_on_the_cpu``); ``torch.load`` reads its pickled
    teacher with ``weights_only=False`` (today's default refuses whole modules); the teacher is
    the code's own ``lenet.LeNet5`` at its initial weights (speed does not depend on them); the
    MNIST test set, read after 120 iterations, is never reached and is not loaded."""
    import torch
    import torchvision.datasets.mnist as tv_mnist

    sys.path.insert(0, str(path))
    lenet = importlib.import_module("lenet")
    folder = tempfile.mkdtemp(prefix="dafl-official-")
    torch.save(lenet.LeNet5(), os.path.join(folder, "teacher"))
    _on_the_cpu()
    load = torch.load
    torch.load = lambda f, *a, **k: load(f, *a, **{**k, "weights_only": False})
    tv_mnist.MNIST = lambda *a, **k: []
    stamps = _stamped_steps(torch.optim.Adam, 2 * (n + 1))
    _run_script(path / DAFL[dataset]["script"], [*DAFL[dataset]["args"], "--teacher_dir", folder + os.sep,
                                                 "--output_dir", folder + os.sep, "--data", folder])
    return _per_iteration(stamps, 2, n)


def zskt_seconds(path: Path, dataset: str, n: int) -> float:
    """ZSKT's ``ZeroShotKTSolver.run()`` (solver.py) for one untimed and ``n`` timed pseudo batches.

    A pseudo batch is n_G generator steps, then n_S student steps (Adam each), on one noise
    batch; it is timed at those steps. The solver is built from ``ZSKT`` below as main.py
    builds it from its flags (the CIFAR-10 script's values). Shims: ``tensorflow`` (only its
    summary writer is built, for logging never reached) and ``scipy.misc`` where SciPy has
    dropped it; the teacher's ``last.pth.tar`` holds the code's own WRN at its initial weights;
    the test loader is empty (the test runs after the timed batches, never reached)."""
    import torch

    setting = ZSKT[dataset]
    tensorflow = types.ModuleType("tensorflow")
    tensorflow.__spec__ = importlib.machinery.ModuleSpec("tensorflow", None)  # torch._dynamo looks it up
    tensorflow.summary = types.SimpleNamespace(FileWriter=lambda *a, **k: None)
    sys.modules.setdefault("tensorflow", tensorflow)
    try:
        importlib.import_module("scipy.misc")
    except ImportError:
        sys.modules["scipy.misc"] = types.ModuleType("scipy.misc")
    sys.path.insert(0, str(path))
    selector = importlib.import_module("models.selector")
    solver = importlib.import_module("solver")
    solver.get_test_loader = lambda args: []
    folder = Path(tempfile.mkdtemp(prefix="zskt-official-"))
    weights = folder / setting["dataset"] / setting["teacher"] / "last.pth.tar"
    weights.parent.mkdir(parents=True)
    torch.save({"state_dict": selector.select_model(setting["dataset"], setting["teacher"]).state_dict()}, weights)
    per_iteration = setting["n_generator_iter"] + setting["n_student_iter"]
    args = Namespace(**{k: v for k, v in setting.items() if k not in ("teacher", "student")},
                     teacher_architecture=setting["teacher"], student_architecture=setting["student"],
                     total_n_pseudo_batches=n + 1, log_freq=10 ** 9, save_n_checkpoints=0, save_final_model=False,
                     pretrained_models_path=str(folder), log_directory_path=str(folder / "logs"),
                     save_model_path=str(folder / "logs"), experiment_name="timing", dataset_path=str(folder),
                     use_gpu=False, device=torch.device("cpu"), workers=0)
    stamps = _stamped_steps(torch.optim.Adam, per_iteration * (n + 1))
    try:
        solver.ZeroShotKTSolver(args).run()
    except _Timed:
        return _per_iteration(stamps, per_iteration, n)
    raise RuntimeError("solver.run() ended before the timed pseudo batches")


class _StandInImages:
    """Shim for torchvision's CIFAR classes: ``size`` copies of one random 32x32 RGB image with
    cycling labels, through the script's own transforms (the cost of decoding from memory)."""

    def __init__(self, root=None, train=True, download=False, transform=None, classes=100, **_):
        from PIL import Image
        import numpy as np

        self.image = Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))
        self.size, self.transform, self.classes = (50_000 if train else 10_000), transform, classes

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int):
        return (self.transform(self.image) if self.transform else self.image), i % self.classes


def one_seconds(path: Path, dataset: str, n: int) -> float:
    """ONE's cifar_one.py as its ResNet-32 script runs it, stopped after one untimed and ``n``
    timed iterations (an iteration is one batch: one SGD step).

    The script is PyTorch 0.3 code: three idioms are rewritten in its source before it is
    compiled (``async=True`` -> ``non_blocking=True``, a syntax error since Python 3.7, on a
    line the CPU never runs; ``.data[0]`` of a loss -> ``.item()``, the number 0.3 returned;
    in utils/eval.py's ``accuracy``, ``.view(-1)`` of a transposed slice -> ``.reshape(-1)``,
    which today's PyTorch requires there, and its ``.sum(0)`` keeps 0.3's one-element shape).
    Shims: ``.cuda()`` (``_on_the_cpu``; ``DataParallel`` on a CPU calls the model); CIFAR's
    images are ``_StandInImages`` of the official count, augmented by the script's transforms
    in its own DataLoader workers."""
    import torch
    import torchvision.datasets

    setting = ONE[dataset]
    _on_the_cpu()
    stand_in = functools.partial(_StandInImages, classes=setting["classes"])
    torchvision.datasets.CIFAR10 = torchvision.datasets.CIFAR100 = stand_in
    sys.path.insert(0, str(path))
    utils = importlib.import_module("utils")
    exec(_rewritten(path / "utils" / "eval.py", {"correct[:k].view(-1).float().sum(0)":
                                                           "correct[:k].reshape(-1).float().sum(0, keepdim=True)"}),
         vars(utils.eval))
    utils.accuracy = utils.eval.accuracy
    os.chdir(tempfile.mkdtemp(prefix="one-official-"))
    stamps = _stamped_steps(torch.optim.SGD, n + 1)
    _run_script(path / "cifar_one.py", setting["args"],
                rewrites={"async=True": "non_blocking=True", "loss_kl.data[0]": "loss_kl.item()",
                          "loss.data[0]": "loss.item()"})
    return _per_iteration(stamps, 1, n)


def main() -> int:
    method, path, dataset, n, threads = sys.argv[1:6]
    import torch

    torch.set_num_threads(int(threads))
    seconds = {"dfad": dfad_seconds, "dafl": dafl_seconds, "zskt": zskt_seconds, "one": one_seconds}[method]
    print(seconds(Path(path), dataset, int(n)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
