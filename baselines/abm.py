"""ABM as MAD runs it: ZSKT's adversarial belief matching "trained with exactly the same
settings" as MAD, without attention transfer (P:mad §5.1; methods_spec §15, §17), i.e.
MAD's game with the momentum generator switched off (P:mad Fig. 3: ``no_ema`` = ABM).
ZSKT as its own code runs it is ``zskt`` (baselines/zskt.py)."""
from __future__ import annotations

from dataclasses import dataclass

from bench.context import RunContext
from bench.families.momentum_game import MADGameConfig, momentum_game
from bench.registry import METHODS


@dataclass(frozen=True)
class ABMConfig(MADGameConfig):
    """MAD's setting and losses (see MADGameConfig) without the momentum generator."""

    ema: bool = False
    """P:mad Fig. 3: ABM is MAD without the EMA generator."""


@METHODS.register("abm", config=ABMConfig, family="data_free", paper="zskt (baseline in mad)",
                  needs_teacher=True, label="ABM")
def abm(ctx: RunContext, cfg: ABMConfig) -> dict[str, float]:
    return momentum_game(ctx, cfg)
