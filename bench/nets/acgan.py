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

import torch
from torch import nn

from bench.registry import NETS

LATENT = 100
"""P:gantsc §3: noise vectors w in R^100."""
HIDDEN = 50
"""P:gantsc §3: one hidden layer of 50 ReLU units in G and in D."""


class TabularACGAN(nn.Module):
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


@NETS.register("acgan_tabular", kind="sampler", input_size=None, paper="gan_tsc §3")
def acgan_tabular(num_classes: int, in_channels: int) -> nn.Module:
    """``in_channels`` is the number of features of tabular data (its input shape)."""
    return TabularACGAN(num_classes, in_channels)
