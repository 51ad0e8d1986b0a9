"""AC-GAN training (Odena et al. 2017), the sampler GAN-TSC draws extra inputs from
(P:gantsc §2 Eq. 1, §3; methods_spec §11).

With L_source the log-likelihood of the correct source (real / fake) and L_class that of
the correct class, over real rows and generated ones, D maximises L_class + L_source and
G maximises L_class - L_source (Eq. 1); fake classes are drawn from the real class
distribution (P:gantsc §2). Where the paper is silent the loop is the Keras AC-GAN that
C:GAN-TSC's generator code says it modifies (Keras-ACGAN-CIFAR10, methods_spec §11): per
mini-batch of real rows, ``d_steps`` times a D step on the real batch then one on a fake
batch (separate Adam steps), with smoothed source targets (real U(0.7, 1.2), fake U(0, 0.3))
that swap on every ``flip_every``-th batch, then one G step on ``generator_batch`` x B fresh
samples with targets U(0.7, 1.2) (G's samples taken for real: the non-saturating form).

The run is a ``pretrained`` dependency of GAN-TSC runs (role ``sampler``): trained once
per (dataset, n_train, seed) on the same training rows the teacher saw, then shared by
every student that samples from it. An ``init`` dependency (the inferior GAN's) is a
trained AC-GAN this run continues.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bench.context import RunContext
from bench.data import batches
from bench.nets.acgan import load_keras_generator, released_generator_file
from bench.registry import METHODS, Role


@dataclass(frozen=True)
class ACGANConfig:
    """AC-GAN training; values from P:gantsc §3 unless noted."""

    epochs: int = 100
    """Passes over the training rows. The tabular AC-GAN's are not given (the image AC-GAN
    trains 1,000, P:gantsc §4; the tabular one shipped as a trained file): harness, where
    GAN-TSC's single-tree AUC on MAGIC stopped improving (measured, methods/acgan.py note)."""
    batch_size: int = 100
    """Keras-ACGAN (which C:GAN-TSC modifies): batch 100."""
    lr: float = 2e-4
    """P:gantsc §3: Adam, learning rate 0.0002."""
    beta1: float = 0.5
    """P:gantsc §3: momentum term beta1 = 0.5."""
    noise_std: float = 0.5
    """C:GAN-TSC generate_fake_tabular.py and Keras-ACGAN: w ~ N(0, 0.5^2)."""
    d_steps: int = 4
    """Keras-ACGAN: D trains 4 times (real, then fake) per G step."""
    smooth_labels: bool = True
    """Keras-ACGAN: source targets real U(0.7, 1.2), fake U(0, 0.3), G's U(0.7, 1.2)."""
    flip_every: int = 30
    """Keras-ACGAN: every 30th batch D learns with the source targets swapped (0: never)."""
    generator_batch: int = 2
    """Keras-ACGAN: G steps on 2 x B samples."""
    class_only_epochs: int = 0
    """Epochs after ``epochs`` in which G and D maximise L_class alone, ignoring L_source: P:gantsc
    §5's "inferior" AC-GAN (10 such epochs) whose images the teacher classifies confidently but
    which do not resemble real data. A suite's run continues the well-trained GAN (its ``init``
    dependency, bench/plan/grid.py) with fresh Adam states; a run without one trains all epochs."""
    log_every: int = 10
    """Epochs between evaluations of D's class head on the test rows (the curve)."""
    released_generator: str = ""
    """A Keras generator file to load instead of training (C:GAN-TSC models/tabular/netG.h5; a path,
    or relative to the data root): GAN-TSC on the released generator's rows, to compare with
    a trained AC-GAN's on the same split (magic_npz, the features it was trained on). Only G is
    loaded; nothing trains, and D's class head is not measured."""

    def __post_init__(self):
        if self.noise_std <= 0 or self.log_every < 1 or self.d_steps < 1 or self.generator_batch < 1:
            raise ValueError("noise_std must be > 0; log_every, d_steps and generator_batch at least 1")
        if self.flip_every < 0 or self.class_only_epochs < 0:
            raise ValueError("flip_every and class_only_epochs must be >= 0")


def class_prior(y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The training rows' class frequencies: what fake classes are drawn from."""
    return torch.bincount(y, minlength=num_classes).float() / len(y)


def source_targets(n: int, real: bool, smooth: bool, generator: torch.Generator) -> torch.Tensor:
    """Targets of D's real/fake head: 1 / 0, or Keras-ACGAN's U(0.7, 1.2) / U(0, 0.3)."""
    if not smooth:
        return torch.full((n,), 1.0 if real else 0.0)
    low, high = (0.7, 1.2) if real else (0.0, 0.3)
    return torch.rand(n, generator=generator) * (high - low) + low


def source_class_loss(gan, x, source_target, classes, source: bool = True) -> torch.Tensor:
    """-(log P(S | x) + log P(C = c | x)) with (soft) source targets: Eq. 1's terms for one
    batch (the class term alone when ``source`` is off)."""
    src, cls = gan.discriminate(x)
    loss = F.cross_entropy(cls, classes)
    return loss + F.binary_cross_entropy_with_logits(src, source_target) if source else loss


@METHODS.register("acgan", config=ACGANConfig, family="synthetic", paper="gan_tsc", needs_teacher=False,
                  label="AC-GAN", metrics=("acc_last", "loss_d", "loss_g"),
                  provides=(Role("sampler", arch=("sampler",), params_from="sampler",
                                 starts_from=(("class_only_epochs", 0),)),))
# The sampler is trained on the run's own training rows; P:gantsc §5's inferior GAN continues
# the well-trained one with class-only epochs (the same GAN without them).
def acgan(ctx: RunContext, cfg: ACGANConfig) -> dict[str, float]:
    if cfg.released_generator:
        return released(ctx, cfg.released_generator)
    data = ctx.data
    init = "init" in dict(ctx.spec.roles())  # continue a trained GAN with the class-only epochs alone
    gan = ctx.pretrained("init") if init else ctx.net()
    if not init:
        gan.fit_scale(data.x_train)
    opt_d = torch.optim.Adam(gan.discriminator_parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    opt_g = torch.optim.Adam(gan.generator_parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
    ctx.track(gan=gan, opt_d=opt_d, opt_g=opt_g)
    prior = class_prior(data.y_train, data.num_classes)

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.randn(n, gan.latent, generator=ctx.generator) * cfg.noise_std,
                torch.multinomial(prior, n, replacement=True, generator=ctx.generator))

    def step(opt, loss) -> float:
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    first, total = (cfg.epochs if init else 0), cfg.epochs + cfg.class_only_epochs
    for done in ctx.steps(total - first, desc="acgan"):
        epoch = first + done
        sums = torch.zeros(2)
        source = epoch < cfg.epochs
        for b, idx in enumerate(batches(len(data.y_train), cfg.batch_size, ctx.generator)):
            n = len(idx)
            noise, y_fake = draw(n)
            with torch.no_grad():
                fake = gan.generate(noise, y_fake)
            flip = cfg.flip_every > 0 and b % cfg.flip_every == 0
            for _ in range(cfg.d_steps):
                sums[0] += step(opt_d, source_class_loss(
                    gan, data.x_train[idx], source_targets(n, not flip, cfg.smooth_labels, ctx.generator),
                    data.y_train[idx], source)) * n / cfg.d_steps
                sums[0] += step(opt_d, source_class_loss(
                    gan, fake, source_targets(n, flip, cfg.smooth_labels, ctx.generator), y_fake, source)) * n / cfg.d_steps
            noise, y_gen = draw(cfg.generator_batch * n)
            sums[1] += step(opt_g, source_class_loss(
                gan, gan.generate(noise, y_gen),
                source_targets(len(y_gen), True, cfg.smooth_labels, ctx.generator), y_gen, source)) * n
        if (epoch + 1) % cfg.log_every == 0 or epoch + 1 == total:
            loss_d, loss_g = (sums / len(data.y_train)).tolist()
            ctx.log(epoch + 1, epoch=epoch + 1, loss_d=loss_d, loss_g=loss_g, acc=ctx.evaluate(gan))
    ctx.save_model(gan)
    return {"acc_last": ctx.curve[-1]["acc"], "loss_d": ctx.curve[-1]["loss_d"], "loss_g": ctx.curve[-1]["loss_g"]}


def released(ctx: RunContext, file: str) -> dict[str, float]:
    """The AC-GAN whose generator is read from ``file`` (recorded by digest: if the file
    changes, the run is stale)."""
    path = released_generator_file(file, ctx.data_root)
    gan = ctx.net()
    load_keras_generator(gan, path)
    ctx.record_file(path)
    ctx.extra["unmeasured"] = "acc_last, loss_d, loss_g: the generator was loaded from a file, nothing trained"
    ctx.save_model(gan)
    return {}
