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


def run_iterations(ctx: RunContext, student: nn.Module, *, epochs: int, iters_per_epoch: int,
                   iteration: Callable[[int], dict[str, torch.Tensor | float]],
                   epoch_schedulers: tuple = (), step_schedulers: tuple = (),
                   eval_every: int = 1,
                   on_evaluated: Callable[[int, float], None] | None = None) -> dict[str, float]:
    """Run ``epochs * iters_per_epoch`` iterations; evaluate and log after every
    ``eval_every`` epochs and after the last; ``on_evaluated(epoch, acc)`` follows each.

    ``epoch_schedulers`` step once per epoch (multi-step decays), ``step_schedulers``
    once per iteration (ZSKT's cosine annealing over all pseudo batches).
    """
    total = epochs * iters_per_epoch
    for step in ctx.steps(total):
        losses = iteration(step)
        for sched in step_schedulers:
            sched.step()
        if (step + 1) % iters_per_epoch == 0:
            for sched in epoch_schedulers:
                sched.step()
            if ((step + 1) // iters_per_epoch) % eval_every and step + 1 < total:
                continue
            values = {k: float(v.detach()) if torch.is_tensor(v) else float(v) for k, v in losses.items()}
            acc = ctx.evaluate(student)
            ctx.log(step + 1, epoch=(step + 1) // iters_per_epoch, **values, acc=acc)
            if on_evaluated is not None:
                on_evaluated((step + 1) // iters_per_epoch, acc)
    return ctx.accuracy_summary()


def to_images(generator: nn.Module, output: torch.Tensor, mean, std) -> torch.Tensor:
    """Generator output -> network input. Generators with ``output_activation='sigmoid'``
    (MAD) emit logits u whose image sigmoid(u) is normalised like the data; the others
    (Generator-A, ZSKT) emit normalised-space images directly."""
    if getattr(generator, "output_activation", None) == "sigmoid":
        return standardise(torch.sigmoid(output), mean, std)
    return output


def standardise(images01: torch.Tensor, mean, std) -> torch.Tensor:
    """Map [0, 1] images (sigmoid outputs) to the data's normalised input space."""
    m = torch.tensor(mean, device=images01.device).view(1, -1, 1, 1)
    s = torch.tensor(std, device=images01.device).view(1, -1, 1, 1)
    return (images01 - m) / s


@torch.no_grad()
def ema_update(target: nn.Module, source: nn.Module, alpha: float) -> None:
    """theta_target <- alpha * theta_target + (1 - alpha) * theta_source; buffers copied.

    MAD's momentum generator (Eq. 7). Whether BN buffers are averaged is unconfirmed
    (methods_spec §17); they are copied from the live generator here.
    """
    for t, s in zip(target.parameters(), source.parameters()):
        t.mul_(alpha).add_(s, alpha=1 - alpha)
    for t, s in zip(target.buffers(), source.buffers()):
        t.copy_(s)


class SampleMemory:
    """A FIFO bank of past synthetic images (DFKD-Mem), checkpointable like a module."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.images: torch.Tensor | None = None

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    @torch.no_grad()
    def push(self, images: torch.Tensor) -> None:
        images = images.detach()
        stacked = images if self.images is None else torch.cat([self.images, images])
        self.images = stacked[-self.capacity:]

    def sample(self, n: int) -> torch.Tensor:
        idx = torch.randint(len(self), (n,), device=self.images.device)
        return self.images[idx]

    def state_dict(self) -> dict:
        return {"images": self.images}

    def load_state_dict(self, state: dict) -> None:
        self.images = state["images"]


class BNMomentLoss:
    """sum_l ||mu_l - mu_l^run||^2 + ||var_l - var_l^run||^2 over the teacher's BN layers.

    MAD's L_BNmm (squared norms; DeepInversion/CMI use unsquared ones). Hooks record the
    batch statistics of each BN input on the teacher's forward pass; nets without BN
    (LeNet, cnn8) give 0.
    """

    def __init__(self, model: nn.Module):
        self.active = False  # set around the generator stage's teacher forward only
        self.terms: list[torch.Tensor] = []
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules()
                        if isinstance(m, nn.BatchNorm2d)]

    def _hook(self, module: nn.BatchNorm2d, inputs, output) -> None:
        if not self.active:
            return
        x = inputs[0]
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False)
        self.terms.append((mean - module.running_mean).pow(2).sum()
                          + (var - module.running_var).pow(2).sum())

    def pop(self) -> torch.Tensor:
        """The loss of the last teacher forward (and reset)."""
        total = sum(self.terms) if self.terms else torch.zeros(())
        self.terms = []
        return total
