"""CODIS: codistillation (Anil et al. 2018) between KDGAN's classifier and teacher.

No code of Anil et al. was released and KDGAN's repository has no CODIS script
(methods_spec §5), so this follows the paper: the models train in parallel, each on
cross-entropy plus psi, the cross-entropy to its peer's predictions, after a burn-in of
cross-entropy alone. Here the two models are KDGAN's pretrained classifier and teacher
(how KDGAN paired them is unconfirmed); the peer's predictions are its current eval-mode
ones (no staleness: Anil et al.'s stale copies serve distributed training only).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.context import RunContext
from bench.train import optimise
from bench.families.label_game import LABEL_GAME_METRICS, LabelGameConfig, run_passes
from bench.metrics import eval_logits
from bench.registry import METHODS


@dataclass(frozen=True)
class CodisConfig(LabelGameConfig):
    """KDGAN's KD-baseline recipe; Anil et al.'s weights are unconfirmed (methods_spec §21.7)."""

    distill_weight: float = 1.0
    """Weight of psi against the cross-entropy (harness: equal weights; unconfirmed)."""
    burn_in: int = 1
    """Passes of cross-entropy alone before psi is added (harness: one; unconfirmed)."""


def peer_cross_entropy(logits: torch.Tensor, peer_logits: torch.Tensor) -> torch.Tensor:
    """psi: -sum_c softmax(peer)_c log softmax(logits)_c, averaged over the batch."""
    return -(F.softmax(peer_logits.detach(), dim=1) * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


@METHODS.register("codis", config=CodisConfig, family="adversarial_label", paper="kdgan",
                  needs_teacher=True, pretrained=("classifier",), label="CODIS",
                  metrics=(*LABEL_GAME_METRICS, "acc_teacher"))
def codis(ctx: RunContext, cfg: CodisConfig) -> dict[str, float]:
    models = {"classifier": ctx.pretrained("classifier"), "teacher": ctx.pretrained("teacher")}
    opts = {name: cfg.make_optimizer(net, classifier=name == "classifier") for name, net in models.items()}
    ctx.track(**models, **{f"opt_{name}": opt for name, opt in opts.items()})

    def step(x: torch.Tensor, y: torch.Tensor, outer: int) -> dict[str, torch.Tensor]:
        targets = {name: eval_logits(net, x) for name, net in models.items()}  # as its peer sees it
        peer = {"classifier": "teacher", "teacher": "classifier"}
        weight = cfg.distill_weight if outer >= cfg.burn_in else 0.0
        losses = {}
        for name, net in models.items():
            logits = net(x)
            losses[f"loss_{name}"] = (F.cross_entropy(logits, y)
                                      + weight * peer_cross_entropy(logits, targets[peer[name]]))
            optimise(opts[name], losses[f"loss_{name}"])
        return losses

    result = run_passes(ctx, models["classifier"], cfg, [("classifier", 1, step)], {})
    return {**result, "acc_teacher": ctx.evaluate(models["teacher"])}  # the co-distilled teacher, after training
