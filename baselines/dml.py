"""DML: deep mutual learning (Zhang et al. 2018; methods_spec §6).

Each of K nets minimises CE + the mean over its peers of KL(p_peer || p_self) at T = 1,
the peers' predictions detached. ``order: sequential`` is the paper's Algorithm 1: net 1
steps, its predictions on the batch are recomputed, then net 2 steps against them, and
so on; ``synchronous`` steps every net from the one forward pass (as AFD steps its logit
loss). The AFD tables use the sequential order (AFD §3.1 contrasts its synchronous update
with DML's "asynchronous" one).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.context import RunContext
from bench.losses import kd_kl
from bench.families.online import (COHORT_METRICS, OnlineRecipe, Peers, batch_stats_frozen, build_nets, require_nets,
                                   train_online)
from bench.registry import METHODS
from bench.train import multistep, sgd

ORDERS = ("sequential", "synchronous")


@dataclass(frozen=True)
class DMLConfig(OnlineRecipe):
    """DML with AFD's schedule for every online method (P:afd §4)."""

    order: str = "sequential"
    """P:dml Alg. 1 (methods_spec §6): each net updates against its peers' current predictions."""

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")


def mutual_loss(logits: torch.Tensor, y: torch.Tensor, peers: list[torch.Tensor]) -> torch.Tensor:
    """CE + (1 / (K - 1)) * sum over peers of KL(p_peer || p_self), peers detached."""
    return F.cross_entropy(logits, y) + sum(kd_kl(logits, p, 1.0) for p in peers) / len(peers)


@METHODS.register("dml", config=DMLConfig, family="online", paper="afd", label="DML", metrics=COHORT_METRICS)
def dml(ctx: RunContext, cfg: DMLConfig) -> dict[str, float]:
    archs = cfg.architectures(ctx.spec.student)
    require_nets(archs, 2, "DML")
    cohort = Peers(build_nets(ctx, cfg))
    opts = [sgd(net.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay) for net in cohort.nets]

    def update(x, y, progress):
        logits = cohort(x).logits
        losses = []
        for k, (net, opt) in enumerate(zip(cohort.nets, opts)):
            peers = [z.detach() for j, z in enumerate(logits) if j != k]
            loss = mutual_loss(logits[k], y, peers)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if cfg.order == "sequential":
                with torch.no_grad(), batch_stats_frozen(net):
                    logits[k] = net(x)
        return {"loss": sum(losses)}

    scheds = [multistep(opt, cfg.lr_milestones, cfg.lr_gamma) for opt in opts]
    return train_online(ctx, cfg, cohort, update, scheds, **{f"opt{k}": o for k, o in enumerate(opts)})
