"""KDGAN's MNIST nets (P:kdgan App. C; C:KDGAN utils.build_mlp_logits, TF-slim lenet;
methods_spec §1.7), on 28x28 inputs.

- Classifier: MLP 784-h-h-10 with ReLU and dropout (keep 0.88) after each hidden layer;
  h = 800 in Tables 1 and 4 (1,276,810 parameters, "1.2M"); Table 3 varies h over
  100 / 200 / 800 / 1,200 (89,610 / 199,210 / 1,276,810 / 2,395,210 parameters: the
  paper's "0.09 / 0.19 / 1.22 / 2.28 M" in units of 2^20).
- Teacher and discriminator: LeNet = conv5x5 32 (same) -> max-pool 2 -> conv5x5 64 (same)
  -> max-pool 2 -> FC 1024 -> dropout (keep 0.5) -> FC 10 (3,274,634 parameters, "3.12M").
  The discriminator is the same net with its own weights; its C logits score (x, y) pairs.
Where the dropout sits in the MLP is not shown in the paper (after each hidden layer, as
``build_mlp_logits`` stacks it, is our reading).
"""
from __future__ import annotations

from torch import nn

from bench.nets.build import StagedClassifier
from bench.registry import NETS

MLP_KEEP = 0.88
"""C:KDGAN mdlcompr/flags.py: gen_keep_prob 0.88 (classifier dropout keep probability)."""
LENET_KEEP = 0.5
"""C:KDGAN mdlcompr/flags.py: dis/tch_keep_prob 0.5 (TF-slim lenet's dropout)."""


class MLP(StagedClassifier):
    """784 -> h -> h -> classes, ReLU + dropout after each hidden layer."""

    def __init__(self, num_classes: int, in_channels: int, hidden: int, size: int = 28):
        super().__init__()
        drop = 1 - MLP_KEEP
        self.features = nn.Sequential(
            nn.Flatten(), nn.Linear(in_channels * size * size, hidden), nn.ReLU(), nn.Dropout(drop),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(drop))
        self.head = nn.Linear(hidden, num_classes)

    STAGES = ((0, 4),)


class LeNetKDGAN(StagedClassifier):
    """TF-slim's LeNet as KDGAN uses it for the teacher and the discriminator."""

    def __init__(self, num_classes: int, in_channels: int, size: int = 28):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 1024), nn.ReLU(), nn.Dropout(1 - LENET_KEEP))
        self.head = nn.Linear(1024, num_classes)

    STAGES = ((0, 3), (3, 6))


def _register_mlp(hidden: int) -> None:
    name = "kdgan_mlp" if hidden == 800 else f"kdgan_mlp{hidden}"
    NETS.register(name, kind="classifier", input_size=28, paper="kdgan App. C / Table 3")(
        lambda num_classes, in_channels: MLP(num_classes, in_channels, hidden))


for _hidden in (100, 200, 800, 1200):
    _register_mlp(_hidden)


@NETS.register("kdgan_lenet", kind="classifier", input_size=28, paper="kdgan App. C")
def kdgan_lenet(num_classes: int, in_channels: int) -> nn.Module:
    return LeNetKDGAN(num_classes, in_channels)


# ---------------------------------------------------------------------------- CIFAR-10
class CifarLeNet(StagedClassifier):
    """P:kdgan App. C's CIFAR-10 classifier: conv5x5 64 -> pool -> conv5x5 128 -> pool ->
    FC 1024 -> classes (8,609,674 parameters with 'same' padding; the paper's "0.5M" fits
    no reading of the listed layers, methods_spec §21.2)."""

    def __init__(self, num_classes: int, in_channels: int, size: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(128 * (size // 4) ** 2, 1024), nn.ReLU())
        self.head = nn.Linear(1024, num_classes)

    STAGES = ((0, 3), (3, 6))


class TutorialCNN(StagedClassifier):
    """The TensorFlow CIFAR-10 tutorial CNN, KDGAN's CIFAR classifier and discriminator in
    its code: conv5x5 64 -> pool 3/2 -> LRN -> conv5x5 64 -> LRN -> pool 3/2 -> FC 384 ->
    FC 192 -> classes. TF's lrn(depth_radius 4, bias 1, alpha 0.001/9, beta 0.75) is
    torch's LocalResponseNorm(9, alpha 0.001, beta 0.75, k 1) (torch divides alpha by size)."""

    def __init__(self, num_classes: int, in_channels: int, size: int = 32):
        super().__init__()
        lrn = lambda: nn.LocalResponseNorm(9, alpha=0.001, beta=0.75, k=1.0)  # noqa: E731
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2, padding=1), lrn(),
            nn.Conv2d(64, 64, 5, padding=2), nn.ReLU(), lrn(), nn.MaxPool2d(3, 2, padding=1),
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 384), nn.ReLU(), nn.Linear(384, 192), nn.ReLU())
        self.head = nn.Linear(192, num_classes)

    STAGES = ((0, 4), (4, 8))


class PreActUnit(nn.Module):
    """TF research ResNet's pre-activation unit: BN -> leaky ReLU -> conv, twice, with an
    average-pool + zero-channel-padding shortcut when the shape changes."""

    def __init__(self, cin: int, cout: int, stride: int, leak: float, bottleneck: bool = False):
        super().__init__()
        act = lambda: nn.LeakyReLU(leak)  # noqa: E731
        if bottleneck:  # 1x1 (cout/4) -> 3x3 (cout/4) -> 1x1 (cout)
            mid = cout // 4
            self.body = nn.Sequential(
                nn.BatchNorm2d(cin), act(), nn.Conv2d(cin, mid, 1, stride, bias=False),
                nn.BatchNorm2d(mid), act(), nn.Conv2d(mid, mid, 3, 1, 1, bias=False),
                nn.BatchNorm2d(mid), act(), nn.Conv2d(mid, cout, 1, bias=False))
        else:
            self.body = nn.Sequential(
                nn.BatchNorm2d(cin), act(), nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
                nn.BatchNorm2d(cout), act(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False))
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        short = nn.functional.avg_pool2d(x, self.stride) if self.stride > 1 else x
        if self.pad:
            short = nn.functional.pad(short, (0, 0, 0, 0, 0, self.pad))
        return self.body(x) + short


class CifarResNet(StagedClassifier):
    """A CIFAR ResNet of pre-activation units: conv3x3 16 stem, stages of ``units`` units
    at widths ``widths`` (strides 1, 2, 2, ...), BN + leaky ReLU, global average pool."""

    def __init__(self, num_classes: int, in_channels: int, units: tuple[int, ...], widths: tuple[int, ...],
                 leak: float, bottleneck: bool):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)]
        cin = 16
        for stage, (n, cout) in enumerate(zip(units, widths)):
            for u in range(n):
                layers.append(PreActUnit(cin, cout, 2 if stage and not u else 1, leak, bottleneck))
                cin = cout
        self.stages_end = len(layers)
        layers += [nn.BatchNorm2d(cin), nn.LeakyReLU(leak), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_classes)
        self.STAGES = ((0, self.stages_end),)


@NETS.register("kdgan_cifar_lenet", kind="classifier", input_size=32, paper="kdgan App. C (CIFAR-10 classifier)")
def kdgan_cifar_lenet(num_classes: int, in_channels: int) -> nn.Module:
    return CifarLeNet(num_classes, in_channels)


@NETS.register("kdgan_tf_cnn", kind="classifier", input_size=32,
               paper="C:KDGAN CIFAR-10 classifier / discriminator (TF tutorial CNN)")
def kdgan_tf_cnn(num_classes: int, in_channels: int) -> nn.Module:
    return TutorialCNN(num_classes, in_channels)


@NETS.register("kdgan_resnet101", kind="classifier", input_size=32, paper="kdgan App. C (CIFAR-10 teacher)")
def kdgan_resnet101(num_classes: int, in_channels: int) -> nn.Module:
    """App. C's "101-layer ResNet": stem conv 16, bottleneck stages of 3 / 4 / 23 / 3 units
    at output widths 256 / 512 / 1024 / 2048 (39.7M parameters; the paper's "1.7M" does not
    fit it, methods_spec §21.2). Activation: leaky ReLU 0.1, as the code's ResNet."""
    return CifarResNet(num_classes, in_channels, (3, 4, 23, 3), (256, 512, 1024, 2048), 0.1, True)


@NETS.register("kdgan_resnet_code", kind="classifier", input_size=32,
               paper="C:KDGAN CIFAR-10 teacher (TF research ResNet, 3 units per stage)")
def kdgan_resnet_code(num_classes: int, in_channels: int) -> nn.Module:
    """The code's teacher: pre-activation units, widths 16 / 32 / 64 after a 16-channel stem
    (the code's 16/16/32/64), 3 units per stage (ResNet-20-like), leaky ReLU 0.1."""
    return CifarResNet(num_classes, in_channels, (3, 3, 3), (16, 32, 64), 0.1, False)
