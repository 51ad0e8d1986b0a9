"""The online-distillation game: K networks trained together on labelled data.

AFD, DML, ONE, online KD and the vanilla baseline (methods_spec §§6, 7, 10) share one
loop: seeded, augmented epochs over the training set (bench/train.epoch_batches), a
method's ``update(x, y, progress)`` per batch, then per epoch the schedulers step and
every net and the ensemble are evaluated. What differs between the methods is only the
update (its losses, optimizers and step order), which each method file holds.

A cohort returns, for a batch, each net's logits, each net's last convolutional feature
map (what AFD distils) and the ensemble's logits. Independent nets (``Peers``) ensemble
by averaging their softmax outputs (AFD §4: "the average ensemble is used for AFD, DML
and KD"); ONE's shared-trunk net (baselines/one.py) uses its gate.

The report shows each net (``acc_net1`` ...), their average (``acc_avg``: "2 Net Avg")
and the ensemble (``acc_ens``), all at the last epoch; ``acc_best`` / ``acc_last`` are
the average's best and last (AFD, DML and ONE state neither, methods_spec §21.14).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from bench.context import RunContext
from bench.errors import UserError
from bench.nets import build_classifier
from bench.nets.weights import pretrained_file
from bench.train import EpochRecipe, epoch_batches, multistep, sgd

COHORT_METRICS = ("acc_best", "acc_last", "acc_net*", "acc_avg", "acc_ens", "acc_ens_best", "agreement")
"""What every online method reports (``metrics=`` of its registration): see the docstring above."""
MEMBER_SEED = 1_000_003
"""Net k > 1 of a cohort is initialised from seed + k * MEMBER_SEED, so two nets of one
architecture start apart; net 1 starts from the run's student weights (arch, seed)."""


@dataclass(frozen=True)
class OnlineRecipe(EpochRecipe):
    """The co-trained nets and the logit optimizer's schedule: ONE's, which AFD applies to
    every online method it compares (P:afd §4; methods_spec §§6, 7, 10)."""

    defaults_for: ClassVar[tuple[str, ...]] = ("cifar100",)

    nets: tuple[str, ...] = ()
    """The K co-trained nets' architectures, net 1 first (a suite pair's ``nets``; AFD §4.4
    puts the higher-capacity net second). Empty: the run's student alone."""
    epochs: int = 300
    """P:afd §4: 300 epochs (ONE's schedule)."""
    batch_size: int = 128
    """P:afd §4: mini-batch 128."""
    lr: float = 0.1
    """P:afd §4: SGD from 0.1."""
    momentum: float = 0.9
    """P:afd §4: momentum 0.9."""
    weight_decay: float = 1e-4
    """P:afd §4: weight decay 1e-4."""
    lr_milestones: tuple[int, ...] = (150, 225)
    """P:afd §4: lr x 0.1 at epochs 150 and 225."""
    augment: bool = True
    """Random crop 32 (pad 4) and flips, as ONE's code trains (methods_spec §7)."""
    pretrained: bool = False
    """Start every net from torchvision's ImageNet weights, read from the local torch hub cache
    (P:afd §4.6: "two pre-trained networks ResNet-18 and ResNet-34"); torchvision nets only."""
    channels_last: bool = True
    """Harness choice, not the papers': the nets and image batches in NHWC memory, where
    oneDNN's convolutions run ONE's narrow ResNet-32 maps about a third faster on a CPU
    (docs/speed.md). The same arithmetic summed in another order: results
    agree to float noise, not bit for bit (tests/test_online_family.py); ``false`` restores NCHW."""

    def architectures(self, student: str) -> tuple[str, ...]:
        return self.nets or (student,)


@dataclass
class Outputs:
    """One forward of a cohort: per-net logits and last feature maps, ensemble logits."""

    logits: list[torch.Tensor]
    features: list[torch.Tensor]
    ensemble: torch.Tensor


class Peers(nn.Module):
    """K separate nets; members in ``frozen`` (AFD Table 1's pre-trained teacher) stay in
    eval mode and are never trained."""

    def __init__(self, nets: list[nn.Module], frozen: tuple[int, ...] = ()):
        super().__init__()
        self.nets = nn.ModuleList(nets)
        self.frozen = frozen
        for k in frozen:
            self.nets[k].eval().requires_grad_(False)

    def train(self, mode: bool = True) -> Peers:
        super().train(mode)
        for k in self.frozen:
            self.nets[k].eval()
        return self

    def forward(self, x: torch.Tensor) -> Outputs:
        logits, features = [], []
        for net in self.nets:
            z, acts = net(x, return_activations=True)
            logits.append(z)
            features.append(acts[-1])
        return Outputs(logits, features, average_ensemble(logits))


def average_ensemble(logits: list[torch.Tensor]) -> torch.Tensor:
    """log of the mean of the nets' softmax outputs (an ensemble's logits)."""
    probs = torch.stack([F.softmax(z, dim=1) for z in logits]).mean(dim=0)
    return probs.clamp_min(1e-12).log()


def member_seed(seed: int, k: int) -> int:
    return seed + k * MEMBER_SEED


def build_nets(ctx: RunContext, recipe: OnlineRecipe, archs: tuple[str, ...] | None = None) -> list[nn.Module]:
    """The cohort's nets (``archs``, default the recipe's), net k's initial weights fixed by
    (arch, seed, k), or torchvision's ImageNet weights when ``recipe.pretrained`` (the files
    read are recorded in the summary)."""
    data = ctx.data
    archs = archs or recipe.architectures(ctx.spec.student)
    pretrained = recipe.pretrained
    nets = [build_classifier(a, data.num_classes, data.input_shape[0], member_seed(ctx.spec.seed, k))
            for k, a in enumerate(archs)]
    if pretrained:
        files = [pretrained_file(a) for a in archs]
        for net, path in zip(nets, files):
            net.load_pretrained(path)
        ctx.extra["pretrained_weights"] = " | ".join(map(str, files))
    return [net.to(ctx.device) for net in nets]


def require_nets(archs: tuple[str, ...], at_least: int, method: str) -> None:
    if len(archs) < at_least:
        raise UserError(f"{method} trains {at_least} or more nets together; the pair names "
                        f"{len(archs)} ({', '.join(archs) or 'none'}): give the suite pair `nets: [a, b]`")


def cyclic_peer(k: int, count: int) -> int:
    """The net that net k learns from in AFD's cyclic scheme (1 -> 2 -> ... -> K -> 1):
    net k - 1, and the last net for net 1 (P:afd §3.3). Two nets learn from each other."""
    return (k - 1) % count


@contextlib.contextmanager
def batch_stats_frozen(model: nn.Module) -> Iterator[None]:
    """Forward in train mode without moving BN running statistics (momentum 0): DML
    recomputes a net's predictions after its update without counting the batch twice."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, saved):
            m.momentum = momentum


@torch.no_grad()
def cohort_accuracy(cohort: nn.Module, batches, members: tuple[int, ...] | None = None) -> dict[str, float]:
    """Top-1 accuracy over (x, y) ``batches`` of each net (``acc_net1`` ...), the mean over
    ``members`` (default all: ``acc_avg``), the ensemble (``acc_ens``) and ``agreement``, the
    fraction of images on which every net predicts the same class (what the peers' distillation
    terms pull up: nets trained alone agree less), in eval mode (the cohort's mode is restored)."""
    was_training = cohort.training
    cohort.eval()
    correct, correct_ens, agree, total = None, 0, 0, 0
    for xb, yb in batches:
        out = cohort(xb)
        predicted = torch.stack([z.argmax(1) for z in out.logits])
        hits = (predicted == yb).sum(dim=1)
        correct = hits if correct is None else correct + hits
        correct_ens += int((out.ensemble.argmax(1) == yb).sum())
        agree += int((predicted == predicted[0]).all(dim=0).sum())
        total += len(yb)
    cohort.train(was_training)
    accs = (correct.double() / total).tolist()
    members = range(len(accs)) if members is None else members
    return {**{f"acc_net{k + 1}": a for k, a in enumerate(accs)},
            "acc_avg": sum(accs[k] for k in members) / len(members), "acc_ens": correct_ens / total,
            "agreement": agree / total}


def train_online(ctx: RunContext, recipe: OnlineRecipe, cohort: nn.Module,
                 update: Callable[[torch.Tensor, torch.Tensor, float], dict[str, float]],
                 schedulers: list, average_of: tuple[int, ...] | None = None,
                 **tracked) -> dict[str, float]:
    """Run the epochs: ``update(x, y, progress)`` per batch (returns losses to log), then
    per epoch every scheduler steps and the cohort is evaluated. ``tracked`` are the
    method's optimizers and extra nets, checkpointed with the cohort and schedulers.
    ``average_of``: the nets whose mean is ``acc_avg``, the run's ``acc`` (default: all;
    AFD's offline baseline: the student alone). Returns the last epoch's metrics, best and
    last of ``acc`` and the ensemble's best."""
    data = ctx.data
    ctx.track(cohort=cohort, **tracked, **{f"sched{i}": s for i, s in enumerate(schedulers)})
    layout = torch.channels_last if recipe.channels_last else torch.contiguous_format
    cohort.to(memory_format=layout)  # in place: the optimizers keep their parameters
    cohort.train()
    y_train = data.y_train
    for batch in epoch_batches(ctx, recipe, getattr(data, "x_train", None)):
        x = batch.x.contiguous(memory_format=layout) if batch.x.dim() == 4 else batch.x
        losses = update(x, y_train[batch.idx], batch.progress)
        if batch.last:
            lr = schedulers[0].get_last_lr()[0]
            for sched in schedulers:
                sched.step()
            metrics = cohort_accuracy(cohort, data.test_batches(), average_of)
            ctx.log(batch.step + 1, epoch=batch.epoch + 1, acc=metrics["acc_avg"], lr=lr, **metrics, **losses)
    if not ctx.curve:  # no epochs: the nets as they start (AFD Table 6's vanilla: the pretrained nets)
        metrics = cohort_accuracy(cohort, data.test_batches(), average_of)
        ctx.log(0, epoch=0, acc=metrics["acc_avg"], **metrics)
    last = {k: v for k, v in ctx.curve[-1].items() if k.startswith("acc_") or k == "agreement"}
    best_ens = max(row["acc_ens"] for row in ctx.curve if "acc_ens" in row)
    return {**last, **ctx.accuracy_summary(), "acc_ens_best": best_ens}


def train_joint(ctx: RunContext, recipe: OnlineRecipe, cohort: nn.Module,
                loss: Callable[[Outputs, torch.Tensor, float], torch.Tensor], **kwargs) -> dict[str, float]:
    """``train_online`` with one SGD over every parameter of the cohort stepping
    ``loss(outputs, y, progress)`` once per batch (vanilla, online KD, ONE)."""
    opt = sgd(cohort.parameters(), recipe.lr, recipe.momentum, recipe.weight_decay)

    def update(x, y, progress):
        value = loss(cohort(x), y, progress)
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
        return {"loss": value.item()}

    return train_online(ctx, recipe, cohort, update, [multistep(opt, recipe.lr_milestones, recipe.lr_gamma)],
                        opt=opt, **kwargs)
