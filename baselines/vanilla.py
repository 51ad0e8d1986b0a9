"""Vanilla: each net trained alone with cross-entropy (AFD Tables 1-6's "Vanilla" column).

The pair's nets are trained side by side on the same batches without any coupling, so the
vanilla row has the same per-net, average and ensemble columns as the online methods and
their gains over it compare like with like (AFD §4.3 "(+x%)"). With ``train: false`` the
nets are evaluated as they start: AFD Table 6's Vanilla is torchvision's pretrained
ResNet-18 / ResNet-34 as published (69.76 / 73.27 on ImageNet), not trained further.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch.nn.functional as F

from bench.context import RunContext
from bench.families.online import COHORT_METRICS, OnlineRecipe, Peers, build_nets, train_joint
from bench.registry import METHODS


@dataclass(frozen=True)
class VanillaConfig(OnlineRecipe):
    """Nets alone, on the online methods' schedule (P:afd §4)."""

    train: bool = True
    """False: evaluate the starting nets without training (AFD Table 6: the pretrained nets)."""


@METHODS.register("vanilla", config=VanillaConfig, family="online", paper="afd", label="Vanilla", metrics=COHORT_METRICS)
def vanilla(ctx: RunContext, cfg: VanillaConfig) -> dict[str, float]:
    cohort = Peers(build_nets(ctx, cfg))
    recipe = cfg if cfg.train else dataclasses.replace(cfg, epochs=0)
    return train_joint(ctx, recipe, cohort, lambda out, y, _: sum(F.cross_entropy(z, y) for z in out.logits))
