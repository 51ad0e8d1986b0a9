"""NaGAN: KDGAN's naive two-player GAN, the classifier C against a discriminator D over
labels (P:kdgan §3.1; methods_spec §8).

C is a policy over labels updated by the score-function gradient with the control
variate (P:kdgan App. B, without a teacher and without the concrete distribution); D
learns to tell true labels from C's. Both start from CE-pretrained checkpoints; an
outer epoch is 20 passes of D then 10 of C (C:KDGAN mdlcompr_xw/train_gan.py).

Departure from the code, following the paper: the code trains C on a sigmoid
cross-entropy towards D's score (a surrogate, not a policy gradient:
``adversarial: reward_regression``) and D on smoothed targets with negatives that exclude
the true label (``discriminator: gan_dis_sample_dev``), on affinely augmented MNIST (``augment: affine``)
(methods_spec §8).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.context import RunContext
from bench.train import optimise
from bench.families.label_game import (LABEL_GAME_METRICS, LabelGameConfig, adversarial_term, discriminator_step,
                                       run_passes)
from bench.registry import METHODS


@dataclass(frozen=True)
class NaGANConfig(LabelGameConfig):
    """C:KDGAN mdlcompr_xw/train_gan.py and scripts; the paper gives no values."""

    epochs: int = 20
    """C:KDGAN run_mnist10k.sh: num_epoch 20 outer epochs (200 C passes)."""
    d_passes: int = 20
    """C:KDGAN train_gan.py: 20 D passes per outer epoch."""
    c_passes: int = 10
    """C:KDGAN train_gan.py: 10 C passes per outer epoch."""
    samples: int = 25
    """C:KDGAN: 25 labels sampled per image for C's update (k of App. B)."""
    negatives: int = 20
    """C:KDGAN utils.gan_dis_sample: 20 sampled labels per image as D's negatives."""


@METHODS.register("nagan", config=NaGANConfig, family="adversarial_label", paper="kdgan",
                  needs_teacher=False, pretrained=("classifier", "discriminator"), label="NaGAN",
                  metrics=LABEL_GAME_METRICS)
def nagan(ctx: RunContext, cfg: NaGANConfig) -> dict[str, float]:
    c, d = ctx.pretrained("classifier"), ctx.pretrained("discriminator")
    opt_c, opt_d = cfg.make_optimizer(c, classifier=True), cfg.make_optimizer(d)
    ctx.track(classifier=c, discriminator=d, opt_c=opt_c, opt_d=opt_d)

    def d_step(x: torch.Tensor, y: torch.Tensor, outer: int) -> dict[str, torch.Tensor]:
        return {"loss_d": discriminator_step(d, opt_d, x, y, [(c, 1.0)], cfg.negatives, cfg.discriminator)}

    def c_step(x: torch.Tensor, y: torch.Tensor, outer: int) -> dict[str, torch.Tensor]:
        loss = adversarial_term(c(x), d, x, cfg.samples, 1.0, False, cfg.adversarial)
        optimise(opt_c, loss)
        return {"loss_c": loss}

    return run_passes(ctx, c, cfg, [("discriminator", cfg.d_passes, d_step), ("classifier", cfg.c_passes, c_step)],
                      {"classifier": c, "discriminator": d})
