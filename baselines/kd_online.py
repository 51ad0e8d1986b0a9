"""Online KD: AFD Table 4's "KD" row (P:afd §4.4; methods_spec §10).

"For KD, we use the ensemble of the two sub-networks as a teacher to mimic at every
iteration": each net minimises CE + T^2 KL(softmax(z_ens / T) || softmax(z_k / T)) with
z_ens the mean of the nets' logits, detached; all nets step together from one forward.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.context import RunContext
from bench.losses import kd_kl
from bench.families.online import COHORT_METRICS, OnlineRecipe, Peers, build_nets, require_nets, train_joint
from bench.registry import METHODS


@dataclass(frozen=True)
class KDOnlineConfig(OnlineRecipe):
    """Online KD with AFD's schedule (P:afd §4)."""

    temperature: float = 3.0
    """P:afd §3.1 uses T = 3 "for every experiment"; §4.4 gives KD's T nowhere (harness choice: 3)."""


@METHODS.register("kd_online", config=KDOnlineConfig, family="online", paper="afd", label="KD", metrics=COHORT_METRICS)
def kd_online(ctx: RunContext, cfg: KDOnlineConfig) -> dict[str, float]:
    archs = cfg.architectures(ctx.spec.student)
    require_nets(archs, 2, "online KD")
    cohort = Peers(build_nets(ctx, cfg))

    def loss(out, y, progress):
        teacher = torch.stack(out.logits).mean(dim=0).detach()
        return sum(F.cross_entropy(z, y) + kd_kl(z, teacher, cfg.temperature) for z in out.logits)

    return train_joint(ctx, cfg, cohort, loss)
