"""DFKD-Mem: adversarial data-free KD with a memory bank (Binici et al. WACV 2022),
as run inside the MAD paper (P:mad §5.2.2, App. B.2; methods_spec §16a): MAD's
adversarial setting plus a FIFO memory of past synthetic images replayed to the
student with the same KL loss. Official code not found: how samples enter the memory
and the replay batch size are unconfirmed (here: each pseudo batch's last G batch is
pushed; B memory images are drawn uniformly per student step)."""
from __future__ import annotations

from dataclasses import dataclass

from bench.belief_matching import BeliefMatchingConfig, belief_matching
from bench.context import RunContext
from bench.datafree import MADSetting
from bench.registry import METHODS


@dataclass(frozen=True)
class DFKDMemConfig(MADSetting, BeliefMatchingConfig):
    """MAD's setting (MADSetting's values win over ZSKT's) plus the game choices MAD makes,
    and the memory (P:mad §5.2.2, App. B.2)."""

    fixed_noise: bool = False
    """P:mad: fresh noise at every step."""
    student_optimizer: str = "sgd"
    """P:mad Table 5: SGD."""
    schedule: str = "multistep"
    """P:mad Table 6: lr x0.1 at epochs 100, 200 (``lr_milestones``)."""
    grad_clip: float = 0.0
    """MAD states no clipping."""
    kl_reduction: str = "batchmean"
    """KL(T||S) at T=1, summed over classes, averaged over the batch."""
    at_beta: float = 0.0
    """No attention transfer in MAD's setting."""
    memory_size: int = 8192
    """P:mad App. B.2: memory of 8,192 samples (Fig. 7 sweeps 1,024-8,192)."""


@METHODS.register("dfkd_mem", config=DFKDMemConfig, family="data_free", paper="dfkd-mem (baseline in mad)",
                  needs_teacher=True, label="DFKD-Mem")
def dfkd_mem(ctx: RunContext, cfg: DFKDMemConfig) -> dict[str, float]:
    return belief_matching(ctx, cfg)
