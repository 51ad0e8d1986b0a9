"""Generators of the data-free methods (methods_spec §1.8).

- Generator-A (DFAD Table 4): Linear(nz -> 2ngf*(S/4)^2), reshape, BN(2ngf); upsample x2
  (nearest); conv3x3 2ngf->2ngf, BN, LeakyReLU(0.2); upsample x2; conv3x3 2ngf->ngf, BN,
  LeakyReLU(0.2); conv3x3 ngf->nc; Tanh; BN(nc, affine=False). The last, non-affine BN
  standardises the images, so generators are always sampled in train mode.
- DAFL's generator: the same topology, but its inner BNs are built with eps=0.8 (the
  second positional argument of BatchNorm2d in the official code; kept on purpose).
- ZSKT's generator: Linear(z -> 128*(S/4)^2), BN; up, conv 128->128, BN, LReLU; up,
  conv 128->64, BN, LReLU; conv 64->nc; BN(nc, affine=True); no tanh.
- CMI's LargeGenerator: the same with widths 256/128/64, bias-free convs and a sigmoid.
  These four share ``UpsamplingGenerator``.
- MAD's generator (MAD Table 8a): Linear(d_z -> 256*(S/8)^2), reshape, ReLU,
  BatchNorm2d(256, 0.1) as printed (eps 0.1); three [UpsamplingBilinear2d x2 (align_corners)
  -> ConvBlock] stages 256->128->64->32; conv1x1 32->nc giving
  logits u; the image is sigmoid(u), normalised like the data by the method.
  ConvBlock's internals did not survive the paper's text extraction: assumed
  conv3x3-BN-LeakyReLU(0.2) (methods_spec §1.8, unconfirmed).
- MAD's large-image generator (MAD Table 8c, ImageNet / Places365 / Food101): Linear(d_z ->
  32ngf*4*4), reshape, ResNetBlock(32ngf, 32ngf); six [UpsamplingBilinear2d x2 ->
  ResNetBlock] to 16/8/4/2/1/1 x ngf channels (ngf = 16: 512 ... 16, 256x256); conv3x3 -> nc
  giving the logits u. ResNetBlockY's internals did not survive the text extraction
  either: assumed the pre-activation generator block of SNGAN / BigGAN without its
  upsampling (BN-ReLU-conv3x3-BN-ReLU-conv3x3, 1x1-conv shortcut where widths change).
  Table 8c prints the last conv as Conv2d(32, 3, 3, 1, 1) after a 16-channel block: its
  input width is read as 16.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.registry import NETS


class _NearestUp2(torch.autograd.Function):
    """Forward: each pixel repeated into a 2x2 block (one broadcast copy). Backward: PyTorch's
    own nearest-upsampling gradient kernel, so gradients are bit-identical to ``F.interpolate``'s."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = ctx.input_size = x.shape
        return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return torch.ops.aten.upsample_nearest2d_backward(grad, list(grad.shape[-2:]), list(ctx.input_size), 2.0, 2.0)


class NearestUp2(nn.Module):
    """Nearest-neighbour x2 upsampling, bit for bit ``nn.Upsample(scale_factor=2)`` forward
    and backward, several times faster on a CPU than the interpolation kernel, whose copy
    is a large share of a DFAD iteration."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _NearestUp2.apply(x)


class UpsamplingGenerator(nn.Module):
    """The two-upsampling family of DFAD, DAFL, ZSKT and CMI: Linear(nz -> w0*(S/4)^2),
    reshape, BN(w0); twice [upsample x2 (nearest), conv3x3, BN, LeakyReLU(0.2)] to w1, then
    w2; conv3x3 w2 -> nc; then each code's own ``tail``. ``output_activation='sigmoid'``
    marks a generator whose output is the logit of a [0, 1] image (CMI's)."""

    def __init__(self, nz: int, widths: tuple[int, int, int], img_size: int, nc: int,
                 tail: tuple[nn.Module, ...] = (), conv_bias: bool = True, bn_eps: float = 1e-5,
                 output_activation: str | None = None):
        super().__init__()
        if img_size % 4:
            raise ValueError(f"this generator needs an image size divisible by 4, got {img_size}")
        w0, w1, w2 = widths
        self.init_size = img_size // 4
        self.output_activation = output_activation
        self.project = nn.Linear(nz, w0 * self.init_size ** 2)
        self.body = nn.Sequential(
            nn.BatchNorm2d(w0),
            NearestUp2(),
            nn.Conv2d(w0, w1, 3, padding=1, bias=conv_bias), nn.BatchNorm2d(w1, bn_eps), nn.LeakyReLU(0.2, inplace=True),
            NearestUp2(),
            nn.Conv2d(w1, w2, 3, padding=1, bias=conv_bias), nn.BatchNorm2d(w2, bn_eps), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(w2, nc, 3, padding=1), *tail,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(z.shape[0], -1, self.init_size, self.init_size))


@NETS.register("generator_a", kind="generator", paper="dfad Table 4")
def generator_a(nz: int, ngf: int, img_size: int, nc: int, bn_eps: float = 1e-5) -> nn.Module:
    """DFAD's Generator-A: widths 2ngf/2ngf/ngf, then Tanh and a non-affine BN(nc)."""
    return UpsamplingGenerator(nz, (2 * ngf, 2 * ngf, ngf), img_size, nc,
                               (nn.Tanh(), nn.BatchNorm2d(nc, affine=False)), bn_eps=bn_eps)


@NETS.register("dafl_generator", kind="generator", paper="dafl (official code)")
def dafl_generator(nz: int, ngf: int, img_size: int, nc: int) -> nn.Module:
    """Generator-A with the inner BNs' eps = 0.8, as DAFL's code builds them."""
    return generator_a(nz, ngf, img_size, nc, bn_eps=0.8)


@NETS.register("zskt_generator", kind="generator", paper="zskt (official code)")
def zskt_generator(nz: int, ngf: int, img_size: int, nc: int) -> nn.Module:
    """ZSKT's generator: widths 2ngf/2ngf/ngf, then an affine BN(nc), no tanh."""
    return UpsamplingGenerator(nz, (2 * ngf, 2 * ngf, ngf), img_size, nc, (nn.BatchNorm2d(nc, affine=True),))


@NETS.register("cmi_large_generator", kind="generator", paper="cmi (re-runs in mad Table 1)")
def cmi_large_generator(nz: int, ngf: int, img_size: int, nc: int) -> nn.Module:
    """CMI's LargeGenerator (C:CMI datafree/models/generator.py), used by its re-runs of DAFL,
    ZSKT and DFAD: widths 4ngf/2ngf/ngf, bias-free inner convs; the code ends with a Sigmoid
    and normalises like the data, here the module returns the logit (``output_activation``)."""
    return UpsamplingGenerator(nz, (4 * ngf, 2 * ngf, ngf), img_size, nc, conv_bias=False,
                               output_activation="sigmoid")


class MADGenerator(nn.Module):
    """Returns the logits u; the image is sigmoid(u) (MAD Eq. 11 bounds |u|)."""

    output_activation = "sigmoid"

    def __init__(self, nz: int = 256, ngf: int = 32, img_size: int = 32, nc: int = 3,
                 bn_eps: float = 0.1, align_corners: bool = True):
        super().__init__()
        # Table 8a starts at 4x4 and doubles three times (32x32); smaller images (8x8
        # digits) start at 2x2: a 1x1 start would give spatially constant images.
        self.init_size = img_size // 8 if img_size >= 32 else 2
        n_up = (img_size // self.init_size).bit_length() - 1
        if self.init_size * 2 ** n_up != img_size or n_up > 3:
            raise ValueError(f"MAD's generator cannot produce {img_size}x{img_size} images")
        widths = (8 * ngf, 4 * ngf, 2 * ngf, ngf)[:n_up + 1]
        self.project = nn.Linear(nz, widths[0] * self.init_size ** 2)
        layers: list[nn.Module] = [nn.ReLU(), nn.BatchNorm2d(widths[0], bn_eps)]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=align_corners),
                       nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
        layers.append(nn.Conv2d(widths[-1], nc, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(z.shape[0], -1, self.init_size, self.init_size))


@NETS.register("mad_generator", kind="generator", paper="mad Table 8a")
def mad_generator(nz: int, ngf: int, img_size: int, nc: int, bn_eps: float = 0.1,
                  align_corners: bool = True) -> nn.Module:
    return MADGenerator(nz=nz, ngf=ngf, img_size=img_size, nc=nc, bn_eps=bn_eps, align_corners=align_corners)


class ResNetBlock(nn.Module):
    """MAD's ResNetBlockY(cin, cout) as assumed here (see the module docstring)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 3, padding=1),
                                  nn.BatchNorm2d(cout), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1))
        self.shortcut = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.body(x)


class MADLargeGenerator(nn.Module):
    """MAD Table 8c; returns the logits u (the image is sigmoid(u)). It doubles 4x4 until
    it reaches ``img_size`` (six times: 256x256, Table 8c); a size between two doublings
    (torchvision's 224 crops) is the next one up, bilinearly resized to ``img_size``
    (harness: the nets then see synthetic images at the size of the real test crops)."""

    output_activation = "sigmoid"
    WIDTHS = (32, 16, 8, 4, 2, 1, 1)  # x ngf after each stage (Table 8c with ngf = 16)

    def __init__(self, nz: int = 256, ngf: int = 16, img_size: int = 256, nc: int = 3):
        super().__init__()
        n_up = max(1, (img_size - 1).bit_length() - 2)  # 4 * 2**n_up >= img_size
        if n_up > 6:
            raise ValueError(f"MAD's large generator stops at 256x256, got {img_size}")
        self.img_size = img_size
        widths = [w * ngf for w in self.WIDTHS[:n_up + 1]]
        self.project = nn.Linear(nz, widths[0] * 16)
        layers: list[nn.Module] = [ResNetBlock(widths[0], widths[0])]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True), ResNetBlock(cin, cout)]
        layers.append(nn.Conv2d(widths[-1], nc, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        u = self.body(self.project(z).view(z.shape[0], -1, 4, 4))
        if u.shape[-1] != self.img_size:
            u = nn.functional.interpolate(u, size=self.img_size, mode="bilinear", align_corners=False)
        return u


@NETS.register("mad_generator_large", kind="generator", paper="mad Table 8c")
def mad_generator_large(nz: int, ngf: int, img_size: int, nc: int) -> nn.Module:
    return MADLargeGenerator(nz=nz, ngf=ngf, img_size=img_size, nc=nc)


class GeneratorB(nn.Module):
    """DFAD's Generator-B (DCGAN-like; Caltech101 and segmentation at 128x128) as the
    official code builds it (C:DFAD network/gan.py): Linear(nz -> 8ngf*(S/16)^2), reshape,
    BN(8ngf); four [4x4 transposed conv stride 2 pad 1 (no bias), BN, LeakyReLU(0.2)] with
    8->4->2->1->1 x ngf channels; 3x3 conv to nc; Tanh. Conv/linear weights N(0, 0.02),
    biases 0; BN weights N(1, 0.02), biases 0."""

    def __init__(self, nz: int = 256, ngf: int = 64, img_size: int = 128, nc: int = 3):
        super().__init__()
        if img_size % 16:
            raise ValueError(f"Generator-B needs an image size divisible by 16, got {img_size}")
        self.init_size = img_size // 16
        widths = (8 * ngf, 4 * ngf, 2 * ngf, ngf, ngf)
        self.project = nn.Linear(nz, widths[0] * self.init_size ** 2)
        layers: list[nn.Module] = [nn.BatchNorm2d(widths[0])]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(cout), nn.LeakyReLU(0.2, inplace=True)]
        layers += [nn.Conv2d(ngf, nc, 3, padding=1), nn.Tanh()]
        self.body = nn.Sequential(*layers)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(self.project(z).view(z.shape[0], -1, self.init_size, self.init_size))


@NETS.register("generator_b", kind="generator", paper="dfad Table 4")
def generator_b(nz: int, ngf: int, img_size: int, nc: int) -> nn.Module:
    return GeneratorB(nz=nz, ngf=ngf, img_size=img_size, nc=nc)

