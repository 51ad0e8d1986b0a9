"""The generative data-free KD game of CMI's benchmark code (Fang et al. 2021,
zju-vipa/CMI: datafree_kd.py and datafree/synthesis/generative.py). MAD Table 1 copies
its DAFL, ZSKT and DFAD numbers from the CMI paper, which ran all three through this
one game with different loss weights; the ``dafl_cmi``, ``zskt_cmi`` and ``dfad_cmi``
methods are it with each row's weights (methods_spec §13-15).

Per round (``iters_per_epoch`` rounds = ep_steps / kd_steps = 400 / 5 per epoch):
1. ``generator_steps`` generator steps, each on fresh noise, the student in *eval* mode:
   L_G = oh*CE(t, argmax t) + act*(-mean|f_t|) + balance*sum_c p̄_c ln p̄_c
         + adv*(-criterion(S(x), T(x)))  (Adam, betas (0.5, 0.999));
2. ``student_steps`` student steps (train mode), each on a fresh batch drawn with the
   generator in *eval* mode (BatchNorm on running statistics), loss criterion(S, T):
   KL at T=1 (batchmean) or, for DFAD, the mean absolute error of the logits.
The generator is LargeGenerator (sigmoid output, then the dataset's normalisation);
the student's SGD lr follows a cosine over the epochs; the best accuracy is reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from bench.context import RunContext
from bench.families.datafree import run_iterations, to_images
from bench.losses import kd_kl, l1_logits
from bench.train import adam, frozen, noise, optimise, sgd

CRITERIA = {"kl": lambda s, t: kd_kl(s, t, 1.0, detach_teacher=False), "l1": l1_logits}
"""criterion(student logits, teacher logits); the teacher is not detached, so the generator's
adversarial term differentiates through both nets (the student's targets carry no graph)."""


@dataclass(frozen=True)
class CMIGameConfig:
    """CMI's datafree_kd.py defaults and scripts (scripts/zskt, scripts/dafl: CIFAR-10)."""

    defaults_for: ClassVar[tuple[str, ...]] = ("cifar10", "cifar100")
    dataset_keys: ClassVar[tuple[str, ...]] = ("epochs",)

    epochs: int = 200
    """C:CMI scripts: --epochs 200."""
    iters_per_epoch: int = 80
    """C:CMI scripts: --ep_steps 400 / --kd_steps 5 = 80 rounds per epoch."""
    batch_size: int = 256
    """C:CMI scripts: --batch_size 256 (synthesis batch = batch)."""
    generator_steps: int = 1
    """C:CMI scripts: --g_steps 1."""
    student_steps: int = 5
    """C:CMI scripts: --kd_steps 5."""
    nz: int = 256
    """C:CMI datafree_kd.py: nz 256 (512 for DAFL)."""
    ngf: int = 64
    """C:CMI datafree_kd.py: LargeGenerator(ngf=64)."""
    generator: str = "cmi_large_generator"
    """C:CMI datafree/models/generator.py LargeGenerator."""
    lr_student: float = 0.1
    """C:CMI scripts: --lr 0.1, cosine over the epochs."""
    momentum: float = 0.9
    """C:CMI datafree_kd.py: SGD momentum 0.9."""
    weight_decay: float = 1e-4
    """C:CMI datafree_kd.py: --wd default 1e-4 (the scripts do not set it)."""
    lr_generator: float = 1e-3
    """C:CMI scripts: --lr_g 1e-3, Adam betas (0.5, 0.999)."""
    adv: float = 0.0
    """C:CMI: weight of -criterion(S, T) in the generator loss (--adv)."""
    oh: float = 0.0
    """C:CMI: one-hot (CE to the teacher's argmax) weight (--oh)."""
    act: float = 0.0
    """C:CMI: activation weight (--act)."""
    balance: float = 0.0
    """C:CMI: class-balance weight, sum p̄ ln p̄ (--balance)."""
    criterion: str = "kl"
    """C:CMI datafree_kd.py l.258: L1 for DFAD, else KL at T=1 for the generator's adversarial
    term and for the student. The scripts' --T 20 is overwritten by that line, so T = 1."""

    def __post_init__(self):
        if self.criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {self.criterion!r}")


def cmi_game(ctx: RunContext, cfg: CMIGameConfig) -> dict[str, float]:
    teacher = ctx.teacher()
    student = ctx.net()
    data = ctx.data
    channels, size, _ = data.input_shape
    generator = ctx.generator_net(cfg.generator, nz=cfg.nz, ngf=cfg.ngf, img_size=size, nc=channels)
    opt_s = sgd(student.parameters(), cfg.lr_student, cfg.momentum, cfg.weight_decay)
    opt_g = adam(generator.parameters(), cfg.lr_generator, betas=(0.5, 0.999))
    sched_s = torch.optim.lr_scheduler.CosineAnnealingLR(opt_s, cfg.epochs)
    ctx.track(student=student, generator=generator, opt_s=opt_s, opt_g=opt_g, sched_s=sched_s)
    criterion = CRITERIA[cfg.criterion]

    def images() -> torch.Tensor:
        return to_images(generator, generator(noise(cfg.batch_size, cfg.nz, ctx.device)), data.mean, data.std)

    @frozen(student)
    def generator_step() -> torch.Tensor:
        x = images()
        t_logits, t_features = teacher(x, return_features=True)
        loss = t_logits.new_zeros(())  # only the terms a row weighs (0 * NaN would still be NaN)
        if cfg.oh:
            loss = loss + cfg.oh * F.cross_entropy(t_logits, t_logits.argmax(dim=1))
        if cfg.act:
            loss = loss - cfg.act * t_features.abs().mean()
        if cfg.balance:  # sum p̄ ln p̄; p̄ clamped at 1e-12 against log(0), as DAFL's own term
            p_mean = F.softmax(t_logits, dim=1).mean(dim=0).clamp_min(1e-12)
            loss = loss + cfg.balance * (p_mean * p_mean.log()).sum()
        if cfg.adv:
            loss = loss - cfg.adv * criterion(student(x), t_logits)
        optimise(opt_g, loss)
        return loss

    def iteration(step: int) -> dict[str, torch.Tensor]:
        student.eval()
        generator.train()
        for _ in range(cfg.generator_steps):
            loss_g = generator_step()
        student.train()
        generator.eval()
        for _ in range(cfg.student_steps):
            with torch.no_grad():
                x = images()
                t_logits = teacher(x)
            loss_s = criterion(student(x), t_logits)
            optimise(opt_s, loss_s)
        return {"loss_g": loss_g, "loss_s": loss_s}

    return run_iterations(ctx, student, epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch,
                          iteration=iteration, epoch_schedulers=(sched_s,))
