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
from bench.registry import METHODS


@dataclass(frozen=True)
class DFKDMemConfig(BeliefMatchingConfig):
    """MAD's small-dataset setting for WRN-40-2 -> WRN-16-2 (P:mad Tables 5-7) + memory."""

    epochs: int = 300
    """P:mad Table 6: 300 epochs."""
    iters_per_epoch: int = 50
    """P:mad Table 6: 50 steps per epoch."""
    batch_size: int = 256
    """P:mad Table 6: batch 256."""
    nz: int = 256
    """P:mad: d_z = 256."""
    ngf: int = 32
    """P:mad Table 8a: widths 256/128/64/32."""
    generator: str = "mad_generator"
    """P:mad §5.2.2: DFKD-Mem uses MAD's generator."""
    generator_steps: int = 3
    """P:mad Table 5: n_G = 3."""
    student_steps: int = 60
    """P:mad Table 5: n_S = 60 (WRN; ResNet 30)."""
    fixed_noise: bool = False
    """P:mad: fresh noise at every step."""
    student_optimizer: str = "sgd"
    """P:mad Table 5: SGD."""
    lr_student: float = 1e-2
    """P:mad Table 5: lr 1e-2."""
    weight_decay: float = 5e-4
    """P:mad Table 5: wd 5e-4."""
    lr_generator: float = 1e-3
    """P:mad Table 5: Adam 1e-3."""
    generator_weight_decay: float = 5e-4
    """P:mad Table 5: wd_G 5e-4 (OCR-ambiguous)."""
    schedule: str = "multistep"
    """P:mad Table 6: lr x0.1 at epochs 100, 200."""
    lr_milestones: tuple[int, ...] = (100, 200)
    """See ``schedule``."""
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
