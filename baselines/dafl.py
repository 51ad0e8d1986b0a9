"""DAFL: Data-Free Learning of student networks (Chen et al. ICCV 2019; methods_spec §13).

The generator is trained against the fixed teacher with three losses on its images:
one-hot (CE of the teacher's logits against their own argmax), activation (minus the
mean |feature| of the teacher's penultimate layer) and information entropy (batch-mean
softmax times its log10, minimised to balance classes). The student is distilled on
the same, detached images with KL at T=1 (summed over classes, averaged over the
batch). One joint step per iteration, 120 iterations per epoch; best accuracy reported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from bench.families.cmi_game import CMIGameConfig, cmi_game
from bench.context import RunContext
from bench.families.datafree import run_iterations
from bench.losses import class_balance_entropy, kd_kl
from bench.registry import METHODS
from bench.train import adam, multistep, noise, sgd


@dataclass(frozen=True)
class DAFLConfig:
    """Defaults: the official code/README for MNIST (methods_spec §13)."""

    defaults_for: ClassVar[tuple[str, ...]] = ("mnist",)
    dataset_keys: ClassVar[tuple[str, ...]] = ("batch_size", "nz", "lr_generator", "student_optimizer",
                                               "lr_student", "weight_decay", "lr_milestones", "epochs",
                                               "lambda_oh", "lambda_ie", "lambda_a")

    epochs: int = 200
    """C:DAFL MNIST: 200 epochs (CIFAR: 2000)."""
    iters_per_epoch: int = 120
    """C:DAFL: 120 iterations per epoch."""
    batch_size: int = 512
    """C:DAFL MNIST: 512 (CIFAR 1024; DFAD reran DAFL at 256)."""
    nz: int = 100
    """C:DAFL MNIST: latent 100 (CIFAR 1000)."""
    ngf: int = 64
    """C:DAFL: generator widths 128/64."""
    lr_generator: float = 0.2
    """C:DAFL MNIST: Adam lr 0.2 (CIFAR 0.02)."""
    student_optimizer: str = "adam"
    """C:DAFL MNIST: Adam (CIFAR: SGD momentum 0.9, wd 5e-4); the paper used NAG (unconfirmed)."""
    lr_student: float = 2e-3
    """C:DAFL MNIST: 2e-3 (CIFAR SGD 0.1)."""
    momentum: float = 0.9
    """C:DAFL CIFAR SGD momentum (unused with Adam)."""
    weight_decay: float = 0.0
    """C:DAFL MNIST: none (CIFAR 5e-4)."""
    lr_milestones: tuple[int, ...] = ()
    """Student lr x0.1 at these epochs: none for MNIST, (800, 1600) for CIFAR."""
    lr_gamma: float = 0.1
    """Decay factor."""
    lambda_oh: float = 1.0
    """C:DAFL MNIST: one-hot weight 1 (CIFAR-10 0.05, CIFAR-100 0.5)."""
    lambda_ie: float = 5.0
    """C:DAFL MNIST: information-entropy weight 5 (CIFAR-100 20)."""
    lambda_a: float = 0.1
    """C:DAFL: activation weight 0.1 (the code's --a default; CIFAR-10 0.01)."""
    generator: str = "dafl_generator"
    """C:DAFL generator: Generator-A's topology with BatchNorm eps=0.8."""

    def __post_init__(self):
        if self.student_optimizer not in ("adam", "sgd"):
            raise ValueError(f"student_optimizer must be 'adam' or 'sgd', got {self.student_optimizer!r}")


@METHODS.register("dafl", config=DAFLConfig, family="data_free", paper="dafl (baseline in dfad, mad)",
                  needs_teacher=True, label="DAFL")
def dafl(ctx: RunContext, cfg: DAFLConfig) -> dict[str, float]:
    teacher = ctx.teacher()
    student = ctx.net()
    channels, size, _ = ctx.data.input_shape
    generator = ctx.generator_net(cfg.generator, nz=cfg.nz, ngf=cfg.ngf, img_size=size, nc=channels)
    opt_g = adam(generator.parameters(), cfg.lr_generator)
    opt_s = (adam(student.parameters(), cfg.lr_student, weight_decay=cfg.weight_decay)
             if cfg.student_optimizer == "adam" else
             sgd(student.parameters(), cfg.lr_student, cfg.momentum, cfg.weight_decay))
    sched_s = multistep(opt_s, cfg.lr_milestones, cfg.lr_gamma)
    ctx.track(student=student, generator=generator, opt_s=opt_s, opt_g=opt_g, sched_s=sched_s)
    student.train()
    generator.train()

    def iteration(step: int) -> dict[str, torch.Tensor]:
        x = generator(noise(cfg.batch_size, cfg.nz, ctx.device))
        t_logits, t_features = teacher(x, return_features=True)
        loss_oh = F.cross_entropy(t_logits, t_logits.argmax(dim=1))
        loss_a = -t_features.abs().mean()
        loss_ie = class_balance_entropy(t_logits)
        loss_g = cfg.lambda_oh * loss_oh + cfg.lambda_a * loss_a + cfg.lambda_ie * loss_ie
        loss_kd = kd_kl(student(x.detach()), t_logits, 1.0)
        opt_g.zero_grad(set_to_none=True)
        opt_s.zero_grad(set_to_none=True)
        (loss_g + loss_kd).backward()
        opt_g.step()
        opt_s.step()
        return {"loss_oh": loss_oh, "loss_a": loss_a, "loss_ie": loss_ie, "loss_kd": loss_kd}

    return run_iterations(ctx, student, epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch,
                          iteration=iteration, epoch_schedulers=(sched_s,))


@dataclass(frozen=True)
class DAFLCMIConfig(CMIGameConfig):
    """DAFL as CMI's benchmark code runs it (C:CMI scripts/dafl/dafl_cifar10_wrn402_wrn161.sh)."""

    nz: int = 512
    """C:CMI datafree_kd.py: nz 512 for DAFL."""
    oh: float = 1.0
    """C:CMI scripts/dafl: --oh 1."""
    act: float = 0.001
    """C:CMI scripts/dafl: --act 0.001."""
    balance: float = 20.0
    """C:CMI scripts/dafl: --balance 20."""


@METHODS.register("dafl_cmi", config=DAFLCMIConfig, family="data_free",
                  paper="dafl as re-run by cmi (mad Table 1)", needs_teacher=True, label="DAFL")
def dafl_cmi(ctx: RunContext, cfg: DAFLCMIConfig) -> dict[str, float]:
    return cmi_game(ctx, cfg)
