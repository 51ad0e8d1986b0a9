"""Registry lookups and RunSpec / run_id stability."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bench.errors import UserError
from bench.registry import DATASETS, METHODS, NETS, Registry
from bench.spec import RunSpec, freeze


def test_registry_register_and_unknown_name_lists_choices():
    reg = Registry("thing")

    @reg.register("a", family="x")
    def a():
        return 1

    assert reg.get("a").obj is a and reg.get("a").meta["family"] == "x"
    with pytest.raises(UserError, match=r"unknown thing 'b'; accepted: a"):
        reg.get("b")
    with pytest.raises(ValueError):
        reg.register("a")(lambda: 2)


def test_builtin_registries_hold_the_papers_pieces():
    assert {"teacher", "kd", "dfad"} <= set(METHODS.names())
    assert {"lenet5", "lenet5_half", "cnn8", "cnn8_half", "generator_a"} <= set(NETS.names())
    assert {"digits", "mnist", "fashion_mnist", "usps", "cifar10", "cifar100"} <= set(DATASETS.names())
    for name in METHODS.names():
        assert "config" in METHODS.get(name).meta


def make_spec(lr: float = 0.01) -> RunSpec:
    teacher = RunSpec("teacher", "digits", 0, "cnn8", freeze({"epochs": 3, "lr": 0.05}))
    return RunSpec("kd", "digits", 1, "cnn8_half", freeze({"lr": lr, "transfer": "original",
                                                           "lr_milestones": [5, 10]}), teacher)


def test_run_id_is_stable_and_content_addressed():
    spec = make_spec()
    assert spec.run_id == make_spec().run_id
    assert spec.run_id != make_spec(lr=0.02).run_id
    assert spec.run_id != RunSpec.from_dict({**spec.to_dict(), "seed": 2}).run_id
    assert RunSpec.from_dict(spec.to_dict()) == spec
    # the hash is of canonical JSON: fixed across machines and Python versions
    assert spec.run_id == "a5af8d1321f35824", spec.run_id


def test_run_id_is_the_same_in_another_process():
    code = ("from tests.test_registry_spec import make_spec; print(make_spec().run_id)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONHASHSEED": "123", "PATH": ""}, cwd=str(__import__("pathlib").Path(__file__).parents[1]))
    assert out.stdout.strip() == make_spec().run_id
