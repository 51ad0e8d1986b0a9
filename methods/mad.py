"""MAD: Momentum Adversarial Distillation (Do et al. NeurIPS 2022; methods_spec §17).

ABM's game plus a momentum (EMA) copy Ĝ of the generator: after every generator
stage, theta_Ĝ <- alpha*theta_Ĝ + (1-alpha)*theta_G (Eq. 7), and the student imitates
the teacher on fresh samples of both G (weight lambda0) and Ĝ (lambda1), so it keeps
the knowledge of the generator's past distributions (Eq. 10). Logit bounds keep both
players finite (Eqs. 10-11). Options: class-conditional generator G(z + e_y) with the
NLL (lambda3) and embedding-norm (lambda4, gamma) terms, BatchNorm moment matching on
the teacher (lambda5), and generator pretraining with lambda2 = 0.

Per iteration: n_G generator steps, the EMA update, n_S student steps (each on a fresh
batch from G and one from Ĝ). Both best and last accuracy are logged (MAD does not say
which it reports).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.context import RunContext
from bench.datafree import BNMomentLoss, MADSetting, ema_update, noise, optimise, run_iterations, to_images
from bench.losses import kd_kl, logit_bound
from bench.registry import METHODS
from bench.train import adam, multistep, sgd


@dataclass(frozen=True)
class MADConfig(MADSetting):
    """CIFAR WRN-40-2 -> WRN-16-2 defaults: MAD's setting (see MADSetting) plus its losses
    (P:mad Table 7, App. A)."""

    alpha: float = 0.95
    """P:mad §3 / Table 7: EMA momentum 0.95 (alpha=1 freezes Ĝ: collapse, Fig. 6)."""
    lambda0: float = 1.0
    """P:mad Table 7: weight of G's samples in the student loss."""
    lambda1: float = 1.0
    """P:mad Table 7: weight of Ĝ's samples in the student loss."""
    lambda2: float = 1.0
    """P:mad Table 7: weight of -KL in the generator loss."""
    lambda3: float = 0.0
    """P:mad Table 7 (small sets): NLL of the class y for a conditional G."""
    lambda4: float = 0.0
    """P:mad Table 7 (small sets): embedding-norm penalty for a conditional G."""
    lambda5: float = 1.0
    """P:mad Table 7 (small sets): BatchNorm moment matching on the teacher."""
    zeta0: float = 0.01
    """P:mad Table 7: student logit bound weight."""
    zeta1: float = 0.1
    """P:mad Table 7: teacher logit bound weight (generator loss)."""
    zeta2: float = 0.1
    """P:mad Table 7: generator-logit bound weight."""
    delta: float = 20.0
    """P:mad Table 7: logit bound (listed for large sets; small sets unconfirmed)."""
    nu: float = 20.0
    """P:mad Table 7: generator-logit bound."""
    conditional: bool = False
    """P:mad Table 6: unconditional G for small datasets."""
    gamma: float = 1.1
    """P:mad: embedding norm bound factor (large datasets)."""
    pretrain_steps: int = 0
    """P:mad Table 6: no generator pretraining for small datasets."""


class Sampler(nn.Module):
    """G (and, for a conditional G, the class embedding E): noise -> logits u."""

    def __init__(self, generator: nn.Module, num_classes: int, nz: int, conditional: bool):
        super().__init__()
        self.g = generator
        self.output_activation = getattr(generator, "output_activation", None)
        self.embed = nn.Embedding(num_classes, nz) if conditional else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=1.0)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.g(z if self.embed is None else z + self.embed(y))


@METHODS.register("mad", config=MADConfig, family="data_free", paper="mad", needs_teacher=True,
                  label="MAD")
def mad(ctx: RunContext, cfg: MADConfig) -> dict[str, float]:
    teacher = ctx.teacher()
    student = ctx.net()
    data = ctx.data
    channels, size, _ = data.input_shape
    sampler = Sampler(ctx.generator_net(cfg.generator, nz=cfg.nz, ngf=cfg.ngf, img_size=size, nc=channels),
                      data.num_classes, cfg.nz, cfg.conditional).to(ctx.device)
    momentum_sampler = copy.deepcopy(sampler).requires_grad_(False)
    opt_s = sgd(student.parameters(), cfg.lr_student, cfg.momentum, cfg.weight_decay)
    opt_g = adam(sampler.parameters(), cfg.lr_generator, weight_decay=cfg.generator_weight_decay)
    sched_s = multistep(opt_s, cfg.lr_milestones, cfg.lr_gamma)
    ctx.track(student=student, sampler=sampler, momentum_sampler=momentum_sampler,
              opt_s=opt_s, opt_g=opt_g, sched_s=sched_s)
    bn_moments = BNMomentLoss(teacher)
    for net in (student, sampler, momentum_sampler):
        net.train()

    def draw(net: Sampler) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        y = (torch.randint(data.num_classes, (cfg.batch_size,), device=ctx.device)
             if cfg.conditional else None)
        u = net(noise(cfg.batch_size, cfg.nz, ctx.device), y)
        return to_images(net, u, data.mean, data.std), u, y

    def generator_step(lambda2: float) -> torch.Tensor:
        x, u, y = draw(sampler)
        bn_moments.active = True
        t_logits = teacher(x)
        bn_moments.active = False
        loss = (-lambda2 * kd_kl(student(x), t_logits, 1.0, detach_teacher=False)
                + cfg.zeta1 * logit_bound(t_logits, cfg.delta) + cfg.zeta2 * logit_bound(u, cfg.nu)
                + cfg.lambda5 * bn_moments.pop())
        if cfg.conditional:
            bound = cfg.gamma * math.sqrt(cfg.nz)
            loss = (loss + cfg.lambda3 * F.cross_entropy(t_logits, y)
                    + cfg.lambda4 * F.relu(sampler.embed(y).norm(dim=1) - bound).mean())
        optimise(opt_g, loss)
        return loss

    def imitation(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_logits = teacher(x)
        s_logits = student(x)
        return kd_kl(s_logits, t_logits, 1.0) + cfg.zeta0 * logit_bound(s_logits, cfg.delta)

    def iteration(step: int) -> dict[str, torch.Tensor]:
        if step == 0:
            for _ in range(cfg.pretrain_steps):  # P:mad App. A: pretrain G with lambda2 = 0
                generator_step(0.0)
            ema_update(momentum_sampler, sampler, 0.0)
        for _ in range(cfg.generator_steps):
            loss_g = generator_step(cfg.lambda2)
        ema_update(momentum_sampler, sampler, cfg.alpha)
        for _ in range(cfg.student_steps):
            with torch.no_grad():
                x, _, _ = draw(sampler)
                x_momentum, _, _ = draw(momentum_sampler)
            loss_s = cfg.lambda0 * imitation(x) + cfg.lambda1 * imitation(x_momentum)
            optimise(opt_s, loss_s)
        return {"loss_g": loss_g, "loss_s": loss_s}

    return run_iterations(ctx, student, epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch,
                          iteration=iteration, epoch_schedulers=(sched_s,))
