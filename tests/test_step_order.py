"""Per data-free method: which optimiser steps in what order within one iteration, and
where gradients flow (through the teacher into the generator in the generator stage;
detached images in the student stage). Also the EMA update and the BN-moment term."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_pre_hook

from bench.context import RunContext
from bench.families.datafree import BNMomentLoss, ema_update
from tests.conftest import make_spec, run

TEACHER = make_spec("teacher", "cnn8", {"epochs": 1, "batch_size": 64, "lr": 0.05})


class Recorder(nn.Module):
    """Passes through to ``inner`` and logs each forward (role, whether the input and the
    output require grad) and each non-zero gradient that reaches its output."""

    def __init__(self, inner: nn.Module, role: str, log: list):
        super().__init__()
        self.inner, self.role, self.log = inner, role, log
        self.output_activation = getattr(inner, "output_activation", None)

    def forward(self, x, *args, **kwargs):
        out = self.inner(x, *args, **kwargs)
        first = out[0] if isinstance(out, tuple) else out
        self.log.append(("fwd", self.role, bool(x.requires_grad), bool(first.requires_grad)))
        if first.requires_grad:  # log the gradient that reaches this output in backward
            first.register_hook(lambda g: self.log.append(("grad", self.role, bool(g.abs().sum() > 0))))
        return out


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    path = tmp_path_factory.mktemp("order")
    run(TEACHER, path)
    return path


def trace(method: str, params: dict, results, monkeypatch) -> list[tuple]:
    """Run one iteration of ``method`` and return its events: forwards and optimiser steps."""
    log: list[tuple] = []
    roles: dict[int, str] = {}
    orig_teacher, orig_net, orig_gen = RunContext.teacher, RunContext.net, RunContext.generator_net

    def wrap(module: nn.Module, role: str) -> nn.Module:
        for p in module.parameters():
            roles[id(p)] = role
        return Recorder(module, role, log)

    monkeypatch.setattr(RunContext, "teacher", lambda self: wrap(orig_teacher(self), "teacher"))
    monkeypatch.setattr(RunContext, "net", lambda self, arch=None: wrap(orig_net(self, arch), "student"))
    monkeypatch.setattr(RunContext, "generator_net",
                        lambda self, arch, **kw: wrap(orig_gen(self, arch, **kw), "generator"))
    monkeypatch.setattr(RunContext, "evaluate", lambda self, model: 0.5)

    def on_step(opt, args, kwargs):
        owners = {roles.get(id(p), "other") for g in opt.param_groups for p in g["params"]}
        log.append(("step", "+".join(sorted(owners))))

    handle = register_optimizer_step_pre_hook(on_step)
    try:
        run(make_spec(method, "cnn8_half", {"epochs": 1, "iters_per_epoch": 1, "batch_size": 8,
                                            "ngf": 4, **params}, TEACHER), results)
    finally:
        handle.remove()
    return log


def steps(log: list[tuple]) -> list[str]:
    return [e[1] for e in log if e[0] == "step"]


def forwards_before_each_step(log: list[tuple]) -> list[tuple[str, list[tuple]]]:
    out, pending = [], []
    for e in log:
        if e[0] != "step":
            pending.append(e)
        else:
            out.append((e[1], pending))
            pending = []
    return out


def assert_generator_stage_flows_through_both_nets(stage: list[tuple]) -> None:
    grads = {e[1] for e in stage if e[0] == "grad" and e[2]}
    assert "teacher" in grads, "the generator loss must differentiate through the teacher"
    assert "student" in grads, "... and through the student"
    assert "generator" in grads


def assert_student_stage_on_detached_images(stage: list[tuple]) -> None:
    fwd = [e for e in stage if e[0] == "fwd"]
    assert all(not e[2] for e in fwd if e[1] == "student"), "student steps must use detached images"
    assert all(not e[3] for e in fwd if e[1] == "teacher"), "the teacher's targets carry no graph"
    assert {e[1] for e in stage if e[0] == "grad"} == {"student"}


def test_dfad_five_student_steps_then_one_generator_step(results, monkeypatch):
    log = trace("dfad", {}, results, monkeypatch)
    assert steps(log) == ["student"] * 5 + ["generator"]
    stages = forwards_before_each_step(log)
    for _, stage in stages[:5]:
        assert_student_stage_on_detached_images(stage)
    assert_generator_stage_flows_through_both_nets(stages[5][1])


def test_dafl_one_joint_step_generator_then_student(results, monkeypatch):
    log = trace("dafl", {}, results, monkeypatch)
    assert steps(log) == ["generator", "student"]
    (_, stage), _ = forwards_before_each_step(log)
    grads = {e[1] for e in stage if e[0] == "grad" and e[2]}
    assert {"teacher", "generator", "student"} <= grads, "DAFL's generator losses go through the teacher"
    assert all(not e[2] for e in stage if e[0] == "fwd" and e[1] == "student"), "KD on x.detach()"


@pytest.mark.parametrize("method,params,student_batches", [
    ("zskt", {"student_steps": 3}, 1),
    ("abm", {"generator_steps": 1, "student_steps": 3}, 1),
    ("dfkd_mem", {"generator_steps": 2, "student_steps": 3, "memory_size": 16}, 1),  # memory empty at first
    ("zskt_cmi", {"generator_steps": 1, "student_steps": 3}, 1),
    ("dfad_cmi", {"generator_steps": 2, "student_steps": 3}, 1),
])
def test_generator_steps_then_student_steps(method, params, student_batches, results, monkeypatch):
    log = trace(method, params, results, monkeypatch)
    n_g = params["generator_steps"] if "generator_steps" in params else 1
    assert steps(log) == ["generator"] * n_g + ["student"] * 3
    stages = forwards_before_each_step(log)
    for _, stage in stages[:n_g]:
        assert_generator_stage_flows_through_both_nets(stage)
    for _, stage in stages[n_g:]:
        assert_student_stage_on_detached_images(stage)
        assert sum(e[0] == "fwd" and e[1] == "student" for e in stage) == student_batches


def test_dafl_as_cmi_ran_it_trains_the_generator_through_the_teacher_only(results, monkeypatch):
    log = trace("dafl_cmi", {"student_steps": 2}, results, monkeypatch)
    assert steps(log) == ["generator", "student", "student"]
    (_, g_stage), *_ = forwards_before_each_step(log)
    grads = {e[1] for e in g_stage if e[0] == "grad" and e[2]}
    assert "teacher" in grads and "student" not in grads  # adv = 0: no adversarial term


def test_mad_generator_steps_ema_then_student_steps_on_both_generators(results, monkeypatch):
    log = trace("mad", {"generator_steps": 2, "student_steps": 3}, results, monkeypatch)
    assert steps(log) == ["generator"] * 2 + ["student"] * 3
    stages = forwards_before_each_step(log)
    for _, stage in stages[:2]:
        assert_generator_stage_flows_through_both_nets(stage)
    for _, stage in stages[2:]:
        assert_student_stage_on_detached_images(stage)
        # one batch from G and one from the momentum generator per student step
        assert sum(e[0] == "fwd" and e[1] == "student" for e in stage) == 2


def test_ema_update_moves_the_copy_by_one_minus_alpha():
    source = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    target = copy.deepcopy(source)
    with torch.no_grad():
        for p in source.parameters():
            p.add_(1.0)
        source[1].running_mean.fill_(7.0)
    before = [p.clone() for p in target.parameters()]
    ema_update(target, source, 0.95)
    for t, b, s in zip(target.parameters(), before, source.parameters()):
        assert torch.allclose(t, 0.95 * b + 0.05 * s)
    assert torch.equal(target[1].running_mean, source[1].running_mean)  # buffers copied
    frozen = [p.clone() for p in target.parameters()]
    ema_update(target, source, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, target.parameters()))


def test_bn_moment_loss_is_the_squared_distance_to_the_running_statistics():
    bn = nn.BatchNorm2d(2).eval()
    bn.running_mean.copy_(torch.tensor([1.0, -1.0]))
    bn.running_var.copy_(torch.tensor([2.0, 0.5]))
    net = nn.Sequential(nn.Identity(), bn)
    loss = BNMomentLoss(net)
    x = torch.zeros(4, 2, 3, 3)
    x[:, 0] = 3.0                       # channel 0: mean 3, var 0; channel 1: mean 0, var 0
    loss.active = True
    net(x)
    expected = (3 - 1) ** 2 + (0 + 1) ** 2 + (0 - 2) ** 2 + (0 - 0.5) ** 2
    assert loss.pop().item() == pytest.approx(expected)
    loss.active = False
    net(x)
    assert loss.pop().item() == 0.0     # inactive outside the generator stage
