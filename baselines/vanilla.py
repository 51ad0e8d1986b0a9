"""Vanilla: each net trained alone with cross-entropy (AFD Tables 1-6's "Vanilla" column).

The pair's nets are trained side by side on the same batches without any coupling, so the
vanilla row has the same per-net, average and ensemble columns as the online methods and
their gains over it compare like with like (AFD §4.3 "(+x%)").
"""
from __future__ import annotations

import torch.nn.functional as F

from bench.context import RunContext
from bench.online import OnlineRecipe, Peers, build_nets, train_joint
from bench.registry import METHODS


@METHODS.register("vanilla", config=OnlineRecipe, family="online", paper="afd", label="Vanilla")
def vanilla(ctx: RunContext, cfg: OnlineRecipe) -> dict[str, float]:
    cohort = Peers(build_nets(ctx, cfg.architectures(ctx.spec.student)))
    return train_joint(ctx, cfg, cohort, lambda out, y, _: sum(F.cross_entropy(z, y) for z in out.logits))
