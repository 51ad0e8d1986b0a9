"""The loop every data-free method shares: iterations grouped into "epochs".

In the data-free codes an epoch is a fixed number of iterations, not a pass over data
(methods_spec §0: DFAD 50, DAFL 120, MAD 50). A method supplies one iteration (its
generator and student stages, returning the losses to log); this loop makes it
resumable, steps the per-epoch schedulers, evaluates the student after each epoch,
logs the curve and returns acc_best / acc_last.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from bench.context import RunContext


def noise(batch_size: int, nz: int, device: torch.device) -> torch.Tensor:
    """z ~ N(0, I): the generators' input (drawn from the checkpointed global RNG)."""
    return torch.randn(batch_size, nz, device=device)


def optimise(opt: torch.optim.Optimizer, loss: torch.Tensor, clip: float | None = None) -> None:
    """zero_grad, backward, optional grad-norm clip (ZSKT clips at 5), step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        params = [p for group in opt.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, clip)
    opt.step()


def run_iterations(ctx: RunContext, student: nn.Module, *, epochs: int, iters_per_epoch: int,
                   iteration: Callable[[int], dict[str, torch.Tensor | float]],
                   epoch_schedulers: tuple = (), step_schedulers: tuple = ()) -> dict[str, float]:
    """Run ``epochs * iters_per_epoch`` iterations; evaluate and log after each epoch.

    ``epoch_schedulers`` step once per epoch (multi-step decays), ``step_schedulers``
    once per iteration (ZSKT's cosine annealing over all pseudo batches).
    """
    for step in ctx.steps(epochs * iters_per_epoch):
        losses = iteration(step)
        for sched in step_schedulers:
            sched.step()
        if (step + 1) % iters_per_epoch == 0:
            for sched in epoch_schedulers:
                sched.step()
            values = {k: float(v) for k, v in losses.items()}
            ctx.log(step + 1, epoch=(step + 1) // iters_per_epoch, **values, acc=ctx.evaluate(student))
    return ctx.accuracy_summary()
