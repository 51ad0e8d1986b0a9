"""Losses against values computed by hand."""
from __future__ import annotations

import math

import pytest
import torch

from bench.losses import IMITATION_LOSSES, kd_kl, l1_logits, l2_logits, mse_logits

S = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
T = torch.tensor([[0.0, 1.0], [0.0, 0.0]])


def test_kd_kl_matches_hand_computation():
    # row 1: p_t = softmax([0,1]) = (a, b), p_s = softmax([1,0]) = (b, a); row 2: identical -> 0
    a, b = 1 / (1 + math.e), math.e / (1 + math.e)
    row1 = a * math.log(a / b) + b * math.log(b / a)
    assert kd_kl(S, T, 1.0).item() == pytest.approx(row1 / 2, rel=1e-6)  # batchmean
    assert kd_kl(S, T, 1.0, reduction="mean").item() == pytest.approx(row1 / 4, rel=1e-6)


def test_kd_kl_temperature_scaling():
    # at T=2 the logits are halved and the loss is multiplied by T^2 = 4
    a, b = 1 / (1 + math.exp(0.5)), math.exp(0.5) / (1 + math.exp(0.5))
    row1 = a * math.log(a / b) + b * math.log(b / a)
    assert kd_kl(S, T, 2.0).item() == pytest.approx(4 * row1 / 2, rel=1e-6)


def test_kd_kl_does_not_backprop_into_teacher():
    t = T.clone().requires_grad_(True)
    s = S.clone().requires_grad_(True)
    kd_kl(s, t, 3.0).backward()
    assert t.grad is None and s.grad is not None


def test_logit_losses_hand_values():
    assert l1_logits(S, T).item() == pytest.approx(2 / 4)   # |1|+|1| over 4 entries
    assert mse_logits(S, T).item() == pytest.approx(2 / 4)
    assert l2_logits(S, T).item() == pytest.approx(0.5 * 2 / 2)  # 0.5*sum/B
    assert IMITATION_LOSSES["mse+mae"](S, T).item() == pytest.approx(1.0)
    assert IMITATION_LOSSES["kl"](S, S).item() == pytest.approx(0.0, abs=1e-7)


def test_generator_side_kl_flows_through_the_teacher():
    t = T.clone().requires_grad_(True)
    s = S.clone().requires_grad_(True)
    kd_kl(s, t, 1.0, detach_teacher=False).backward()
    assert t.grad is not None and t.grad.abs().sum() > 0
