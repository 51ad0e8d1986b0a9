"""Distillation losses shared by the methods (reductions as in methods_spec §0)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def kd_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
          reduction: str = "batchmean") -> torch.Tensor:
    """T^2 * KL(softmax(z_t/T) || softmax(z_s/T)), target detached (Hinton et al. 2015).

    ``batchmean`` sums over classes and averages over the batch; ``mean`` also divides
    by the number of classes (old PyTorch default used by ZSKT and the peterliht code).
    """
    t = temperature
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax(teacher_logits.detach() / t, dim=1)
    if reduction not in ("batchmean", "mean"):
        raise ValueError(f"reduction must be 'batchmean' or 'mean', got {reduction!r}")
    kl = F.kl_div(log_p_s, log_p_t, reduction="batchmean", log_target=True)
    if reduction == "mean":
        kl = kl / student_logits.shape[1]
    return kl * t * t


def l1_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over batch and classes (DFAD's imitation loss, Eq. 5)."""
    return (student_logits - teacher_logits).abs().mean()


def mse_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """Mean squared error over batch and classes (DFAD Fig. 4's MSE variant)."""
    return (student_logits - teacher_logits).pow(2).mean()


def l2_logits(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """0.5 * sum_c (z_s - z_t)^2 / B (Ba & Caruana; TF l2_loss / B)."""
    return 0.5 * (student_logits - teacher_logits).pow(2).sum() / student_logits.shape[0]


IMITATION_LOSSES = {
    "mae": l1_logits,
    "mse": mse_logits,
    "kl": lambda s, t: kd_kl(s, t, 1.0),
    "mse+mae": lambda s, t: mse_logits(s, t) + l1_logits(s, t),
}
"""Logit-imitation losses compared in DFAD Fig. 4 (the student minimises, G maximises)."""
