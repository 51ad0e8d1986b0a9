"""Every paper-profile net, generator and method for a couple of steps on generated data
in the real formats (IDX, CIFAR pickles, h5, image folders), so shape errors cannot hide."""
from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.io import savemat

from bench.plan.grid import load_plan
from bench.run.execution import Execution
from bench.run.runner import execute
from bench.results.store import Store
from bench.spec import RunSpec, freeze
from tests.conftest import run
from tests.test_data import make_idx_folder, write_jpegs

TINY_BUDGET = {"epochs": 1, "iters_per_epoch": 2, "batch_size": 2, "student_steps": 1,
               "generator_steps": 1, "pretrain_steps": 0}


def make_data_root(root: Path) -> Path:
    make_idx_folder(root / "MNIST" / "raw", n_train=20, n_test=10)
    make_idx_folder(root / "FashionMNIST" / "raw", n_train=20, n_test=10)
    (root / "usps").mkdir(parents=True)
    with h5py.File(root / "usps" / "usps.h5", "w") as h5:
        for split in ("train", "test"):
            h5.create_dataset(f"{split}/data", data=np.random.rand(20, 256).astype(np.float32))
            h5.create_dataset(f"{split}/target", data=np.arange(20) % 10)
    rng = np.random.default_rng(0)
    c10 = root / "cifar-10-batches-py"
    c10.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (c10 / name).write_bytes(pickle.dumps({"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                                               "labels": [0, 1, 2, 3]}))
    c100 = root / "cifar-100-python"
    c100.mkdir()
    for name in ("train", "test"):
        (c100 / name).write_bytes(pickle.dumps({"data": rng.integers(0, 256, (8, 3072), dtype=np.uint8),
                                                "fine_labels": list(range(8))}))
    for name in ("accordion", "airplanes"):
        write_jpegs(root / "caltech101" / "101_ObjectCategories" / name, 3)
    (root / "svhn").mkdir()
    for name in ("train_32x32.mat", "test_32x32.mat"):
        savemat(root / "svhn" / name, {"X": rng.integers(0, 256, (32, 32, 3, 6), dtype=np.uint8),
                                       "y": np.arange(1, 7).reshape(-1, 1)})
    tiny = root / "tiny-imagenet-200"
    tiny.mkdir()
    (tiny / "wnids.txt").write_text("n01\nn02")
    for w in ("n01", "n02"):
        write_jpegs(tiny / "train" / w / "images", 3, 64, ".JPEG")
    write_jpegs(tiny / "val" / "images", 2, 64)
    (tiny / "val" / "val_annotations.txt").write_text("0.jpg\tn01\t0\t0\t1\t1\n1.jpg\tn02\t0\t0\t1\t1\n")
    return root


def shrink(spec: RunSpec) -> RunSpec:
    """The same spec with a budget of a couple of steps (architectures untouched)."""
    params = spec.config
    for key, value in TINY_BUDGET.items():
        if key in params:
            params[key] = value
    if params.get("memory_size"):
        params["memory_size"] = 8
    teacher = shrink(spec.teacher) if spec.teacher else None
    return RunSpec(spec.method, spec.dataset, 0, spec.student, freeze(params), teacher)


def distinct_paper_specs() -> list[RunSpec]:
    """One spec per (method, nets, generator) of the paper profile."""
    seen = {}
    for job in load_plan("dfkd_small", "paper").runs:
        s = job.spec
        cfg = s.config
        key = (s.method, s.student, s.teacher.student if s.teacher else None, cfg.get("generator"),
               cfg.get("transfer"), s.dataset if s.student in ("lenet5", "lenet5_half") else None)
        seen.setdefault(key, s)
    return list(seen.values())


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return make_data_root(tmp_path_factory.mktemp("data"))


@pytest.mark.slow
@pytest.mark.parametrize("spec", distinct_paper_specs(),
                         ids=lambda s: f"{s.method}-{s.dataset}-{s.student}-{s.config.get('generator', '')}")
def test_paper_profile_runs_two_steps(spec, data_root, tmp_path_factory):
    """Two steps must run to the end with finite losses on every paper net."""
    results = tmp_path_factory.getbasetemp() / "paper_results"
    small = shrink(spec)
    store = Store(results)
    if small.teacher and store.status(small.teacher.run_id) != "done":  # teachers shared by cases
        run(small.teacher, results, data_root)
    status = execute(small, Execution(results=results, data_root=data_root, threads=1), show_progress=False)
    summary = store.summary(small.run_id)
    assert status == "done", summary["error"]
    curve = store.curves([small.run_id])
    assert len(curve) >= 1 and curve.filter(like="loss").notna().all().all()
