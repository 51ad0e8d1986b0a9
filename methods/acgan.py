"""AC-GAN training (Odena et al. 2017), the sampler GAN-TSC draws extra inputs from
(P:gantsc §2 Eq. 1, §3; methods_spec §11).

With L_source the log-likelihood of the correct source (real / fake) and L_class that of
the correct class, over real rows and generated ones, D maximises L_class + L_source and
G maximises L_class - L_source (Eq. 1). Per mini-batch of real rows: one D step on the
real batch and an equal fake batch, then one G step on a fresh fake batch, G's source
term in the usual non-saturating form (G's samples labelled real, as the Keras AC-GAN
trains it). Fake classes are drawn from the real class distribution (P:gantsc §2).

The run is a ``pretrained`` dependency of GAN-TSC runs (role ``sampler``): trained once
per (dataset, n_train, seed) on the same training rows the teacher saw, then shared by
every student that samples from it.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.context import RunContext
from bench.data import batches
from bench.registry import METHODS


@dataclass(frozen=True)
class ACGANConfig:
    """AC-GAN training; values from P:gantsc §3 unless noted."""

    epochs: int = 300
    """Passes over the training rows. The tabular AC-GAN's epochs are not given (the image
    AC-GAN trains 1,000, P:gantsc §4; the tabular one shipped as a trained file): harness."""
    batch_size: int = 100
    """Not given for tabular data; Keras-ACGAN (which C:GAN-TSC modifies) uses 100."""
    lr: float = 2e-4
    """P:gantsc §3: Adam, learning rate 0.0002."""
    beta1: float = 0.5
    """P:gantsc §3: momentum term beta1 = 0.5."""
    noise_std: float = 0.5
    """C:GAN-TSC generate_fake_tabular.py: w ~ N(0, 0.5^2) (used in training and sampling)."""
    log_every: int = 10
    """Epochs between evaluations of D's class head on the test rows (the curve)."""

    def __post_init__(self):
        if self.noise_std <= 0 or self.log_every < 1:
            raise ValueError("noise_std must be > 0 and log_every >= 1")


def class_prior(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The training rows' class frequencies: what fake classes are drawn from."""
    return torch.bincount(y, minlength=num_classes).float() / len(y)


def discriminator_loss(gan, x_real, y_real, fake, y_fake) -> torch.Tensor:
    """-(L_class + L_source) of Eq. 1 as cross-entropies, on a real and a (detached) fake batch."""
    src_real, cls_real = gan.discriminate(x_real)
    src_fake, cls_fake = gan.discriminate(fake.detach())
    return (F.binary_cross_entropy_with_logits(src_real, torch.ones_like(src_real))
            + F.binary_cross_entropy_with_logits(src_fake, torch.zeros_like(src_fake))
            + F.cross_entropy(cls_real, y_real) + F.cross_entropy(cls_fake, y_fake))


def generator_loss(gan, fake, y_fake) -> torch.Tensor:
    """G's side of Eq. 1: its samples classified as their class c and taken for real
    (the non-saturating form of maximising -L_source)."""
    src, cls = gan.discriminate(fake)
    return F.binary_cross_entropy_with_logits(src, torch.ones_like(src)) + F.cross_entropy(cls, y_fake)


@METHODS.register("acgan", config=ACGANConfig, family="synthetic", paper="gan_tsc", needs_teacher=False,
                  label="AC-GAN")
def acgan(ctx: RunContext, cfg: ACGANConfig) -> dict[str, float]:
    data = ctx.data
    gan = ctx.net()
    gan.fit_scale(data.x_train)
    d_params = [*gan.body.parameters(), *gan.source.parameters(), *gan.classes.parameters()]
    g_params = [*gan.generator.parameters(), *gan.embed.parameters()]
    opt_d = torch.optim.Adam(d_params, lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_g = torch.optim.Adam(g_params, lr=cfg.lr, betas=(cfg.beta1, 0.999))
    ctx.track(gan=gan, opt_d=opt_d, opt_g=opt_g)
    prior = class_prior(data.y_train, data.num_classes)
    for epoch in ctx.steps(cfg.epochs, desc="acgan"):
        sums = torch.zeros(2)
        for idx in batches(len(data.y_train), cfg.batch_size, ctx.generator):
            n = len(idx)
            draw = lambda: (torch.randn(n, gan.latent, generator=ctx.generator) * cfg.noise_std,  # noqa: E731
                            torch.multinomial(prior, n, replacement=True, generator=ctx.generator))
            noise, y_fake = draw()
            loss_d = discriminator_loss(gan, data.x_train[idx], data.y_train[idx], gan.generate(noise, y_fake),
                                        y_fake)
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            noise, y_fake = draw()
            loss_g = generator_loss(gan, gan.generate(noise, y_fake), y_fake)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            sums += torch.tensor([loss_d.item(), loss_g.item()]) * n
        if (epoch + 1) % cfg.log_every == 0 or epoch + 1 == cfg.epochs:
            loss_d, loss_g = (sums / len(data.y_train)).tolist()
            ctx.log(epoch + 1, epoch=epoch + 1, loss_d=loss_d, loss_g=loss_g, acc=ctx.evaluate(gan))
    ctx.save_model(gan)
    return {"acc_last": ctx.curve[-1]["acc"], "loss_d": ctx.curve[-1]["loss_d"], "loss_g": ctx.curve[-1]["loss_g"]}
