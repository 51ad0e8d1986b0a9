"""MAD: Momentum Adversarial Distillation (Do et al. NeurIPS 2022; methods_spec §17).

ABM's game plus a momentum (EMA) copy Ĝ of the generator: after every generator
stage, theta_Ĝ <- alpha*theta_Ĝ + (1-alpha)*theta_G (Eq. 7), and the student imitates
the teacher on fresh samples of both G (weight lambda0) and Ĝ (lambda1), so it keeps
the knowledge of the generator's past distributions (Eq. 10). The game, with its logit
bounds, BN moment matching and large-scale options, is shared with ABM and DFKD-Mem in
bench/families/momentum_game.py; MAD is that game with the momentum generator on. Both best and
last accuracy are logged (MAD does not say which it reports).
"""
from __future__ import annotations

from dataclasses import dataclass

from bench.context import RunContext
from bench.families.momentum_game import MADGameConfig, momentum_game
from bench.registry import METHODS


@dataclass(frozen=True)
class MADConfig(MADGameConfig):
    """MAD's CIFAR WRN-40-2 -> WRN-16-2 defaults (see MADGameConfig)."""

    ema: bool = True
    """P:mad Eq. 7: the momentum generator is MAD's contribution."""


@METHODS.register("mad", config=MADConfig, family="data_free", paper="mad", needs_teacher=True,
                  label="MAD")
def mad(ctx: RunContext, cfg: MADConfig) -> dict[str, float]:
    return momentum_game(ctx, cfg)
