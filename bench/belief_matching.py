"""Adversarial belief matching: the game ABM (ZSKT) and DFKD-Mem share.

The generator maximises D = KL(T || S) on its images; the student minimises D (plus,
in ZSKT, beta times an attention-transfer term). Each iteration is a "pseudo batch":
``generator_steps`` generator steps, then ``student_steps`` student steps. ZSKT keeps
one noise batch z for the whole pseudo batch (``fixed_noise``); the MAD-paper setting
draws fresh noise at every step. DFKD-Mem adds a FIFO memory of past synthetic images
that the student also imitates the teacher on (``memory_size`` > 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.context import RunContext
from bench.datafree import SampleMemory, noise, optimise, run_iterations, to_images
from bench.losses import attention_transfer, kd_kl
from bench.train import adam, multistep, sgd


@dataclass(frozen=True)
class BeliefMatchingConfig:
    """Fields of the game; ABM and DFKD-Mem set their papers' defaults in subclasses."""

    epochs: int = 100
    iters_per_epoch: int = 800
    batch_size: int = 128
    nz: int = 100
    ngf: int = 64
    generator: str = "zskt_generator"
    generator_steps: int = 1
    student_steps: int = 10
    fixed_noise: bool = True
    student_optimizer: str = "adam"
    lr_student: float = 2e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_generator: float = 1e-3
    generator_weight_decay: float = 0.0
    schedule: str = "cosine"
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 0.1
    grad_clip: float = 5.0
    temperature: float = 1.0
    kl_reduction: str = "mean"
    at_beta: float = 250.0
    memory_size: int = 0

    def __post_init__(self):
        checks = {"student_optimizer": ("adam", "sgd"), "schedule": ("cosine", "multistep"),
                  "kl_reduction": ("mean", "batchmean")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")


def belief_matching(ctx: RunContext, cfg: BeliefMatchingConfig) -> dict[str, float]:
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
    memory = SampleMemory(cfg.memory_size) if cfg.memory_size else None
    ctx.track(student=student, generator=generator, opt_s=opt_s, opt_g=opt_g,
              sched_s=scheds[0], sched_g=scheds[1], **({"memory": memory} if memory else {}))
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
            if memory is not None and len(memory):
                x_mem = memory.sample(cfg.batch_size)
                with torch.no_grad():
                    t_mem = teacher(x_mem)
                loss_s = loss_s + discrepancy(student(x_mem), t_mem)
            optimise(opt_s, loss_s, clip)
        if memory is not None:  # harness policy: the last G batch enters the bank (unconfirmed)
            memory.push(x)
        return {"loss_g": loss_g, "loss_s": loss_s}

    return run_iterations(ctx, student, epochs=cfg.epochs, iters_per_epoch=cfg.iters_per_epoch,
                          iteration=iteration, epoch_schedulers=per_epoch, step_schedulers=per_step)
