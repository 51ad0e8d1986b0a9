"""DFKD-Mem: adversarial data-free KD with a memory bank (Binici et al. WACV 2022), as
run inside the MAD paper (P:mad §5.2.2, App. B.2; methods_spec §16a): MAD's game in
MAD's setting without the momentum generator, plus a FIFO memory of past synthetic
images replayed to the student with the same imitation loss. Official code not found:
how samples enter the memory and the replay batch size are unconfirmed (here: each
iteration's last generator batch is pushed; B memory images are drawn per student step)."""
from __future__ import annotations

from dataclasses import dataclass

from bench.context import RunContext
from bench.families.momentum_game import MADGameConfig, momentum_game
from bench.registry import METHODS


@dataclass(frozen=True)
class DFKDMemConfig(MADGameConfig):
    """MAD's setting and losses (see MADGameConfig), no momentum generator, a memory."""

    ema: bool = False
    """DFKD-Mem has no momentum generator."""
    memory_size: int = 8192
    """P:mad App. B.2: memory of 8,192 samples (Fig. 7 sweeps 1,024-8,192); what enters it and
    the replay batch are unconfirmed (harness: last generator batch; B images per step)."""


@METHODS.register("dfkd_mem", config=DFKDMemConfig, family="data_free", paper="dfkd-mem (baseline in mad)",
                  needs_teacher=True, label="DFKD-Mem")
def dfkd_mem(ctx: RunContext, cfg: DFKDMemConfig) -> dict[str, float]:
    return momentum_game(ctx, cfg)
