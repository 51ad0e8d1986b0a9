"""Hinton KD and its data-source variants of DFAD Table 2 (methods_spec §2).

``transfer`` picks the images the student imitates the teacher on:
- ``original``: the teacher's training data with labels, (1-a)*CE + a*T^2*KL (KD-ORI);
- ``related:<dataset>`` / ``unrelated:<dataset>``: unlabeled alternative data,
  T^2*KL only (KD-REL / KD-UNR; DFAD §4.2 does not name the MNIST alternatives);
- ``noise``: random noise images, T^2*KL only (RANDOM).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.context import RunContext
from bench.losses import hinton_kd, kd_kl
from bench.registry import DATASETS, METHODS
from bench.train import Batch, EpochRecipe, train_epochs

TRANSFERS = ("original", "noise", "related:<dataset>", "unrelated:<dataset>")


@dataclass(frozen=True)
class KDConfig(EpochRecipe):
    """Hinton KD as benchmarked here (the five papers fix no T or alpha); the SGD recipe
    (batch, lr, momentum, weight decay, schedule) is DFAD's MNIST one, see EpochRecipe."""

    temperature: float = 4.0
    """methods_spec §2: harness default T=4 (benchmark choice, not a paper value)."""
    alpha: float = 0.9
    """methods_spec §2: weight of the soft term (benchmark choice); unused without labels."""
    transfer: str = "original"
    """Data the student sees: original | noise | related:<dataset> | unrelated:<dataset>."""
    noise: str = "gaussian"
    """RANDOM images: 'gaussian' N(0,1) in normalised input space or 'uniform' pixels in [0,1]."""
    epochs: int = 20
    """Passes over the (real or alternative) training set; DFAD does not state it (harness)."""

    def __post_init__(self):
        kind, _, name = self.transfer.partition(":")
        if kind not in ("original", "noise", "related", "unrelated") or (
                kind in ("related", "unrelated")) != bool(name):
            raise ValueError(f"transfer must be one of {', '.join(TRANSFERS)}, got {self.transfer!r}")
        if name and name not in DATASETS:
            raise ValueError(f"transfer dataset {name!r} is not registered; accepted: "
                             f"{', '.join(DATASETS.names())}")
        if self.noise not in ("gaussian", "uniform"):
            raise ValueError(f"noise must be 'gaussian' or 'uniform', got {self.noise!r}")


def noise_images(n: int, shape: tuple[int, ...], kind: str, mean, std, device) -> torch.Tensor:
    if kind == "gaussian":
        return torch.randn(n, *shape, device=device)
    m = torch.tensor(mean, device=device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=device).view(1, -1, 1, 1)
    return (torch.rand(n, *shape, device=device) - m) / s


@METHODS.register("kd", config=KDConfig, family="offline_kd", paper="dfad", needs_teacher=True,
                  label="KD")
def kd(ctx: RunContext, cfg: KDConfig) -> dict[str, float]:
    teacher = ctx.teacher()
    student = ctx.net()
    data = ctx.data
    kind, _, alt_name = cfg.transfer.partition(":")
    source = None if kind == "noise" else (
        ctx.alternative_data(alt_name).x_train if alt_name else data.x_train)

    def batch_loss(batch: Batch) -> torch.Tensor:
        x = batch.x
        if x is None:
            x = noise_images(len(batch.idx), data.input_shape, cfg.noise, data.mean, data.std, ctx.device)
        with torch.no_grad():
            t_logits = teacher(x)
        s_logits = student(x)
        if kind != "original":
            return kd_kl(s_logits, t_logits, cfg.temperature)
        return hinton_kd(s_logits, t_logits, batch.y, cfg.temperature, cfg.alpha, ignore_index=ignore)

    ignore = getattr(data, "ignore_index", -100)  # segmentation: unlabelled pixels
    train_epochs(ctx, student, cfg, inputs=source, n=len(data.x_train), batch_loss=batch_loss,
                 targets=data.y_train if kind == "original" else None)
    return ctx.accuracy_summary()
