"""Shared training machinery: optimizers, seeded epoch batching, the epoch loop.

Supervised teachers and every offline-KD student iterate over a training set in
epochs; ``train_epochs`` is that one loop, resumable through ``ctx.steps``, with
per-epoch evaluation logged to the curve. Methods only supply the batch loss.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from bench.context import RunContext


def sgd(params, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def adam(params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay)


def multistep(opt: torch.optim.Optimizer, milestones: tuple[int, ...], gamma: float):
    """Per-epoch step decay (call ``.step()`` once at the end of each epoch)."""
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=gamma)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of epoch ``epoch``: a pure function of (seed, epoch), so resume-safe."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def train_epochs(ctx: RunContext, model: nn.Module, opt: torch.optim.Optimizer, *, epochs: int,
                 n: int, batch_size: int, batch_loss: Callable[[torch.Tensor], torch.Tensor],
                 milestones: tuple[int, ...] = (), gamma: float = 0.1,
                 on_epoch_end: Callable[[int, float], None] | None = None) -> None:
    """Run ``epochs`` passes over ``n`` examples, one optimizer step per batch.

    ``batch_loss(idx)`` gets the batch's training-set indices and returns the loss.
    After each epoch the scheduler steps, the model is evaluated and the curve row
    (step, epoch, loss, acc, lr) is logged; ``on_epoch_end(epoch, acc)`` follows.
    """
    sched = multistep(opt, milestones, gamma)
    ctx.track(model=model, opt=opt, sched=sched)
    per_epoch = math.ceil(n / batch_size)
    model.train()
    for step in ctx.steps(epochs * per_epoch):
        epoch, i = divmod(step, per_epoch)
        idx = epoch_order(n, ctx.spec.seed, epoch)[i * batch_size:(i + 1) * batch_size]
        loss = batch_loss(idx.to(ctx.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i == per_epoch - 1:
            lr = opt.param_groups[0]["lr"]
            sched.step()
            acc = ctx.evaluate(model)
            ctx.log(step + 1, epoch=epoch + 1, loss=loss.item(), acc=acc, lr=lr)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, acc)
