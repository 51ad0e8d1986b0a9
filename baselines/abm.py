"""ABM / ZSKT: Zero-shot KD via adversarial belief matching (Micaelli & Storkey 2019;
methods_spec §15). The game itself lives in bench/belief_matching.py (shared with
DFKD-Mem); this file holds ZSKT's defaults. MAD's "ABM" baseline is the same game in
MAD's settings without AT (set those in the suite: see dfkd_small's MAD experiments).
ZSKT reports the final accuracy (``acc_last``); both are logged."""
from __future__ import annotations

from dataclasses import dataclass

from bench.belief_matching import BeliefMatchingConfig, belief_matching
from bench.context import RunContext
from bench.registry import METHODS


@dataclass(frozen=True)
class ABMConfig(BeliefMatchingConfig):
    """ZSKT CIFAR-10 defaults (C:ZSKT main.py, scripts/ZeroShot)."""

    epochs: int = 100
    """80,000 pseudo batches, tested every total/100 -> 100 x 800."""
    iters_per_epoch: int = 800
    """See ``epochs``."""
    batch_size: int = 128
    """C:ZSKT: batch 128."""
    nz: int = 100
    """C:ZSKT: z dimension 100."""
    ngf: int = 64
    """C:ZSKT generator: widths 128/64."""
    generator: str = "zskt_generator"
    """C:ZSKT models/generator.py (BN-affine output, no tanh)."""
    generator_steps: int = 1
    """C:ZSKT: n_G = 1."""
    student_steps: int = 10
    """C:ZSKT CIFAR-10: n_S = 10 (SVHN 7)."""
    fixed_noise: bool = True
    """C:ZSKT: one z per pseudo batch."""
    student_optimizer: str = "adam"
    """C:ZSKT: Adam."""
    lr_student: float = 2e-3
    """C:ZSKT: student lr 2e-3."""
    lr_generator: float = 1e-3
    """C:ZSKT: generator lr 1e-3."""
    schedule: str = "cosine"
    """C:ZSKT: cosine annealing of both lrs to 0."""
    grad_clip: float = 5.0
    """C:ZSKT: gradient-norm clip 5."""
    temperature: float = 1.0
    """C:ZSKT: KL_temperature 1."""
    kl_reduction: str = "mean"
    """C:ZSKT: PyTorch-1.0 F.kl_div default (element mean)."""
    at_beta: float = 250.0
    """C:ZSKT: attention-transfer weight 250 (0 for MAD's ABM baseline)."""
    memory_size: int = 0
    """No memory (that is DFKD-Mem)."""


@METHODS.register("abm", config=ABMConfig, family="data_free", paper="zskt (baseline in mad)",
                  needs_teacher=True, label="ABM")
def abm(ctx: RunContext, cfg: ABMConfig) -> dict[str, float]:
    return belief_matching(ctx, cfg)
