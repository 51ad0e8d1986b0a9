"""Distillation losses shared by the methods (reductions as in methods_spec §0)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def per_pixel(logits: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) segmentation logits as (B*H*W, C) rows, one per pixel; (B, C) as is."""
    return logits.movedim(1, -1).reshape(-1, logits.shape[1]) if logits.dim() > 2 else logits


def kd_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0,
          reduction: str = "batchmean", detach_teacher: bool = True) -> torch.Tensor:
    """T^2 * KL(softmax(z_t/T) || softmax(z_s/T)) (Hinton et al. 2015).

    ``batchmean`` sums over classes and averages over the batch; ``mean`` also divides
    by the number of classes (old PyTorch default used by ZSKT and the peterliht code).
    The teacher's logits are a fixed target for the student; a generator maximising
    the KL passes ``detach_teacher=False`` so its gradient flows through both nets.
    Segmentation logits (B, C, H, W) count each pixel as one example (``per_pixel``).
    """
    t = temperature
    student_logits, teacher_logits = per_pixel(student_logits), per_pixel(teacher_logits)
    log_p_s = F.log_softmax(student_logits / t, dim=1)
    log_p_t = F.log_softmax((teacher_logits.detach() if detach_teacher else teacher_logits) / t, dim=1)
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


def attention(activation: torch.Tensor) -> torch.Tensor:
    """Zagoruyko & Komodakis attention map: L2-normalised mean over channels of A^2."""
    return F.normalize(activation.pow(2).mean(dim=1).flatten(1), dim=1)


def attention_transfer(student_acts: list[torch.Tensor], teacher_acts: list[torch.Tensor]) -> torch.Tensor:
    """Sum over stages of mean((a(A_s) - a(A_t))^2) (ZSKT's AT term, before its beta)."""
    return sum((attention(s) - attention(t.detach())).pow(2).mean()
               for s, t in zip(student_acts, teacher_acts))


def logit_bound(logits: torch.Tensor, bound: float) -> torch.Tensor:
    """mean(max(|z| - delta, 0)): MAD's penalty keeping logits (and NaNs) in check (Eqs. 10-11)."""
    return F.relu(logits.abs() - bound).mean()


def class_balance_entropy(logits: torch.Tensor) -> torch.Tensor:
    """sum_c p̄_c log10 p̄_c with p̄ the batch-mean softmax (DAFL's L_ie, minimised).

    Base 10 as in the official DAFL code; p̄ clamped to avoid log(0) (methods_spec §20.5);
    on segmentation logits p̄ is the mean over the batch's pixels.
    """
    p_mean = F.softmax(per_pixel(logits), dim=1).mean(dim=0).clamp_min(1e-12)
    return (p_mean * torch.log10(p_mean)).sum()


def distn_mse(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
              temperature: float, soft_weight: float) -> torch.Tensor:
    """DISTN as KDGAN's code runs it (C:KDGAN gen_model.py, methods_spec §2):
    ((1 - l) * CE + l * T^2 * MSE(z_s / T, z_t / T)) / B, the mean CE and the element-mean
    MSE divided by the batch size once more."""
    t = temperature
    hard = F.cross_entropy(student_logits, labels)
    soft = F.mse_loss(student_logits / t, teacher_logits.detach() / t)
    return ((1 - soft_weight) * hard + soft_weight * t * t * soft) / student_logits.shape[0]


def hinton_kd(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
              temperature: float, soft_weight: float, ignore_index: int = -100) -> torch.Tensor:
    """(1 - a) * CE + a * T^2 * KL(p_t^T || p_s^T): Hinton et al.'s loss (the ``kd`` method's);
    per pixel on segmentation logits, labels equal to ``ignore_index`` left out of the CE."""
    hard = F.cross_entropy(student_logits, labels, ignore_index=ignore_index)
    return (1 - soft_weight) * hard + soft_weight * kd_kl(student_logits, teacher_logits, temperature)


def noisy_logits(teacher_logits: torch.Tensor, drop: float, sigma: float) -> torch.Tensor:
    """Sau & Balasubramanian's perturbed teacher as KDGAN's code draws it (methods_spec §4):
    z_t * m with m = dropout_r(1) + N(0, sigma^2) elementwise, dropout_r(1) being 0 with
    probability r and 1/(1-r) otherwise (TF's rescaled dropout)."""
    keep = (torch.rand_like(teacher_logits) >= drop).to(teacher_logits.dtype) / (1 - drop)
    return teacher_logits.detach() * (keep + sigma * torch.randn_like(teacher_logits))
