"""Net shapes, parameter counts from the papers, and the paper-profile nets for 2 steps."""
from __future__ import annotations

import torch

from bench.nets import build_classifier
from bench.nets.generators import generator_a


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_lenet_parameter_counts_match_methods_spec():
    assert n_params(build_classifier("lenet5", 10, 1, 0)) == 61_706
    assert n_params(build_classifier("lenet5_half", 10, 1, 0)) == 15_738


def test_student_init_depends_only_on_arch_and_seed():
    a, b = build_classifier("cnn8_half", 10, 1, 3), build_classifier("cnn8_half", 10, 1, 3)
    c = build_classifier("cnn8_half", 10, 1, 4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))


def test_classifiers_return_logits_and_features():
    for arch, size, feat in (("lenet5", 32, 120), ("lenet5_half", 32, 60), ("cnn8", 8, 128)):
        logits, features = build_classifier(arch, 10, 1, 0)(torch.randn(4, 1, size, size), return_features=True)
        assert logits.shape == (4, 10) and features.shape == (4, feat)


def test_generator_a_output_is_standardised_by_its_last_bn():
    g = generator_a(nz=100, ngf=64, img_size=32, nc=1).train()
    x = g(torch.randn(64, 100))
    assert x.shape == (64, 1, 32, 32)
    assert abs(x.mean().item()) < 1e-4 and abs(x.std().item() - 1) < 1e-2
    assert not g.body[-1].affine


def test_measured_macs_match_a_hand_count_and_the_papers_flops():
    from bench.nets.cost import net_cost, si

    # LeNet-5 on 32x32: conv 1->6 5x5 at 28x28 (117,600) + conv 6->16 5x5 at 10x10 (240,000)
    # + conv 16->120 5x5 at 1x1 (48,000) + fc 120->84 (10,080) + fc 84->10 (840)
    assert net_cost("lenet5", 10, 1) == (61_706, 416_520)
    # DFAD Table 2 prints 1.16G / 557M for ResNet-34-8x / ResNet-18-8x on CIFAR-10
    assert si(net_cost("resnet34_8x", 10, 3)[1]) == "1.16G"
    assert abs(net_cost("resnet18_8x", 10, 3)[1] / 557e6 - 1) < 0.01
    assert si(net_cost("resnet34_in128", 101, 3)[1]) == "1.2G"  # Caltech101, 128 px


def test_generator_b_is_built_as_dfads_code_builds_it():
    from bench.nets.generators import GeneratorB

    g = GeneratorB(nz=256, ngf=64, img_size=128, nc=3)
    # Linear 256 -> 512*8*8 (8,421,376) + BN 1,024 + 4x4 deconvs 512->256->128->64->64 without
    # bias (2,097,152 + 524,288 + 131,072 + 65,536) + their BNs (512 + 256 + 128 + 128)
    # + conv 64->3 3x3 (1,731)
    assert n_params(g) == 11_243_203
    assert [m.kernel_size for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [(4, 4)] * 4
    assert g(torch.randn(2, 256)).shape == (2, 3, 128, 128)
