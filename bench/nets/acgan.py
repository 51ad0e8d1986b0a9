"""AC-GAN nets (Odena et al. 2017) as GAN-TSC uses them to sample extra inputs.

``acgan_tabular`` (P:gantsc §3): generator and discriminator are "one layer fully-connected
neural networks with 50 neurons and ReLU activation", noise w in R^100. Where the paper
is silent the official code is followed (C:GAN-TSC generate_fake_tabular.py, after
Keras-ACGAN): the class enters the generator as a learned embedding multiplied into the
noise. The discriminator has two heads on its hidden layer: P(S = real | x) and P(C | x).

Features are standardised inside the module with the training set's mean and std (buffers,
saved with the weights) and the generator's linear output is mapped back, so samples come
out in the data's units (a harness choice: the code's scaling of MAGIC is not released).
``forward(x)`` is the discriminator's class head, so the AC-GAN can be scored as a
classifier like any net.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.registry import NETS

LATENT = 100
"""P:gantsc §3: noise vectors w in R^100."""
HIDDEN = 50
"""P:gantsc §3: one hidden layer of 50 ReLU units in G and in D."""


class ACGAN(nn.Module):
    """What every AC-GAN here offers: G's and D's parameters apart (their own optimizers)."""

    G_PARTS: tuple[str, ...] = ("embed", "project", "generator")

    def generator_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name.split(".")[0] in self.G_PARTS]

    def discriminator_parameters(self) -> list[nn.Parameter]:
        return [p for name, p in self.named_parameters() if name.split(".")[0] not in self.G_PARTS]


class TabularACGAN(ACGAN):
    def __init__(self, num_classes: int, features: int, latent: int = LATENT, hidden: int = HIDDEN):
        super().__init__()
        self.latent = latent
        self.num_classes = num_classes
        self.embed = nn.Embedding(num_classes, latent)
        nn.init.xavier_normal_(self.embed.weight)  # Keras-ACGAN: glorot_normal class embedding
        self.generator = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, features))
        self.body = nn.Sequential(nn.Linear(features, hidden), nn.ReLU())
        self.source = nn.Linear(hidden, 1)
        self.classes = nn.Linear(hidden, num_classes)
        self.register_buffer("mean", torch.zeros(features))
        self.register_buffer("std", torch.ones(features))

    def fit_scale(self, x: torch.Tensor) -> None:
        """Standardise with the training rows' statistics (constant features keep std 1)."""
        self.mean.copy_(x.mean(dim=0))
        std = x.std(dim=0)
        self.std.copy_(torch.where(std > 0, std, torch.ones_like(std)))

    def generate(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """G(w, c) in the data's units: the noise times c's embedding, through G."""
        return self.generator(noise * self.embed(labels)) * self.std + self.mean

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(real/fake logit (N,), class logits (N, C)) of rows in the data's units."""
        h = self.body((x - self.mean) / self.std)
        return self.source(h).squeeze(1), self.classes(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminate(x)[1]


def released_generator_file(file: str, data_root) -> Path:
    """The Keras generator file ``acgan.released_generator`` names (absolute, or relative to
    the data root); a UserError naming the path and what is expected if it is not a file."""
    from bench.errors import UserError

    path = Path(file) if Path(file).is_absolute() else Path(data_root) / file
    if not path.is_file():
        raise UserError(f"acgan.released_generator: {path} is not a file; give the path of a Keras generator "
                        "file such as GAN-TSC's models/tabular/netG.h5 (absolute, or relative to --data-root)")
    return path


def load_keras_generator(gan: TabularACGAN, path) -> None:
    """G from a Keras AC-GAN generator file, read with h5py (no Keras): C:GAN-TSC's released
    ``models/tabular/netG.h5`` is an Embedding of the class multiplied into the noise, then
    Dense 50 ReLU and Dense linear, the same G as TabularACGAN's. Its rows come out in the units
    it was trained on (magic.npz's standardised features), so the module's scaling is the
    identity. Every mismatch names the file and what it holds."""
    import json

    import h5py

    from bench.errors import UserError

    try:
        with h5py.File(path, "r") as f:
            config = f.attrs["model_config"]
            layers = json.loads(config.decode() if isinstance(config, bytes) else config)["config"]["layers"]
            embed = next(layer["name"] for layer in layers if layer["class_name"] == "Embedding")
            stack = next(layer for layer in layers if layer["class_name"] == "Sequential")
            dense = [layer["config"] for layer in stack["config"] if layer["class_name"] == "Dense"]
            weights = f["model_weights"]
            table = weights[embed][embed]["embeddings:0"][()]
            kernels = [(weights[stack["name"]][d["name"]]["kernel:0"][()], weights[stack["name"]][d["name"]]["bias:0"][()])
                       for d in dense]
    except (OSError, KeyError, StopIteration, ValueError) as exc:
        raise UserError(f"{path}: not a Keras AC-GAN generator file (an Embedding and a Sequential of Dense "
                        f"layers under model_weights): {type(exc).__name__}: {exc}") from None
    shapes = [table.shape] + [k.shape for k, _ in kernels]
    expected = [tuple(gan.embed.weight.shape), (gan.latent, gan.generator[0].out_features),
                (gan.generator[0].out_features, gan.generator[2].out_features)]
    activations = [d.get("activation") for d in dense]
    if shapes != expected or activations != ["relu", "linear"]:
        raise UserError(f"{path}: its generator has weights {shapes} and activations {activations}; this AC-GAN "
                        f"needs {expected} and ['relu', 'linear'] (classes x noise, noise x hidden, hidden x features)")
    with torch.no_grad():
        gan.embed.weight.copy_(torch.from_numpy(table))
        for layer, (kernel, bias) in zip((gan.generator[0], gan.generator[2]), kernels):
            layer.weight.copy_(torch.from_numpy(kernel).T)  # Keras keeps (in, out)
            layer.bias.copy_(torch.from_numpy(bias))
        gan.mean.zero_()
        gan.std.fill_(1.0)


@NETS.register("acgan_tabular", kind="sampler", input_size=None, paper="gan_tsc §3")
def acgan_tabular(num_classes: int, in_channels: int) -> nn.Module:
    """``in_channels`` is the number of features of tabular data (its input shape)."""
    return TabularACGAN(num_classes, in_channels)


IMAGE_LATENT = 110
"""P:gantsc §4: "the class c and noise vector w in R^110" (Keras-ACGAN: latent 110)."""


class ImageACGAN(ACGAN):
    """Keras-ACGAN-CIFAR10 as GAN-TSC uses it (P:gantsc §4: a 6-conv LeakyReLU discriminator,
    a 3-'deconvolution' generator; methods_spec §11): G = Dense(w0 x 4 x 4) ReLU -> ConvT w1
    k5 s2 ReLU, BN -> ConvT w2 k5 s2 ReLU, BN -> ConvT channels k5 s2 tanh (32 x 32); D =
    Gaussian noise 0.05 -> conv3x3 with strides 2, 1, 2, 1, 2, 1, each LeakyReLU 0.2 and
    dropout 0.5, BN on all but the first -> real/fake and class heads. Widths (384, 192, 96)
    and (16 ... 512) are Keras-ACGAN's; ``scale`` divides them all (a CPU-sized variant).
    tanh's [-1, 1] maps to each channel's range in the training images (``fit_scale``)."""

    def __init__(self, num_classes: int, channels: int, scale: int = 1, latent: int = IMAGE_LATENT):
        super().__init__()
        g = [w // scale for w in (384, 192, 96)]
        d = [w // scale for w in (16, 32, 64, 128, 256, 512)]
        self.latent = latent
        self.embed = nn.Embedding(num_classes, latent)
        nn.init.trunc_normal_(self.embed.weight, std=0.05)  # Keras TruncatedNormal default
        self.project = nn.Sequential(nn.Linear(latent, g[0] * 16), nn.ReLU())
        up = lambda i, o: nn.ConvTranspose2d(i, o, 5, 2, padding=2, output_padding=1)  # noqa: E731
        self.generator = nn.Sequential(up(g[0], g[1]), nn.ReLU(), nn.BatchNorm2d(g[1]),
                                       up(g[1], g[2]), nn.ReLU(), nn.BatchNorm2d(g[2]), up(g[2], channels), nn.Tanh())
        layers, c = [], channels
        for i, (width, stride) in enumerate(zip(d, (2, 1, 2, 1, 2, 1))):
            layers += [nn.Conv2d(c, width, 3, stride, padding=1)]
            layers += [nn.BatchNorm2d(width)] if i else []
            layers += [nn.LeakyReLU(0.2), nn.Dropout(0.5)]
            c = width
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.source = nn.Linear(d[-1] * 16, 1)
        self.classes = nn.Linear(d[-1] * 16, num_classes)
        self.register_buffer("low", torch.zeros(1, channels, 1, 1))
        self.register_buffer("high", torch.ones(1, channels, 1, 1))

    def fit_scale(self, x: torch.Tensor) -> None:
        """tanh's range maps to each channel's [min, max] over the training images."""
        self.low.copy_(x.amin(dim=(0, 2, 3)).view_as(self.low))
        self.high.copy_(x.amax(dim=(0, 2, 3)).view_as(self.high))

    def generate(self, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.project(noise * self.embed(labels)).view(len(noise), -1, 4, 4)
        return self.low + (self.generator(h) + 1) / 2 * (self.high - self.low)

    def discriminate(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (x - self.low) / (self.high - self.low) * 2 - 1
        if self.training:  # Keras GaussianNoise(0.05): active in training only
            x = x + 0.05 * torch.randn_like(x)
        h = self.body(x)
        return self.source(h).squeeze(1), self.classes(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminate(x)[1]


@NETS.register("acgan_cifar", kind="sampler", input_size=32, paper="gan_tsc §4 (Keras-ACGAN-CIFAR10)")
def acgan_cifar(num_classes: int, in_channels: int) -> nn.Module:
    return ImageACGAN(num_classes, in_channels)


@NETS.register("acgan_cifar_small", kind="sampler", input_size=32, paper="gan_tsc §4, widths / 4 (CPU profiles)")
def acgan_cifar_small(num_classes: int, in_channels: int) -> nn.Module:
    return ImageACGAN(num_classes, in_channels, scale=4)
