"""AFD: online adversarial feature-map distillation (P:afd §3; methods_spec §10).

No official code exists; every value below is the paper's or a documented choice.

Each net k learns from its peer p(k) = k - 1 (the cyclic scheme of §3.3; with two nets,
each from the other):
- logit loss (Eqs. 1-2): CE + T^2 KL(softmax(z_p / T) || softmax(z_k / T)), peer detached,
  stepped by SGD on the whole net;
- adversarial loss (Eqs. 3-4, LSGAN): discriminator D_k takes net p's last feature map as
  real and net k's (through a transfer layer T_k when the channel counts differ) as fake,
  L_Dk = (1 - D_k(G_p(x)))^2 + D_k(T_k(G_k(x)))^2, and net k's feature extractor minimises
  L_Gk = (1 - D_k(T_k(G_k(x))))^2 with its own Adam (lr 2e-5, weight decay 0.1 as printed).
"Inference is conducted only once" (§3.2): one forward gives both losses; both gradients are
taken before either optimizer steps (so no step changes a tensor the other backward needs),
SGD then Adam update the nets, then the discriminators step on the detached maps.

Switches reproduce Tables 1-2: ``logit_loss: ce`` drops the KL term ("w/o KD"),
``feature_loss: none`` the adversarial one ("w/o Adv"), ``feature_loss: l1`` replaces it by
direct alignment mean |T_k(G_k(x)) - G_p(x)| in the SGD loss (Table 1's "L1", "L1 + KD").
``afd_offline`` is Table 1's "L1 + KD (offline)": the same losses for net 1 only, its peer
a frozen teacher pre-trained by the harness (the pair's last net).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bench.context import RunContext
from bench.errors import UserError
from bench.losses import kd_kl
from bench.families.online import (COHORT_METRICS, OnlineRecipe, Peers, build_nets, cyclic_peer, require_nets,
                                   train_online)
from bench.registry import METHODS
from bench.train import adam, multistep, sgd

LOGIT_LOSSES = ("kd", "ce")
FEATURE_LOSSES = ("adversarial", "l1", "none")


@dataclass(frozen=True)
class AFDConfig(OnlineRecipe):
    """AFD's two optimizers (P:afd §4) and its loss switches (Tables 1-2)."""

    temperature: float = 3.0
    """P:afd §3.1: T = 3 for every experiment."""
    logit_loss: str = "kd"
    """kd: CE + T^2 KL to the peer (Eq. 1); ce: CE alone (Table 2 "w/o KD (Adv only)")."""
    feature_loss: str = "adversarial"
    """adversarial (Eqs. 3-4); none (Table 2 "w/o Adv (KD only)"); l1 (Table 1's direct alignment)."""
    adv_lr: float = 2e-5
    """P:afd §4: Adam from 2e-5 for the discriminators and the feature extractors."""
    adv_milestones: tuple[int, ...] = (75, 150)
    """P:afd §4: the adversarial lr x 0.1 at epochs 75 and 150."""
    adv_weight_decay: float = 0.1
    """P:afd §4: "weight decay of 1e-1" for the adversarial Adam, as printed (an L2 term, as
    PyTorch's Adam applies it; the value may be a typo, methods_spec §10)."""
    adv_betas: tuple[float, float] = (0.9, 0.999)
    """Adam's betas: the paper states none (PyTorch's defaults)."""
    d_width: float = 0.5
    """Discriminator: conv 3x3 stride 2 to width x the map's channels, BN, LeakyReLU 0.2, a conv
    over the remaining extent to one value, sigmoid (P:afd §3.2 names the layers, not their
    sizes: unconfirmed, methods_spec §21.5)."""
    transfer_kernel: int = 1
    """Transfer layer T_k: conv (this kernel) + BN + ReLU to the peer's channels (P:afd §3.2;
    kernel unconfirmed: 1x1)."""

    def __post_init__(self):
        if self.logit_loss not in LOGIT_LOSSES:
            raise ValueError(f"logit_loss must be one of {', '.join(LOGIT_LOSSES)}, got {self.logit_loss!r}")
        if self.feature_loss not in FEATURE_LOSSES:
            raise ValueError(f"feature_loss must be one of {', '.join(FEATURE_LOSSES)}, got {self.feature_loss!r}")
        if not 0 < self.d_width <= 4:
            raise ValueError(f"d_width must be in (0, 4], got {self.d_width}")
        if self.transfer_kernel < 1 or self.transfer_kernel % 2 == 0:
            raise ValueError(f"transfer_kernel must be an odd size >= 1, got {self.transfer_kernel}")


@dataclass(frozen=True)
class AFDOfflineConfig(AFDConfig):
    """Table 1's "L1 + KD (offline)": net 1 distils a frozen pre-trained teacher."""

    feature_loss: str = "l1"
    """P:afd §4.1: the offline baseline aligns feature maps by L1 (with KD at the logits)."""


class Discriminator(nn.Module):
    """Conv-BN-LeakyReLU-Conv-Sigmoid reducing a (C, H, W) feature map to one value in (0, 1)."""

    def __init__(self, channels: int, size: int, width: float):
        super().__init__()
        hidden = max(1, round(channels * width))
        self.net = nn.Sequential(nn.Conv2d(channels, hidden, 3, 2, 1), nn.BatchNorm2d(hidden),
                                 nn.LeakyReLU(0.2), nn.Conv2d(hidden, 1, math.ceil(size / 2)), nn.Sigmoid())

    def forward(self, fmap: torch.Tensor) -> torch.Tensor:
        return self.net(fmap).flatten()


def transfer_layer(c_in: int, c_out: int, kernel: int) -> nn.Module:
    """Conv + BN + ReLU to the peer's channel count; identity when the counts agree."""
    if c_in == c_out:
        return nn.Identity()
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU())


def feature_shapes(cohort: Peers, input_shape: tuple[int, ...], device) -> list[torch.Size]:
    """Each net's last feature map shape (C, H, W), from one probe image in eval mode."""
    mode = cohort.training
    with torch.no_grad():
        shapes = [f.shape[1:] for f in cohort.eval()(torch.zeros(1, *input_shape, device=device)).features]
    cohort.train(mode)
    return shapes


def lsgan_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """(1 - D(real))^2 + D(fake)^2, each averaged over the batch (Eq. 3)."""
    return (1 - real).pow(2).mean() + fake.pow(2).mean()


def lsgan_g(fake: torch.Tensor) -> torch.Tensor:
    """(1 - D(fake))^2 averaged over the batch (Eq. 4)."""
    return (1 - fake).pow(2).mean()


def set_grads(params: list[nn.Parameter], grads) -> None:
    for p, g in zip(params, grads):
        p.grad = g


def afd_game(ctx: RunContext, cfg: AFDConfig, cohort: Peers, learners: tuple[int, ...]) -> dict[str, float]:
    """Train the nets in ``learners`` (every net online; net 1 alone offline), each against
    its cyclic peer, with AFD's optimizers; see the module docstring for the step order."""
    count = len(cohort.nets)
    peer = {k: cyclic_peer(k, count) for k in learners}
    shapes = feature_shapes(cohort, ctx.data.input_shape, ctx.device)
    for k in learners:
        if cfg.feature_loss != "none" and shapes[k][1:] != shapes[peer[k]][1:]:
            raise UserError(f"AFD compares feature maps of one spatial size; net {k + 1} ({cohort.nets[k].__class__.__name__})"
                            f" gives {tuple(shapes[k])}, its peer {tuple(shapes[peer[k]])}")
    transfers = nn.ModuleDict({str(k): transfer_layer(shapes[k][0], shapes[peer[k]][0], cfg.transfer_kernel)
                               for k in learners}).to(ctx.device)
    nets = [p for k in learners for p in cohort.nets[k].parameters()]
    adversarial = cfg.feature_loss == "adversarial"
    logit_params = nets + ([] if adversarial else list(transfers.parameters()))
    opt = sgd(logit_params, cfg.lr, cfg.momentum, cfg.weight_decay)
    scheds = [multistep(opt, cfg.lr_milestones, cfg.lr_gamma)]
    tracked = {"opt": opt, "transfers": transfers}
    if adversarial:
        discs = nn.ModuleDict({str(k): Discriminator(shapes[peer[k]][0], shapes[peer[k]][1], cfg.d_width)
                               for k in learners}).to(ctx.device)
        adv_params = nets + list(transfers.parameters())
        opt_g = adam(adv_params, cfg.adv_lr, cfg.adv_betas, cfg.adv_weight_decay)
        opt_d = adam(discs.parameters(), cfg.adv_lr, cfg.adv_betas, cfg.adv_weight_decay)
        scheds += [multistep(o, cfg.adv_milestones, cfg.lr_gamma) for o in (opt_g, opt_d)]
        tracked.update(discs=discs, opt_g=opt_g, opt_d=opt_d)

    def update(x, y, progress):
        out = cohort(x)
        fakes = {k: transfers[str(k)](out.features[k]) for k in learners} if cfg.feature_loss != "none" else {}
        logit_loss = 0.0
        for k in learners:
            logit_loss = logit_loss + F.cross_entropy(out.logits[k], y)
            if cfg.logit_loss == "kd":
                logit_loss = logit_loss + kd_kl(out.logits[k], out.logits[peer[k]], cfg.temperature)
            if cfg.feature_loss == "l1":
                logit_loss = logit_loss + (fakes[k] - out.features[peer[k]].detach()).abs().mean()
        if not adversarial:
            opt.zero_grad(set_to_none=True)
            logit_loss.backward()
            opt.step()
            return {"loss": logit_loss.item()}
        g_loss = sum(lsgan_g(discs[str(k)](fakes[k])) for k in learners)
        logit_grads = torch.autograd.grad(logit_loss, logit_params, retain_graph=True, allow_unused=True)
        adv_grads = torch.autograd.grad(g_loss, adv_params, allow_unused=True)
        set_grads(logit_params, logit_grads)
        opt.step()
        set_grads(adv_params, adv_grads)
        opt_g.step()
        opt_g.zero_grad(set_to_none=True)  # also clears what opt.step read: the two share the nets
        d_loss = sum(lsgan_d(discs[str(k)](out.features[peer[k]].detach()), discs[str(k)](fakes[k].detach()))
                     for k in learners)
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()
        return {"loss": logit_loss.item(), "loss_g": g_loss.item(), "loss_d": d_loss.item()}

    return train_online(ctx, cfg, cohort, update, scheds, average_of=learners, **tracked)


@METHODS.register("afd", config=AFDConfig, family="online", paper="afd", label="AFD", metrics=COHORT_METRICS)
def afd(ctx: RunContext, cfg: AFDConfig) -> dict[str, float]:
    archs = cfg.architectures(ctx.spec.student)
    require_nets(archs, 2, "AFD")
    cohort = Peers(build_nets(ctx, cfg))
    return afd_game(ctx, cfg, cohort, tuple(range(len(archs))))


@METHODS.register("afd_offline", config=AFDOfflineConfig, family="online", paper="afd",
                  label="L1+KD (offline)", needs_teacher=True, metrics=COHORT_METRICS)
def afd_offline(ctx: RunContext, cfg: AFDOfflineConfig) -> dict[str, float]:
    """Net 1 of the pair (``acc_net1``: "Student") against the frozen pre-trained teacher
    (``acc_net2``: "Teacher"); ``acc_ens`` averages the two."""
    archs = cfg.architectures(ctx.spec.student)
    if archs[-1] != ctx.spec.teacher.student:
        raise UserError(f"afd_offline distils the pair's last net ({archs[-1]}) pre-trained, "
                        f"but the run's teacher is a {ctx.spec.teacher.student}")
    cohort = Peers([build_nets(ctx, cfg, archs[:1])[0], ctx.teacher()], frozen=(1,))
    summary = afd_game(ctx, cfg, cohort, (0,))
    return {k: v for k, v in summary.items() if k != "acc_avg"}  # a student and its teacher: no "2 Net Avg"
