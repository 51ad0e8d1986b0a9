"""ZSKT: Zero-shot knowledge transfer via adversarial belief matching (Micaelli & Storkey
2019; methods_spec §15), as its official code runs it. MAD's "ABM" baseline is this game
in MAD's setting, which lives in bench/families/momentum_game.py (baselines/abm.py).

The generator maximises D = KL(T || S) on its images; the student minimises D plus beta
times an attention-transfer term. Each iteration is a "pseudo batch": ``generator_steps``
generator steps, then ``student_steps`` student steps, all on one noise batch z
(``fixed_noise``), Adam for both, both lrs cosine-annealed to 0, gradient norms clipped
at 5. ZSKT reports the final accuracy (``acc_last``); both are logged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from bench.families.cmi_game import CMIGameConfig, cmi_game
from bench.context import RunContext
from bench.families.datafree import run_iterations, to_images
from bench.losses import attention_transfer, kd_kl
from bench.registry import METHODS
from bench.train import adam, frozen, multistep, noise, optimise, sgd


@dataclass(frozen=True)
class ZSKTConfig:
    """ZSKT's CIFAR-10 defaults (C:ZSKT main.py, scripts/ZeroShot)."""

    defaults_for: ClassVar[tuple[str, ...]] = ("cifar10",)
    dataset_keys: ClassVar[tuple[str, ...]] = ("student_steps",)

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
    momentum: float = 0.9
    """SGD momentum when ``student_optimizer`` is sgd (MAD Table 5)."""
    weight_decay: float = 0.0
    """C:ZSKT: no weight decay."""
    lr_generator: float = 1e-3
    """C:ZSKT: generator lr 1e-3."""
    generator_weight_decay: float = 0.0
    """C:ZSKT: none."""
    schedule: str = "cosine"
    """C:ZSKT: cosine annealing of both lrs to 0 ('multistep': per-epoch decay at milestones)."""
    lr_milestones: tuple[int, ...] = ()
    """Epochs of the x``lr_gamma`` decays for 'multistep'."""
    lr_gamma: float = 0.1
    """Decay factor for 'multistep'."""
    grad_clip: float = 5.0
    """C:ZSKT: gradient-norm clip 5 (0: none)."""
    temperature: float = 1.0
    """C:ZSKT: KL_temperature 1."""
    kl_reduction: str = "mean"
    """C:ZSKT: PyTorch-1.0 F.kl_div default (element mean)."""
    at_beta: float = 250.0
    """C:ZSKT: attention-transfer weight 250."""

    def __post_init__(self):
        checks = {"student_optimizer": ("adam", "sgd"), "schedule": ("cosine", "multistep"),
                  "kl_reduction": ("mean", "batchmean")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")


@METHODS.register("zskt", config=ZSKTConfig, family="data_free", paper="zskt (baseline in mad)",
                  needs_teacher=True, label="ZSKT")
def zskt(ctx: RunContext, cfg: ZSKTConfig) -> dict[str, float]:
    teacher = ctx.teacher()
    student = ctx.net()
    data = ctx.data
    channels, size, _ = data.input_shape
    generator = ctx.generator_net(cfg.generator, nz=cfg.nz, ngf=cfg.ngf, img_size=size, nc=channels)
    opt_s = (adam(student.parameters(), cfg.lr_student, weight_decay=cfg.weight_decay)
             if cfg.student_optimizer == "adam" else
             sgd(student.parameters(), cfg.lr_student, cfg.momentum, cfg.weight_decay))
    opt_g = adam(generator.parameters(), cfg.lr_generator, weight_decay=cfg.generator_weight_decay)
    total = cfg.epochs * cfg.iters_per_epoch
    if cfg.schedule == "cosine":  # ZSKT: both lrs cosine-annealed to 0 over all pseudo batches
        scheds = [torch.optim.lr_scheduler.CosineAnnealingLR(o, total) for o in (opt_s, opt_g)]
        per_step, per_epoch = tuple(scheds), ()
    else:
        scheds = [multistep(o, cfg.lr_milestones, cfg.lr_gamma) for o in (opt_s, opt_g)]
        per_step, per_epoch = (), tuple(scheds)
    ctx.track(student=student, generator=generator, opt_s=opt_s, opt_g=opt_g,
              sched_s=scheds[0], sched_g=scheds[1])
    student.train()
    generator.train()
    clip = cfg.grad_clip or None

    def images(z: torch.Tensor) -> torch.Tensor:
        return to_images(generator, generator(z), data.mean, data.std)

    def discrepancy(s_logits: torch.Tensor, t_logits: torch.Tensor, detach: bool = True) -> torch.Tensor:
        return kd_kl(s_logits, t_logits, cfg.temperature, cfg.kl_reduction, detach_teacher=detach)

    def iteration(step: int) -> dict[str, torch.Tensor]:
        z = noise(cfg.batch_size, cfg.nz, ctx.device)
        for _ in range(cfg.generator_steps):
            z = z if cfg.fixed_noise else noise(cfg.batch_size, cfg.nz, ctx.device)
            with frozen(student):
                x = images(z)
                loss_g = -discrepancy(student(x), teacher(x), detach=False)
                optimise(opt_g, loss_g, clip)
        for i in range(cfg.student_steps):
            if i == 0 or not cfg.fixed_noise:
                z = z if cfg.fixed_noise else noise(cfg.batch_size, cfg.nz, ctx.device)
                with torch.no_grad():
                    x = images(z)
                    t_logits, t_acts = teacher(x, return_activations=True)
            s_logits, s_acts = student(x, return_activations=True)
            loss_s = discrepancy(s_logits, t_logits)
            if cfg.at_beta:
                loss_s = loss_s + cfg.at_beta * attention_transfer(s_acts, t_acts)
            optimise(opt_s, loss_s, clip)
        return {"loss_g": loss_g, "loss_s": loss_s}

    return run_iterations(ctx, student, epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch,
                          iteration=iteration, epoch_schedulers=per_epoch, step_schedulers=per_step)


@dataclass(frozen=True)
class ZSKTCMIConfig(CMIGameConfig):
    """ZSKT as CMI's benchmark code runs it (C:CMI scripts/zskt/zskt_cifar10_wrn402_wrn161.sh):
    adversarial KL only, no attention transfer."""

    adv: float = 1.0
    """C:CMI scripts/zskt: --adv 1."""


@METHODS.register("zskt_cmi", config=ZSKTCMIConfig, family="data_free",
                  paper="zskt as re-run by cmi (mad Table 1)", needs_teacher=True, label="ZSKT")
def zskt_cmi(ctx: RunContext, cfg: ZSKTCMIConfig) -> dict[str, float]:
    return cmi_game(ctx, cfg)
