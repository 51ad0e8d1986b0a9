"""The optimisations of issue 12 change no number: a DFAD run with them gives, bit for bit,
the curve and generator of the same run without them (nearest upsampling through
``F.interpolate``, out-of-place LeakyReLUs, the student's weight gradients computed in the
generator step)."""
from __future__ import annotations

import contextlib

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from bench.nets.generators import NearestUp2
from bench.store import Store
from tests.conftest import make_spec, run


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
    from bench.datafree import frozen

    net = nn.Linear(3, 2)
    net.bias.requires_grad_(False)
    x = torch.randn(4, 3, requires_grad=True)
    with frozen(net):
        net(x).sum().backward()
    assert net.weight.grad is None and x.grad is not None
    assert net.weight.requires_grad and not net.bias.requires_grad
