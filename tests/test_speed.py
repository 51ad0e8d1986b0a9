"""The speed optimisations change no number: a DFAD run with them gives, bit for bit,
the curve and generator of the same run without them (nearest upsampling through
``F.interpolate``, out-of-place LeakyReLUs, the student's weight gradients computed in the
generator step)."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench.nets.generators import NearestUp2
from bench.results.store import Store
from tests.conftest import make_spec, run, run_cli


def run_speed(*args: str) -> tuple[int, str]:
    """``tools.speed.main(args)`` in this process: its exit code and what it printed to stderr."""
    from tools.speed import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(list(args))
        except SystemExit as exc:
            code = exc.code
    return code, err.getvalue()


def dfad_outputs(results) -> tuple[pd.DataFrame, dict]:
    spec = make_spec("dfad", "cnn8_half", {"epochs": 2, "iters_per_epoch": 2, "batch_size": 64, "ngf": 16},
                     teacher=make_spec("teacher", "cnn8", {"epochs": 1, "batch_size": 64, "lr": 0.05}))
    run(spec.teacher, results)
    run(spec, results)
    store = Store(results)
    curve = pd.read_csv(store.artefact(spec.run_id, "curve.csv")).drop(columns="wall_s")
    return curve, torch.load(store.artefact(spec.run_id, "generator.pt"))


def test_optimised_dfad_gives_the_numbers_of_the_plain_code(tmp_path, monkeypatch):
    fast_curve, fast_generator = dfad_outputs(tmp_path / "fast")
    monkeypatch.setattr(NearestUp2, "forward", lambda self, x: F.interpolate(x, scale_factor=2))
    monkeypatch.setattr(nn.LeakyReLU, "forward", lambda self, x: F.leaky_relu(x, self.negative_slope))
    monkeypatch.setattr("methods.dfad.frozen", lambda *modules: contextlib.nullcontext())
    plain_curve, plain_generator = dfad_outputs(tmp_path / "plain")
    pd.testing.assert_frame_equal(fast_curve, plain_curve, check_exact=True)
    assert all(torch.equal(fast_generator[k], plain_generator[k]) for k in plain_generator)


def test_nearest_upsampling_matches_interpolate_forward_and_backward():
    x = torch.randn(3, 5, 7, 9, requires_grad=True)
    g = torch.randn(3, 5, 14, 18)
    ours, theirs = NearestUp2()(x), F.interpolate(x, scale_factor=2)
    assert torch.equal(ours, theirs)
    assert torch.equal(torch.autograd.grad(ours, x, g)[0], torch.autograd.grad(theirs, x, g)[0])


def test_frozen_students_take_no_gradient_and_get_their_flags_back():
    from bench.train import frozen

    net = nn.Linear(3, 2)
    net.bias.requires_grad_(False)
    x = torch.randn(4, 3, requires_grad=True)
    with frozen(net):
        net(x).sum().backward()
    assert net.weight.grad is None and x.grad is not None
    assert net.weight.requires_grad and not net.bias.requires_grad


def test_a_probe_times_a_few_steps_of_the_runs_own_loop_and_is_cached(tmp_path):
    from bench.run.probe import cached_probe, probe_cached

    spec = make_spec("dfad", "cnn8_half", {"epochs": 3, "iters_per_epoch": 4, "batch_size": 32, "ngf": 8},
                     teacher=make_spec("teacher", "cnn8", {"epochs": 1}))
    result = probe_cached(spec, tmp_path, ".")
    assert result.total_steps == 12 and result.evaluations == 3 and result.data == "real"
    assert 0 < result.step_s < 5 and result.eval_s > 0 and result.images_per_step == 32 * 6
    assert result.flops_per_step > 0
    assert cached_probe(tmp_path, spec, 1, "cpu") == result  # read back from <results>/probes/
    assert cached_probe(tmp_path, spec, 2, "cpu") is None     # another thread count is another probe


@pytest.mark.slow
def test_a_probe_stands_in_for_absent_data_with_its_official_size(tmp_path):
    from bench.run.probe import probe

    spec = make_spec("teacher", "resnet8_half", {"epochs": 2, "batch_size": 500}, dataset="cifar10")
    result = probe(spec, tmp_path, count_flops=False)  # no CIFAR-10 under tmp_path
    assert result.data == "stand-in" and result.total_steps == 2 * 100  # 50,000 images / 500 per batch
    assert result.evaluations == 2 and result.eval_s > 0


@pytest.mark.slow
def test_dry_run_estimates_from_probes_and_probe_needs_dry_run(dirs):
    base = ["--suite", "dfkd_small", "--profile", "smoke", "--results-dir", str(dirs["results"])]
    out = run_cli(*base, "--dry-run")
    assert "not probed yet" in out.stdout and out.returncode == 0
    out = run_cli(*base, "--dry-run", "--probe")
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(x for x in out.stdout.splitlines() if x.startswith("estimated cost"))
    assert "from probes on this machine" in line and "not probed" not in line
    assert run_cli(*base, "--dry-run").stdout.count("from probes on this machine") == 1  # cached probes
    refused = run_cli(*base, "--probe")
    assert refused.returncode == 2 and "--probe goes with --dry-run" in refused.stderr


def test_the_command_line_reexecutes_once_with_the_allocator_settings():
    import os
    import subprocess
    import sys

    from bench.run.allocator import TUNABLES

    code = "from bench.run.allocator import reexec_with_tunables as r; r(); import os; print(os.environ['GLIBC_TUNABLES'])"
    env = {k: v for k, v in os.environ.items() if k not in ("GLIBC_TUNABLES", "BENCH_MALLOC")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == TUNABLES
    off = subprocess.run([sys.executable, "-c", code.replace("print(os.environ['GLIBC_TUNABLES'])",
                                                            "print(os.environ.get('GLIBC_TUNABLES', 'unset'))")],
                         capture_output=True, text=True, env={**env, "BENCH_MALLOC": "default"}, check=True)
    assert off.stdout.strip() == "unset"


@pytest.mark.slow
@pytest.mark.parametrize("method, script, where", [
    ("dfad", "DFAD_mnist.py", ["--dataset", "mnist"]), ("dafl", "DAFL-train.py", ["--dataset", "mnist"]),
    ("zskt", "solver.py", ["--dataset", "cifar10"]),
    ("one", "cifar_one.py", ["--suite", "afd_cifar100", "--dataset", "cifar100", "--pair", "resnet32-x3"]),
])
def test_speed_refuses_an_official_path_without_the_script(tmp_path, method, script, where):
    code, err = run_speed(*where, "--method", method, f"--official-{method}", str(tmp_path), "--out", str(tmp_path / "out"))
    assert code == 2 and f"{script} not found" in err and "Traceback" not in err


@pytest.mark.slow
def test_speed_names_what_it_cannot_time_and_goes_on(tmp_path):
    """Tree teachers and fitted models train in no steps: each gets a line, not a traceback or a NaN row."""
    code, err = run_speed("--suite", "gantsc_tabular", "--profile", "smoke", "--method", "teacher", "gan_tsc",
                          "--iterations", "1", "--out", str(tmp_path / "out"))
    assert code == 2 and "Traceback" not in err
    assert "teacher breast_cancer: not timed" in err and "gan_tsc breast_cancer: not timed (its teacher" in err
    assert "nothing was timed" in err and not (tmp_path / "out").exists()


FAKE_DAFL = '''
import argparse, time
import torch
from torchvision.datasets.mnist import MNIST
parser = argparse.ArgumentParser()
for flag in ("--dataset", "--channels", "--n_epochs", "--teacher_dir", "--output_dir", "--data"):
    parser.add_argument(flag)
opt = parser.parse_args()
teacher = torch.load(opt.teacher_dir + "teacher").cuda()   # CUDA-only at module level, as the original
data_test = MNIST(opt.data, train=False)
generator, student = torch.nn.Linear(2, 2).cuda(), torch.nn.Linear(2, 2).cuda()
optimizer_G = torch.optim.Adam(generator.parameters())
optimizer_S = torch.optim.Adam(student.parameters())
for i in range(120):
    time.sleep(0.05)
    loss = generator(torch.ones(1, 2).cuda()).sum() + student(torch.ones(1, 2).cuda()).sum() + teacher.l.weight.sum()
    loss.backward()
    optimizer_G.step()
    optimizer_S.step()
raise SystemExit("ran past the timed iterations")
'''


@pytest.mark.slow
def test_the_official_dafl_script_is_timed_at_its_optimiser_steps_on_a_cpu(tmp_path):
    """A stand-in with DAFL-train.py's shape (module-level loop, .cuda() everywhere, a pickled
    teacher, the MNIST test set): the worker runs it on a CPU and stops after the timed iterations."""
    import os
    import subprocess
    import sys

    (tmp_path / "DAFL-train.py").write_text(FAKE_DAFL)
    (tmp_path / "lenet.py").write_text("import torch.nn as nn\n\nclass LeNet5(nn.Module):\n"
                                       "    def __init__(self):\n        super().__init__()\n"
                                       "        self.l = nn.Linear(1, 1)\n")
    out = subprocess.run([sys.executable, "-m", "tools.official", "dafl", str(tmp_path), "mnist", "3", "1"],
                         capture_output=True, text=True, env={**os.environ, "BENCH_MALLOC": "default"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert 0.045 < float(out.stdout.strip().splitlines()[-1]) < 0.5  # the 50 ms each iteration sleeps


FAKE_ZSKT_SELECTOR = '''
import torch.nn as nn

def select_model(dataset, model_name, pretrained=False, pretrained_models_path=None):
    import os, torch
    model = nn.Linear(2, 2)
    if pretrained:
        path = os.path.join(pretrained_models_path, dataset, model_name, "last.pth.tar")
        model.load_state_dict(torch.load(path, map_location="cpu")["state_dict"])
    return model
'''

FAKE_ZSKT_SOLVER = '''
import time
import torch
import tensorflow  # the code's logger imports it: the timer stubs it
from models.selector import select_model

def get_test_loader(args):
    raise SystemExit("the test set is not read")

class ZeroShotKTSolver:
    def __init__(self, args):
        self.args = args
        self.teacher = select_model(args.dataset, args.teacher_architecture, True, args.pretrained_models_path)
        self.student = select_model(args.dataset, args.student_architecture)
        self.generator = torch.nn.Linear(2, 2)
        self.test_loader = get_test_loader(args)
        self.opt_g = torch.optim.Adam(self.generator.parameters())
        self.opt_s = torch.optim.Adam(self.student.parameters())

    def run(self):
        for _ in range(self.args.total_n_pseudo_batches):
            for opt, steps in ((self.opt_g, self.args.n_generator_iter), (self.opt_s, self.args.n_student_iter)):
                for _ in range(steps):
                    time.sleep(0.01)
                    (self.student(self.generator(torch.ones(1, 2))) - self.teacher(torch.ones(1, 2))).sum().backward()
                    opt.step()
        raise SystemExit("ran past the timed pseudo batches")
'''

FAKE_ONE_EVAL = '''
def accuracy(output, target, topk=(1,)):
    _, pred = output.topk(max(topk), 1, True, True)
    correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
    return [correct[:k].view(-1).float().sum(0).mul_(100.0 / target.size(0)) for k in topk]
'''

FAKE_ONE = '''
import argparse, time
import torch
import torchvision.datasets as datasets
import torchvision.transforms as transforms
from utils import accuracy
parser = argparse.ArgumentParser()
for flag in ("-a", "--dataset", "--depth", "--epochs", "--consistency_rampup", "--gamma", "--wd", "--checkpoint"):
    parser.add_argument(flag)
parser.add_argument("--schedule", nargs="+")
args = parser.parse_args()

def main():
    trainset = datasets.CIFAR100(root="./data", train=True, download=True, transform=transforms.ToTensor())
    loader = torch.utils.data.DataLoader(trainset, batch_size=8, shuffle=True, num_workers=2)
    model = torch.nn.DataParallel(torch.nn.Linear(3 * 32 * 32, 100)).cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for inputs, targets in loader:
        if False:
            inputs, targets = inputs.cuda(), targets.cuda(async=True)
        time.sleep(0.05)
        outputs = model(inputs.flatten(1))
        loss_kl = outputs.sum() * 0
        loss = torch.nn.functional.cross_entropy(outputs, targets) + loss_kl
        prec1, prec5 = accuracy(outputs.data, targets.data, topk=(1, 5))
        record = (loss.data[0], loss_kl.data[0], prec1[0], prec5[0])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    raise SystemExit("ran past the timed iterations")

if __name__ == "__main__":
    main()
'''


def official_seconds(method: str, checkout: Path, dataset: str, n: int) -> float:
    import os
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "tools.official", method, str(checkout), dataset, str(n), "1"],
                         capture_output=True, text=True, env={**os.environ, "BENCH_MALLOC": "default"})
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_the_official_zskt_solver_is_timed_per_pseudo_batch_with_its_teacher_file_and_no_test_set(tmp_path):
    """A stand-in with the shape of ZSKT's solver.py: built from main.py's flags, the teacher
    read from <path>/CIFAR10/WRN-40-2/last.pth.tar, tensorflow imported; 1 + 10 Adam steps of
    10 ms make a pseudo batch of ~110 ms."""
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "__init__.py").write_text("")
    (tmp_path / "models" / "selector.py").write_text(FAKE_ZSKT_SELECTOR)
    (tmp_path / "solver.py").write_text(FAKE_ZSKT_SOLVER)
    assert 0.1 < official_seconds("zskt", tmp_path, "cifar10", 2) < 0.6


@pytest.mark.slow
def test_the_official_one_script_runs_with_its_pytorch_03_idioms_rewritten_and_is_timed_per_batch(tmp_path):
    """A stand-in with cifar_one.py's idioms (``async=True``, ``loss.data[0]``, accuracy's
    ``.view(-1)`` of a transposed slice, .cuda(), DataParallel, CIFAR-100 through DataLoader
    workers): it runs on a CPU, stops after the timed batches, and the checkout is untouched."""
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "__init__.py").write_text("from .eval import *\n")
    (tmp_path / "utils" / "eval.py").write_text(FAKE_ONE_EVAL)
    (tmp_path / "cifar_one.py").write_text(FAKE_ONE)
    assert 0.045 < official_seconds("one", tmp_path, "cifar100", 3) < 0.5
    assert (tmp_path / "cifar_one.py").read_text() == FAKE_ONE  # rewritten in memory only


@pytest.mark.slow
def test_speed_refuses_a_pair_the_profile_lacks_and_an_official_code_that_fails(tmp_path):
    one = ("--suite", "afd_cifar100", "--dataset", "cifar100", "--method", "one", "--out", str(tmp_path / "out"))
    code, err = run_speed(*one, "--pair", "resnet99-x3")
    assert code == 2 and "--pair resnet99-x3" in err and "resnet32-x3" in err and "Traceback" not in err
    (tmp_path / "cifar_one.py").write_text("print('a later version of the script')\n")  # no idiom to rewrite
    (tmp_path / "utils").mkdir()
    (tmp_path / "utils" / "__init__.py").write_text("from . import eval\n")
    (tmp_path / "utils" / "eval.py").write_text("def accuracy(*a): pass\n")
    code, err = run_speed(*one, "--pair", "resnet32-x3", "--official-one", str(tmp_path))
    assert code == 2 and "the official ONE code at" in err and "no longer holds" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
