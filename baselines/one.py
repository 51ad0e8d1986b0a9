"""ONE: on-the-fly native ensemble (Lan et al. 2018; methods_spec §7).

One multi-branch net: the lower layers of a CIFAR ResNet / WRN are shared (stem and the
first two stages), each of the m branches is its own copy of the last stage and classifier,
and a gate (global average pool of the shared map -> FC -> BN -> ReLU -> softmax) weighs
the branches' logits into the ensemble z_e = sum_i g_i z_i, the teacher of every branch:
L = sum_i CE(z_i) + CE(z_e) + w(t) * sum_i T^2 KL(softmax(z_e / T) || softmax(z_i / T)),
z_e detached, T = 3, w(t) = exp(-5 (1 - min(t, R) / R)^2) with R = 80 epochs, one SGD step
per batch. Branches must share one architecture (AFD Table 4 omits ONE for that reason).
The number of branches is the pair's net count (AFD Tables 3 and 5 report ONE's 2- and
3-net averages; ONE's own default is m = 3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.context import RunContext
from bench.errors import UserError
from bench.losses import kd_kl
from bench.families.online import COHORT_METRICS, OnlineRecipe, Outputs, build_nets, require_nets, train_joint
from bench.registry import METHODS


@dataclass(frozen=True)
class ONEConfig(OnlineRecipe):
    """ONE with AFD's schedule (P:afd §4; C:ONE scripts/ONE_ResNet32.sh agrees)."""

    temperature: float = 3.0
    """C:ONE cifar_one.py: T = 3."""
    rampup_epochs: float = 80.0
    """C:ONE utils/ramps.py: sigmoid ramp-up of the consistency weight over 80 epochs (read here
    per batch on the fractional epoch; the code steps it per epoch)."""

    def __post_init__(self):
        if self.rampup_epochs < 0:
            raise ValueError(f"rampup_epochs must be >= 0, got {self.rampup_epochs}")
        if len(set(self.nets)) > 1:
            raise ValueError(f"ONE shares its lower layers between branches, so they have one architecture; "
                             f"got nets {', '.join(self.nets)} (AFD Table 4 leaves ONE out for this reason)")


def rampup(t: float, length: float) -> float:
    """exp(-5 (1 - min(t, R) / R)^2): 0.0067 at t = 0, 1 from t = R on (1 when R = 0)."""
    if length == 0:
        return 1.0
    phase = 1.0 - min(t, length) / length
    return math.exp(-5.0 * phase * phase)


class Gate(nn.Module):
    """ONE's gate: GAP of the shared map -> FC -> BN -> ReLU -> softmax over branches."""

    def __init__(self, channels: int, branches: int):
        super().__init__()
        self.fc = nn.Linear(channels, branches)
        self.bn = nn.BatchNorm1d(branches)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.softmax(F.relu(self.bn(self.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1)))), dim=1)


class OneNet(nn.Module):
    """Shared trunk, branches and gate built from K nets of one architecture: the trunk is
    net 1's, branch k is net k's last stage and classifier."""

    def __init__(self, nets: list[nn.Module], input_shape: tuple[int, ...]):
        super().__init__()
        parts = [net.trunk_and_branch() for net in nets]
        self.trunk = parts[0][0]
        self.branches = nn.ModuleList(branch for _, branch in parts)
        with torch.no_grad():
            channels = self.trunk.eval()(torch.zeros(1, *input_shape)).shape[1]
        self.gate = Gate(channels, len(nets))

    def forward(self, x: torch.Tensor) -> Outputs:
        h = self.trunk(x)
        logits, features = zip(*(branch(h) for branch in self.branches))
        ensemble = (self.gate(h).unsqueeze(2) * torch.stack(logits, dim=1)).sum(dim=1)
        return Outputs(list(logits), list(features), ensemble)


def one_loss(out: Outputs, y: torch.Tensor, weight: float, temperature: float) -> torch.Tensor:
    teacher = out.ensemble.detach()
    return (sum(F.cross_entropy(z, y) for z in out.logits) + F.cross_entropy(out.ensemble, y)
            + weight * sum(kd_kl(z, teacher, temperature) for z in out.logits))


@METHODS.register("one", config=ONEConfig, family="online", paper="afd", label="ONE", metrics=COHORT_METRICS)
def one(ctx: RunContext, cfg: ONEConfig) -> dict[str, float]:
    archs = cfg.architectures(ctx.spec.student)
    require_nets(archs, 2, "ONE")
    nets = build_nets(ctx, cfg)
    if not hasattr(nets[0], "trunk_and_branch"):
        raise UserError(f"ONE needs a net that splits into a shared trunk and branches (CIFAR ResNets, WRNs); "
                        f"{archs[0]!r} does not")
    cohort = OneNet(nets, ctx.data.input_shape).to(ctx.device)
    return train_joint(ctx, cfg, cohort,
                       lambda out, y, t: one_loss(out, y, rampup(t, cfg.rampup_epochs), cfg.temperature))
