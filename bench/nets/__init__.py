"""Architectures used by the papers, registered in ``NETS``.

Classifiers are built as ``NETS.get(name).obj(num_classes=..., in_channels=...)`` and
declare the square ``input_size`` they expect; generators take their own keywords.
Every classifier's ``forward(x, return_features=True)`` also returns its penultimate
feature, which feature-based losses (DAFL's activation term, AT) need.
"""
from bench.nets import acgan, alexnet, forests, gantsc, generators, kdgan, kdgan_tags, lenet, resnet, resnet_cifar, segmentation, small, wrn  # noqa: F401  (register nets)
from bench.nets.build import build_classifier  # noqa: F401
