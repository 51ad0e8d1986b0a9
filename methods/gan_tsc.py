"""GAN-TSC: teacher-student compression with AC-GAN data (Liu et al.; P:gantsc §§2-4;
methods_spec §11).

The compression set is augmented or replaced by inputs an AC-GAN trained on the teacher's
training data generates, labelled by the teacher: for a forest student (§3) 9 n rows, GAN
rows only (``data: synthetic``) or pooled with the training rows (``mixture``), fitted to
the teacher's P(y = 1 | x); for a network student (§4) GAN batches drawn on the fly with
probability ``p_fake``, matched to the teacher's logits. The AC-GAN is this run's ``sampler``
dependency (methods/acgan.py), trained once per (dataset, n, seed). ``gan_supervised`` is
App. A.1's control: the same GAN data fitted to the classes the AC-GAN was asked for,
without a teacher.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.compression import SyntheticBatches, SyntheticSet, train_student
from bench.context import RunContext
from bench.errors import UserError
from bench.registry import METHODS

CLASS_PRIORS = ("data", "balanced")


@dataclass(frozen=True)
class GANSampling:
    """How the AC-GAN is sampled."""

    class_prior: str = "data"
    """Classes the AC-GAN is asked for: ``data``, drawn from the real class distribution
    (P:gantsc §2: "C drawn from the real data class distribution"), or ``balanced``, n/2 per
    class (C:GAN-TSC generate_fake_tabular.py)."""
    noise_std: float = 0.5
    """C:GAN-TSC generate_fake_tabular.py: w ~ N(0, 0.5^2)."""

    def __post_init__(self):
        if self.class_prior not in CLASS_PRIORS:
            raise ValueError(f"class_prior must be one of {', '.join(CLASS_PRIORS)}, got {self.class_prior!r}")
        if self.noise_std <= 0:
            raise ValueError("noise_std must be > 0")


@dataclass(frozen=True)
class GANTSCConfig(SyntheticSet, GANSampling):
    """GAN-TSC compressing into a forest (P:gantsc §3)."""

    def __post_init__(self):
        SyntheticSet.__post_init__(self)
        GANSampling.__post_init__(self)


@dataclass(frozen=True)
class GANTSCNetConfig(SyntheticBatches, GANSampling):
    """GAN-TSC compressing into a network (P:gantsc §4)."""

    def __post_init__(self):
        SyntheticBatches.__post_init__(self)
        GANSampling.__post_init__(self)


CONFIGS = {"estimator": GANTSCConfig, "classifier": GANTSCNetConfig}


def acgan_sampler(ctx: RunContext, cfg: GANSampling):
    """``sample(n)`` from this run's trained AC-GAN: classes per ``class_prior``, noise N(0, noise_std^2)."""
    gan = ctx.pretrained("sampler").eval()
    with torch.no_grad():
        shape = tuple(gan.generate(torch.zeros(1, gan.latent, device=ctx.device),
                                   torch.zeros(1, dtype=torch.long, device=ctx.device)).shape[1:])
    if shape != tuple(ctx.data.x_train.shape[1:]):
        raise UserError(f"the sampler {ctx.spec.roles()[-1][1].student!r} generates inputs of shape {shape}, the "
                        f"student {ctx.spec.student!r} reads {tuple(ctx.data.x_train.shape[1:])}: pair a sampler "
                        "and nets of one input size")
    y = ctx.data.y_train
    prior = (torch.bincount(y, minlength=ctx.data.num_classes).float() if cfg.class_prior == "data"
             else torch.ones(ctx.data.num_classes))

    @torch.no_grad()
    def sample(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        if cfg.class_prior == "balanced":  # the code: n / C rows of each class, in class order
            classes = torch.arange(ctx.data.num_classes).repeat_interleave(n // ctx.data.num_classes)
        else:
            classes = torch.multinomial(prior / prior.sum(), n, replacement=True, generator=ctx.generator)
        noise = torch.randn(len(classes), gan.latent, generator=ctx.generator) * cfg.noise_std
        return gan.generate(noise.to(ctx.device), classes.to(ctx.device)), classes.to(ctx.device)

    return sample


@METHODS.register("gan_tsc", config=CONFIGS, family="synthetic", paper="gan_tsc", label="GAN-TSC",
                  needs_teacher=True, pretrained=("sampler",))
def gan_tsc(ctx: RunContext, cfg) -> dict[str, float]:
    return train_student(ctx, cfg, "teacher", acgan_sampler(ctx, cfg))


@METHODS.register("gan_supervised", config=CONFIGS, family="synthetic", paper="gan_tsc",
                  label="GAN-supervised", needs_teacher=False, pretrained=("sampler",))
def gan_supervised(ctx: RunContext, cfg) -> dict[str, float]:
    """P:gantsc App. A.1 (Fig. 4): the student fitted to the GAN data's requested classes, no teacher."""
    return train_student(ctx, cfg, "labels", acgan_sampler(ctx, cfg))
