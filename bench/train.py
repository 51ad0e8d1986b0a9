"""Shared training machinery: optimizers, seeded epoch batching, the epoch loop.

Supervised teachers and every offline-KD student iterate over a training set in
epochs; ``train_epochs`` is that one loop, resumable through ``ctx.steps``, with
per-epoch evaluation logged to the curve. Methods only supply the batch loss.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator

import torch
from torch import nn

from bench.context import RunContext
from bench.data.augment import augment_batch, augment_with_masks, augmentation, step_generator


def noise(batch_size: int, nz: int, device: torch.device) -> torch.Tensor:
    """z ~ N(0, I): the generators' input (drawn from the checkpointed global RNG)."""
    return torch.randn(batch_size, nz, device=device)


@contextmanager
def frozen(*modules: nn.Module) -> Iterator[None]:
    """Inside, the parameters of ``modules`` take no gradients. A generator step needs the
    student only as a function of its input: its weight gradients would be thrown away
    (its optimiser zeroes them before its own step), so skipping them leaves every number
    unchanged and saves that part of the backward pass."""
    flags = [(p, p.requires_grad) for m in modules for p in m.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def optimise(opt: torch.optim.Optimizer, loss: torch.Tensor, clip: float | None = None) -> None:
    """zero_grad, backward, optional grad-norm clip (ZSKT clips at 5), step."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        params = [p for group in opt.param_groups for p in group["params"]]
        nn.utils.clip_grad_norm_(params, clip)
    opt.step()


@dataclass(frozen=True)
class EpochRecipe:
    """An SGD recipe over a training set; defaults: DFAD's MNIST recipe (methods_spec §14)."""

    defaults_for: ClassVar[tuple[str, ...]] = ("mnist",)
    dataset_keys: ClassVar[tuple[str, ...]] = ("epochs", "batch_size", "lr", "weight_decay", "lr_milestones")

    epochs: int = 10
    """C:DFAD train_teacher (MNIST): 10 epochs."""
    batch_size: int = 256
    """C:DFAD train_teacher (MNIST): batch 256."""
    lr: float = 0.01
    """C:DFAD train_teacher / P:dfad Table 7 (MNIST): SGD lr 0.01."""
    momentum: float = 0.9
    """P:dfad §4.1.2: SGD momentum 0.9."""
    weight_decay: float = 1e-4
    """C:DFAD MNIST recipes: weight decay 1e-4."""
    lr_milestones: tuple[int, ...] = ()
    """Epochs at which lr is multiplied by ``lr_gamma`` (CIFAR recipes use them)."""
    lr_gamma: float = 0.1
    """Step-decay factor."""
    augment: bool = True
    """Apply the dataset's declared training augmentation (bench/data registry: CIFAR crop
    32 pad 4 + flip, as the official codes train teachers and KD-ORI students; MNIST none)."""
    warmup_epochs: int = 0
    """Epochs of linear lr warm-up from 0, per batch (Goyal et al.; MAD Table 4 warms its
    Food101 / Places365 teachers up for 5 epochs); 0: none."""


def sgd(params, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def adam(params, lr: float, betas: tuple[float, float] = (0.9, 0.999),
         weight_decay: float = 0.0) -> torch.optim.Optimizer:
    params = list(params)
    # The fused kernel is the same update (L2 added to the gradient) in one pass over the
    # weights: on one CPU thread it steps KDGAN's 3.3M-parameter LeNet in a quarter of the
    # time of the per-tensor loop, which dominates a batch of ten images.
    fused = all(p.device.type in ("cpu", "cuda") for group in params
                for p in (group["params"] if isinstance(group, dict) else [group]))
    return torch.optim.Adam(params, lr=lr, betas=betas, weight_decay=weight_decay, fused=fused or None)


def multistep(opt: torch.optim.Optimizer, milestones: tuple[int, ...], gamma: float):
    """Per-epoch step decay (call ``.step()`` once at the end of each epoch)."""
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=gamma)


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The permutation of epoch ``epoch``: a pure function of (seed, epoch), so resume-safe."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


@dataclass(frozen=True)
class Batch:
    """One training step of an epoch loop: where it is, and its (augmented) inputs."""

    step: int
    epoch: int
    index: int
    """The batch's position in its epoch."""
    per_epoch: int
    idx: torch.Tensor
    """Training-set indices of the batch (on the run's device)."""
    x: torch.Tensor | None
    """The batch's images, augmented as the dataset declares (None without inputs)."""
    y: torch.Tensor | None = None
    """The batch's targets when the loop was given them: class labels, or segmentation
    masks cropped and flipped with their images."""

    @property
    def last(self) -> bool:
        """Whether this batch ends its epoch (schedulers step, the model is evaluated)."""
        return self.index == self.per_epoch - 1

    @property
    def progress(self) -> float:
        """Epochs done after this batch, fractional (ramp-ups read it)."""
        return self.epoch + (self.index + 1) / self.per_epoch


def epoch_batches(ctx: RunContext, recipe: EpochRecipe, inputs: torch.Tensor | None,
                  n: int | None = None, targets: torch.Tensor | None = None) -> Iterator[Batch]:
    """``recipe.epochs`` seeded passes over ``inputs`` (or ``n`` draws without inputs), in
    batches of ``recipe.batch_size``, resumable through ``ctx.steps``. Each batch's order
    and augmentation are pure functions of (seed, step), so a resumed run sees the
    batches it would have seen. ``targets`` (one per input) come with each batch; masks
    (N, H, W) are augmented with their images. A streamed dataset (ImageNet folders)
    ignores ``inputs``: its DataLoader decodes and augments each epoch's images in the
    same order."""
    streamed = getattr(ctx.data, "streaming", False)  # image folders: decoded by DataLoader workers
    n = len(ctx.data.train) if streamed else len(inputs) if inputs is not None else n
    aug = None if streamed else augmentation(recipe.augment, ctx.data.augment)
    per_epoch = math.ceil(n / recipe.batch_size)
    images: Iterator[torch.Tensor] | None = None
    for step in ctx.steps(recipe.epochs * per_epoch):
        epoch, i = divmod(step, per_epoch)
        order = epoch_order(n, ctx.spec.seed, epoch)
        idx = order[i * recipe.batch_size:(i + 1) * recipe.batch_size].to(ctx.device)
        y = None if targets is None else targets[idx]
        if streamed:
            if images is None or i == 0:  # a new epoch, or the first one after a resume
                images = ctx.data.train_epoch(order, i * recipe.batch_size, ctx.spec.seed, epoch, recipe.batch_size)
            x = next(images)
        elif inputs is None:
            x = None
        elif y is not None and y.dim() == 3:  # segmentation masks move with their images
            x, y = augment_with_masks(inputs[idx], y, aug, step_generator(ctx.spec.seed, step), ctx.data.black)
        else:
            x = augment_batch(inputs[idx], aug, step_generator(ctx.spec.seed, step), ctx.data.black)
        yield Batch(step, epoch, i, per_epoch, idx, x, y)


def train_epochs(ctx: RunContext, model: nn.Module, recipe: EpochRecipe, *,
                 inputs: torch.Tensor | None, n: int | None = None, targets: torch.Tensor | None = None,
                 batch_loss: Callable[[Batch], torch.Tensor],
                 on_epoch_end: Callable[[int, float], None] | None = None,
                 optimizer: Callable[[Any], torch.optim.Optimizer] | None = None) -> None:
    """Run ``recipe.epochs`` passes over ``inputs`` (or ``n`` draws when there are no
    inputs: RANDOM's noise) with SGD, one step per batch.

    ``batch_loss(batch)`` gets a ``Batch``: its images, augmented as the dataset declares
    (when ``recipe.augment``; seeded by (seed, step), so resume-safe), their training-set
    indices and their ``targets``, and returns the loss. After each epoch the scheduler steps,
    the model is evaluated and the curve row (step, epoch, loss, acc, lr) is logged;
    ``on_epoch_end(epoch, acc)`` follows. ``optimizer(params)`` replaces the recipe's
    SGD (KDGAN's pretraining uses Adam).
    """
    opt = (optimizer(model.parameters()) if optimizer else
           sgd(model.parameters(), recipe.lr, recipe.momentum, recipe.weight_decay))
    sched = multistep(opt, recipe.lr_milestones, recipe.lr_gamma)
    ctx.track(model=model, opt=opt, sched=sched)
    model.train()
    warmup = getattr(recipe, "warmup_epochs", 0)  # recipes that are no EpochRecipe (KDGAN's pretraining) have none
    for batch in epoch_batches(ctx, recipe, inputs, n, targets):
        if batch.epoch < warmup:  # reaches the recipe's lr on the last warm-up batch
            for group in opt.param_groups:
                group["lr"] = recipe.lr * min(1.0, batch.progress / warmup)
        loss = batch_loss(batch)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if batch.last:
            lr = opt.param_groups[0]["lr"]
            sched.step()
            acc = ctx.evaluate(model)
            ctx.log(batch.step + 1, epoch=batch.epoch + 1, loss=loss.item(), acc=acc, lr=lr)
            if on_epoch_end is not None:
                on_epoch_end(batch.epoch + 1, acc)
