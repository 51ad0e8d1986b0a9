"""MAD's adversarial game, shared by MAD and the two baselines MAD runs "in exactly the
same settings" (P:mad §5.1): ABM and DFKD-Mem. One game, two switches, so each
comparison is one variable apart by construction (P:mad Fig. 3: ``no_ema`` = ABM):

- ``ema``: a momentum copy Ĝ of the generator, theta_Ĝ <- alpha*theta_Ĝ + (1-alpha)*theta_G
  after every generator stage (Eq. 7); the student also imitates the teacher on Ĝ's
  samples with weight lambda1 (Eq. 10). On: MAD. Off: ABM and DFKD-Mem.
- ``memory_size``: a FIFO bank of past synthetic images replayed to the student with the
  same imitation loss (DFKD-Mem; official code not found: each iteration's last
  generator batch enters the bank, B images are drawn uniformly per student step).

Everything else is MAD's for all three: the generator loss -lambda2*KL(T||S) plus the
logit bounds (zeta1 on the teacher's logits, zeta2 on the generator's) and the BN
moment-matching term lambda5 on the teacher; the student loss KL + zeta0 * its logit
bound; Adam for G, SGD for S, and only the student's lr decayed (P:mad Table 6).
Options of MAD's large-scale setting: a class-conditional G(z + e_y) with the NLL
(lambda3) and embedding-norm (lambda4, gamma) terms, and generator pretraining.

Per iteration: n_G generator steps (fresh noise each), the EMA update, n_S student
steps (each on a fresh batch from G, one from Ĝ, one from the memory).
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from bench.context import RunContext
from bench.families.datafree import BNMomentLoss, SampleMemory, ema_update, run_iterations, to_images
from bench.losses import kd_kl, logit_bound
from bench.train import adam, frozen, multistep, noise, optimise, sgd


@dataclass(frozen=True)
class MADGameConfig:
    """MAD's setting for CIFAR WRN-40-2 -> WRN-16-2 (P:mad Tables 5-8) and its losses
    (Table 7, App. A). The switches ``ema`` and ``memory_size`` make MAD, ABM or DFKD-Mem."""

    defaults_for: ClassVar[tuple[str, ...]] = ("cifar10", "cifar100")
    dataset_keys: ClassVar[tuple[str, ...]] = ("student_steps", "epochs")

    epochs: int = 300
    """P:mad Table 6: 300 epochs."""
    iters_per_epoch: int = 50
    """P:mad Table 6: 50 steps per epoch."""
    batch_size: int = 256
    """P:mad Table 6: batch 256."""
    nz: int = 256
    """P:mad: d_z = 256."""
    ngf: int = 32
    """P:mad Table 8a: widths 256/128/64/32 (8/4/2/1 x ngf)."""
    generator: str = "mad_generator"
    """P:mad Table 8a."""
    generator_steps: int = 3
    """P:mad Table 5: n_G = 3."""
    student_steps: int = 60
    """P:mad Table 5: n_S = 60 for WRN (30 for ResNet, 90 for TinyImageNet)."""
    student_optimizer: str = "sgd"
    """P:mad Table 5: SGD for the small sets, Adam (no momentum) for the large ones."""
    lr_student: float = 1e-2
    """P:mad Table 5: SGD lr 1e-2 (large sets: Adam 1e-4)."""
    momentum: float = 0.9
    """P:mad Table 5: momentum 0.9."""
    weight_decay: float = 5e-4
    """P:mad Table 5: wd 5e-4."""
    lr_milestones: tuple[int, ...] = (100, 200)
    """P:mad Table 6: student lr x0.1 at epochs 100 and 200 (the generator's lr is not decayed)."""
    lr_gamma: float = 0.1
    """P:mad Table 6: decay 0.1."""
    lr_generator: float = 1e-3
    """P:mad Table 5: Adam 1e-3."""
    generator_weight_decay: float = 5e-4
    """P:mad Table 5: wd_G 5e-4 (OCR-ambiguous in the text: unconfirmed, methods_spec §21.3)."""
    generator_bn_eps: float = 0.1
    """P:mad Table 8a prints BatchNorm2d(256, 0.1) for the first BN: PyTorch's second
    positional argument is eps, so eps = 0.1 as printed (momentum 0.1 is the default anyway)."""
    generator_align_corners: bool = True
    """P:mad Table 8a: UpsamplingBilinear2d, i.e. bilinear with align_corners=True."""
    ema: bool = True
    """The momentum generator Ĝ (MAD). Off: ABM / DFKD-Mem in MAD's setting (P:mad Fig. 3)."""
    alpha: float = 0.95
    """P:mad §3 / Table 7: EMA momentum 0.95 (alpha=1 freezes Ĝ: collapse, Fig. 6)."""
    memory_size: int = 0
    """Images in the replay memory (0: none; DFKD-Mem: 8,192, P:mad App. B.2)."""
    lambda0: float = 1.0
    """P:mad Table 7: weight of G's samples in the student loss."""
    lambda1: float = 1.0
    """P:mad Table 7: weight of Ĝ's samples in the student loss (used when ``ema``)."""
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
    """P:mad Table 7: generator-logit bound (listed for large sets; small sets unconfirmed)."""
    conditional: bool = False
    """P:mad Table 6: unconditional G for small datasets."""
    gamma: float = 1.1
    """P:mad: embedding norm bound factor (large datasets)."""
    pretrain_steps: int = 0
    """P:mad Table 6: no generator pretraining for small datasets."""
    eval_every: int = 1
    """Epochs between test evaluations (harness): every epoch on the small sets; the large
    sets' "epoch" is one iteration (P:mad Table 6), evaluated every 100 (Fig. 4's spacing)."""

    def __post_init__(self):
        if self.student_optimizer not in ("sgd", "adam"):
            raise ValueError(f"student_optimizer must be 'sgd' or 'adam', got {self.student_optimizer!r}")
        if self.eval_every < 1:
            raise ValueError(f"eval_every must be >= 1, got {self.eval_every}")


class Sampler(nn.Module):
    """G (and, for a conditional G, the class embedding E): noise -> generator output."""

    def __init__(self, generator: nn.Module, num_classes: int, nz: int, conditional: bool):
        super().__init__()
        self.g = generator
        self.output_activation = getattr(generator, "output_activation", None)
        self.embed = nn.Embedding(num_classes, nz) if conditional else None
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, std=1.0)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.g(z if self.embed is None else z + self.embed(y))


def generator_kwargs(cfg: MADGameConfig) -> dict:
    """The MAD generator's documented settings (other generators take none)."""
    if cfg.generator != "mad_generator":
        return {}
    return {"bn_eps": cfg.generator_bn_eps, "align_corners": cfg.generator_align_corners}


def momentum_game(ctx: RunContext, cfg: MADGameConfig) -> dict[str, float]:
    teacher = ctx.teacher()
    student = ctx.net()
    data = ctx.data
    channels, size, _ = data.input_shape
    generator = ctx.generator_net(cfg.generator, nz=cfg.nz, ngf=cfg.ngf, img_size=size, nc=channels,
                                  **generator_kwargs(cfg))
    sampler = Sampler(generator, data.num_classes, cfg.nz, cfg.conditional).to(ctx.device)
    momentum_sampler = copy.deepcopy(sampler).requires_grad_(False) if cfg.ema else None
    memory = SampleMemory(cfg.memory_size) if cfg.memory_size else None
    opt_s = (sgd(student.parameters(), cfg.lr_student, cfg.momentum, cfg.weight_decay)
             if cfg.student_optimizer == "sgd" else
             adam(student.parameters(), cfg.lr_student, weight_decay=cfg.weight_decay))
    opt_g = adam(sampler.parameters(), cfg.lr_generator, weight_decay=cfg.generator_weight_decay)
    sched_s = multistep(opt_s, cfg.lr_milestones, cfg.lr_gamma)
    extra = {k: v for k, v in (("momentum_sampler", momentum_sampler), ("memory", memory)) if v is not None}
    ctx.track(student=student, sampler=sampler, opt_s=opt_s, opt_g=opt_g, sched_s=sched_s, **extra)
    bn_moments = BNMomentLoss(teacher)
    student.train()
    sampler.train()
    if momentum_sampler is not None:
        momentum_sampler.train()

    def draw(net: Sampler) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        y = (torch.randint(data.num_classes, (cfg.batch_size,), device=ctx.device)
             if cfg.conditional else None)
        u = net(noise(cfg.batch_size, cfg.nz, ctx.device), y)
        return to_images(net, u, data.mean, data.std), u, y

    @frozen(student)
    def generator_step(lambda2: float) -> tuple[torch.Tensor, torch.Tensor]:
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
        return loss, x

    def imitation(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            t_logits = teacher(x)
        s_logits = student(x)
        return kd_kl(s_logits, t_logits, 1.0) + cfg.zeta0 * logit_bound(s_logits, cfg.delta)

    def iteration(step: int) -> dict[str, torch.Tensor]:
        if step == 0:
            for _ in range(cfg.pretrain_steps):  # P:mad App. A: pretrain G with lambda2 = 0
                generator_step(0.0)
            if momentum_sampler is not None:
                ema_update(momentum_sampler, sampler, 0.0)
        for _ in range(cfg.generator_steps):
            loss_g, x_g = generator_step(cfg.lambda2)
        if momentum_sampler is not None:
            ema_update(momentum_sampler, sampler, cfg.alpha)
        for _ in range(cfg.student_steps):
            with torch.no_grad():
                x, _, _ = draw(sampler)
            loss_s = cfg.lambda0 * imitation(x)
            if momentum_sampler is not None:
                with torch.no_grad():
                    x_momentum, _, _ = draw(momentum_sampler)
                loss_s = loss_s + cfg.lambda1 * imitation(x_momentum)
            if memory is not None and len(memory):
                loss_s = loss_s + imitation(memory.sample(cfg.batch_size))
            optimise(opt_s, loss_s)
        if memory is not None:
            memory.push(x_g)
        return {"loss_g": loss_g, "loss_s": loss_s}

    return run_iterations(ctx, student, epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch,
                          iteration=iteration, epoch_schedulers=(sched_s,), eval_every=cfg.eval_every)
