"""The paper profile's resolved settings against the papers' (and their codes') values,
per table row, dataset and pair: an edit that changes one of them fails here."""
from __future__ import annotations

import pytest

from bench.errors import UserError
from bench.plan.grid import load_plan

MAD_CIFAR = {"batch_size": 256, "epochs": 300, "iters_per_epoch": 50, "generator_steps": 3,
             "lr_student": 0.01, "momentum": 0.9, "weight_decay": 5e-4, "lr_generator": 1e-3,
             "generator_weight_decay": 5e-4, "lr_milestones": (100, 200), "nz": 256, "generator": "mad_generator",
             "lambda0": 1.0, "lambda1": 1.0, "lambda2": 1.0, "lambda5": 1.0, "zeta0": 0.01, "zeta1": 0.1,
             "zeta2": 0.1, "delta": 20.0, "nu": 20.0, "conditional": False, "generator_bn_eps": 0.1,
             "generator_align_corners": True}                                      # P:mad Tables 5-8
CMI = {"batch_size": 256, "epochs": 200, "iters_per_epoch": 80, "student_steps": 5, "generator_steps": 1,
       "lr_student": 0.1, "lr_generator": 1e-3, "generator": "cmi_large_generator"}  # C:CMI scripts
CIFAR_TEACHER = {"epochs": 160, "batch_size": 128, "lr": 0.1, "weight_decay": 5e-4,
                 "lr_milestones": (80, 120)}                                        # P:mad Table 4

EXPECTED = [
    # DFAD Table 2 (P:dfad Table 7, §4.1.2, App. A; C:DFAD README)
    ("dfad_table2", "DFAD", "mnist", "lenet", {"batch_size": 512, "lr_student": 0.01, "nz": 100, "ngf": 64,
                                                "epochs": 40, "iters_per_epoch": 50, "student_steps": 5,
                                                "lr_generator": 1e-3, "loss": "mae", "generator": "generator_a"}),
    ("dfad_table2", "DFAD", "cifar10", "resnet", {"batch_size": 256, "lr_student": 0.1, "weight_decay": 5e-4,
                                                  "nz": 256, "epochs": 500, "generator": "generator_a",
                                                  "lr_milestones": (99, 199, 299, 399)}),
    ("dfad_table2", "DFAD", "cifar100", "resnet", {"batch_size": 256, "lr_student": 0.1, "epochs": 500}),
    ("dfad_table2", "DFAD", "caltech101", "resnet", {"generator": "generator_b", "batch_size": 64,
                                                     "lr_student": 0.05, "weight_decay": 5e-4, "epochs": 300}),
    ("dfad_table2", "DAFL", "mnist", "lenet", {"batch_size": 512, "nz": 100, "lr_generator": 0.2, "epochs": 200,
                                               "lambda_oh": 1.0, "lambda_ie": 5.0, "lambda_a": 0.1}),
    ("dfad_table2", "DAFL", "cifar10", "resnet", {"batch_size": 256, "epochs": 500, "nz": 1000,
                                                  "lambda_oh": 0.05, "lambda_a": 0.01}),
    ("dfad_table2", "DAFL", "cifar100", "resnet", {"lambda_oh": 0.5, "lambda_ie": 20.0, "lambda_a": 0.1}),
    ("dfad_table2", "DAFL", "caltech101", "resnet", {"batch_size": 64, "epochs": 500}),
    ("dfad_table2", "KD-REL", "mnist", "lenet", {"transfer": "related:usps"}),
    ("dfad_table2", "KD-REL", "cifar10", "resnet", {"transfer": "related:cifar100", **CIFAR_TEACHER}),
    ("dfad_table2", "KD-UNR", "caltech101", "resnet", {"transfer": "unrelated:svhn", "epochs": 150}),
    ("dfad_table2", "RANDOM", "cifar100", "resnet", {"transfer": "noise"}),
    ("dfad_table2", "Teacher", "cifar10", "resnet", CIFAR_TEACHER),
    ("dfad_table2", "Teacher", "caltech101", "resnet", {"epochs": 150, "batch_size": 128, "lr": 0.1,
                                                        "lr_milestones": ()}),   # C:DFAD README
    # MAD Tables 1 and 2 (P:mad Tables 4-8)
    ("mad_table2", "MAD", "cifar10", "wrn", {**MAD_CIFAR, "student_steps": 60, "ema": True, "alpha": 0.95,
                                             "memory_size": 0}),
    ("mad_table2", "ABM", "cifar100", "wrn", {**MAD_CIFAR, "student_steps": 60, "ema": False, "memory_size": 0}),
    ("mad_table2", "DFKD-Mem", "cifar10", "wrn", {**MAD_CIFAR, "ema": False, "memory_size": 8192}),
    ("mad_table2", "MAD", "tiny_imagenet", "resnet", {"student_steps": 90, "epochs": 500, "batch_size": 256}),
    ("mad_table2", "Teacher", "tiny_imagenet", "resnet", {**CIFAR_TEACHER, "batch_size": 256}),
    ("mad_table1", "MAD", "cifar10", "resnet", {**MAD_CIFAR, "student_steps": 30}),
    ("mad_table1", "Student", "cifar100", "wrn", CIFAR_TEACHER),
    ("mad_table1", "DAFL", "cifar10", "wrn", {**CMI, "nz": 512, "oh": 1.0, "act": 0.001, "balance": 20.0,
                                              "adv": 0.0, "criterion": "kl"}),
    ("mad_table1", "ZSKT", "cifar100", "resnet", {**CMI, "nz": 256, "adv": 1.0, "oh": 0.0, "criterion": "kl"}),
    ("mad_table1", "DFAD", "cifar10", "resnet", {**CMI, "nz": 256, "adv": 1.0, "criterion": "l1"}),
    ("mad_table1", "ZSKT (own code)", "cifar10", "wrn", {"batch_size": 128, "student_steps": 10, "at_beta": 250.0,
                                                         "lr_student": 2e-3, "epochs": 100, "iters_per_epoch": 800}),
]


@pytest.fixture(scope="module")
def plan():
    return load_plan("dfkd_small", "paper")


def resolved(plan, experiment, label, dataset, pair):
    jobs = [j for j in plan.runs if (j.experiment, j.label, j.spec.dataset, j.pair) == (experiment, label, dataset, pair)]
    assert jobs, f"{experiment} has no {label} run on {dataset} {pair}"
    assert len({j.spec.params for j in jobs}) == 1, "every seed must share the settings"
    return jobs[0].spec


@pytest.mark.parametrize("experiment,label,dataset,pair,expected", EXPECTED,
                         ids=[f"{e[0]}:{e[1]}:{e[2]}:{e[3]}" for e in EXPECTED])
def test_paper_profile_uses_the_papers_values(plan, experiment, label, dataset, pair, expected):
    config = resolved(plan, experiment, label, dataset, pair).config
    wrong = {k: (config.get(k), v) for k, v in expected.items() if config.get(k) != v}
    assert not wrong, f"(ours, paper's): {wrong}"


def test_paper_nets_and_one_teacher_per_dataset_and_pair(plan):
    spec = resolved(plan, "mad_table2", "MAD", "tiny_imagenet", "resnet")
    assert (spec.teacher.student, spec.student) == ("resnet34_tiny", "resnet18_tiny")
    assert {s.seed for s in (j.spec.teacher for j in plan.runs if j.spec.teacher)} == {0}
    assert resolved(plan, "dfad_table2", "DFAD", "caltech101", "resnet").student == "resnet18_in128"


def test_the_grid_holds_each_tables_cells(plan):
    cells = {(j.experiment, j.label, j.spec.dataset) for j in plan.runs}
    dfad = {(lab, ds) for e, lab, ds in cells if e == "dfad_table2"}
    assert len(dfad) == 7 * 4  # DFAD Table 2: 7 rows x 4 datasets
    mad1 = {(lab, ds) for e, lab, ds in cells if e == "mad_table1"}
    assert ("DFAD", "tiny_imagenet") not in mad1  # MAD Table 1 prints no DFAD TinyImageNet number
    assert ("Student", "tiny_imagenet") in mad1 and ("MAD", "tiny_imagenet") in mad1
    assert not any(ds == "mnist" for e, _, ds in cells if e.startswith("mad"))


def test_a_paper_profile_refuses_another_datasets_defaults(tmp_path):
    import yaml

    from bench.plan.grid import suite_path

    doc = yaml.safe_load(suite_path("dfkd_small").read_text())
    del doc["profiles"]["paper"]["dataset_params"]["tiny_imagenet"]["mad"]
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(UserError, match=r"method 'mad' has no 'tiny_imagenet' settings.*student_steps, epochs"):
        load_plan(str(path), "paper")
