"""MAD Table 2's large columns (`dfkd_large`): streamed datasets in their official layouts,
AlexNet, MAD's large-image generator, teachers loaded from weights, the large-scale
settings, and SLURM arrays grouped by what each run needs."""
from __future__ import annotations

import re

import pandas as pd
import pytest
import torch

from bench.results.validity import RunEnvironment, run_state
from bench.data.stream import food101_folders, imagenet_folders, places365_folders
from bench.errors import UserError
from bench.plan.grid import load_plan
from bench.nets import build_classifier
from bench.nets.generators import MADLargeGenerator, ResNetBlock
from bench.nets.weights import load_weights
from bench.registry import DATASETS
from bench.run.scheduler import levels, with_teachers
from bench.run.slurm import arrays_by_resources, resources, with_cli
from bench.results.store import Store
from tests.conftest import make_spec, run, run_cli
from bench.data.examples import make_food101, make_image_folder, make_places365


@pytest.mark.parametrize("make,read,name,sizes", [
    (make_image_folder, imagenet_folders, "imagenet", (12, 4)),
    (make_places365, places365_folders, "places365", (8, 4)),
    (make_food101, food101_folders, "food101", (8, 4)),
])
def test_streamed_datasets_read_their_official_layouts(tmp_path, monkeypatch, make, read, name, sizes):
    monkeypatch.setenv("BENCH_LOADER_WORKERS", "0")
    with pytest.raises(UserError, match=f"dataset '{name}' not found \\(looked in: {re.escape(str(tmp_path))}"):
        read(tmp_path, 32)
    data = read(make(tmp_path), 32)
    assert (len(data.train), len(data.test)) == sizes
    assert sorted(set(data.y_train.tolist())) == [0, 1] and data.y_test.tolist() == [0, 0, 1, 1]
    x, y = next(data.test_batches(batch_size=3))
    assert x.shape == (3, 3, 32, 32) and y.tolist() == [0, 0, 1]
    first = next(data.train_epoch(torch.arange(len(data.train)), 0, seed=0, epoch=0, batch_size=2))
    assert first.shape == (2, 3, 32, 32) and first.abs().max() < 3  # ImageNet-normalised pixels


def test_alexnet_loads_torchvision_layout_weights_and_refuses_another_nets():
    net = build_classifier("alexnet", 101, 3, 0)
    logits, feat = net(torch.randn(2, 3, 224, 224), return_features=True)
    assert logits.shape == (2, 101) and feat.shape == (2, 4096)
    published = build_classifier("alexnet", 1000, 3, 1).net.state_dict()  # torchvision's key layout
    path = "/dev/shm/advkd_alexnet_test.pt"
    torch.save(published, path)
    load_weights(net, path)  # a 101-way head keeps its own weights, the rest is loaded
    assert torch.equal(net.net.features[0].weight, published["features.0.weight"])
    assert not torch.equal(net.net.classifier[6].weight[:101], published["classifier.6.weight"][:101])
    torch.save(build_classifier("resnet18_in64", 10, 3, 0).state_dict(), path)
    with pytest.raises(UserError, match="do not fit AlexNet: missing \\['features.0.weight'"):
        load_weights(net, path)


def test_mad_large_generator_follows_table_8c():
    gen = MADLargeGenerator(nz=256, ngf=16, img_size=256)
    blocks = [m for m in gen.body if isinstance(m, ResNetBlock)]
    assert [(b.body[2].in_channels, b.body[2].out_channels) for b in blocks] == [  # Table 8c
        (512, 512), (512, 256), (256, 128), (128, 64), (64, 32), (32, 16), (16, 16)]
    assert gen.project.out_features == 8192
    assert gen(torch.randn(2, 256)).shape == (2, 3, 256, 256)
    assert MADLargeGenerator(nz=8, ngf=1, img_size=224)(torch.randn(2, 8)).shape == (2, 3, 224, 224)


def test_a_teacher_loaded_from_weights_is_evaluated_published_and_stale_when_the_file_changes(tmp_path):
    trained = run(make_spec("teacher", "cnn8", {"epochs": 2, "batch_size": 64, "lr": 0.05}), tmp_path / "a")
    path = Store(tmp_path / "a").artefact(trained["run_id"], "model.pt")
    spec = make_spec("teacher", "cnn8", {"weights": str(path)})
    loaded = run(spec, tmp_path / "b")
    assert loaded["acc"] == trained["acc"] > 0.5  # the same weights, evaluated
    store = Store(tmp_path / "b")
    assert run_state(spec, store, RunEnvironment()).status == "done"
    weights = torch.load(path)
    weights["head.weight"] = weights["head.weight"] * 0  # someone replaced the file
    torch.save(weights, path)
    state = run_state(spec, store, RunEnvironment())
    assert state.status == "stale" and f"input file changed: {path.resolve()}" in state.reason


def test_warm_up_raises_the_lr_linearly_to_the_recipe_value(tmp_path):
    from bench.context import RunContext
    from bench.train import EpochRecipe, train_epochs

    spec = make_spec("teacher", "cnn8", {"epochs": 3, "batch_size": 600, "lr": 0.3, "warmup_epochs": 2})
    ctx = RunContext(spec, Store(tmp_path), ".", torch.device("cpu"), show_progress=False)
    model, seen, opts = ctx.net(), [], []

    def loss(batch):
        seen.append(opts[0].param_groups[0]["lr"])
        return model(batch.x).sum() * 0

    recipe = EpochRecipe(epochs=3, batch_size=600, lr=0.3, warmup_epochs=2)
    train_epochs(ctx, model, recipe, inputs=ctx.data.x_train, batch_loss=loss,
                 optimizer=lambda p: opts.append(torch.optim.SGD(p, lr=0.3)) or opts[0])
    per_epoch = len(seen) // 3
    assert seen == pytest.approx([0.3 * (k + 1) / (2 * per_epoch) for k in range(2 * per_epoch)] + [0.3] * per_epoch)


def test_dfkd_large_paper_profile_has_mads_large_dataset_settings():
    plan = load_plan("dfkd_large", "paper")
    cfg = {(j.label, j.spec.dataset): dict(j.spec.config) for j in plan.runs}
    assert {d for _, d in cfg} == {"imagenet", "places365", "food101"}
    for dataset, n_g, epochs, pgs in (("imagenet", 20, 6000, 200), ("places365", 10, 6000, 50), ("food101", 5, 4000, 50)):
        for label in ("ABM", "DFKD-Mem", "MAD"):
            c = cfg[(label, dataset)]
            assert (c["generator_steps"], c["epochs"], c["pretrain_steps"]) == (n_g, epochs, pgs)
            assert (c["student_optimizer"], c["lr_student"], c["student_steps"], c["batch_size"]) == ("adam", 1e-4, 150, 512)
            assert c["conditional"] and (c["lambda3"], c["lambda4"], c["lambda5"]) == (0.1, 0.1, 0.0)
            assert c["ema"] == (label == "MAD") and c["memory_size"] == (8192 if label == "DFKD-Mem" else 0)
    teachers = {s.dataset: dict(s.config) for s in with_teachers(plan.specs) if s.method == "teacher"}
    assert teachers["imagenet"]["weights"] == "torchvision" and teachers["food101"]["warmup_epochs"] == 5


def test_paper_profile_table_puts_mads_large_numbers_beside_ours(tmp_path):
    from bench.report.tables import write_tables
    from bench.results.provenance import spec_columns

    plan = load_plan("dfkd_large", "paper")
    store = Store(tmp_path)
    for job in plan.runs:
        train, test = DATASETS.get(job.spec.dataset).meta["official_sizes"]  # full sets: comparable
        store.write_summary(job.spec.run_id, {**spec_columns(job.spec), "acc_best": 0.5, "status": "done", "error": "",
                                              "train_size": train, "test_size": test})
    results, _ = write_tables(plan, store, tmp_path / "tables")
    paper = results[0].cells.set_index(["label", "dataset"])["paper"]
    assert paper[("MAD", "imagenet")] == pytest.approx(0.4548) and paper[("Teacher", "imagenet")] == pytest.approx(0.5652)
    assert paper[("ABM", "food101")] == pytest.approx(0.6037) and paper[("DFKD-Mem", "places365")] == pytest.approx(0.4238)


def test_slurm_groups_pick_resources_per_run_and_the_command_line_wins():
    plan = load_plan("dfkd_large", "paper")
    block = plan.slurm
    specs = with_teachers(plan.specs)
    named = {(s.method, s.dataset): resources(s, block) for s in specs}
    assert named[("teacher", "imagenet")][0] == "default" and named[("teacher", "food101")][0] == "large-teacher"
    assert named[("mad", "places365")] == ("large-distill", {**{k: v for k, v in block.items() if k != "groups"},
                                                            "gpus": 1, "cpus": 16, "mem_gb": 96, "time_min": 8640})
    arrays = arrays_by_resources(levels(specs), block)
    assert [(lv, g, m, len(s)) for lv, g, _, m, s in arrays] == [
        (0, "default", "teacher", 1), (0, "large-teacher", "teacher", 2),
        (1, "large-distill", "abm", 3), (1, "large-distill", "dfkd_mem", 3), (1, "large-distill", "mad", 3)]
    overridden = with_cli(block, {"time_min": 30, "gpus": None})
    assert {resources(s, overridden)[1]["time_min"] for s in specs} == {30}


def test_dry_run_shows_the_slurm_arrays_by_resource_group():
    out = run_cli("--suite", "dfkd_large", "--profile", "paper", "--dry-run", "--executor", "slurm")
    assert out.returncode == 0, out.stderr
    lines = out.stdout[out.stdout.index("SLURM arrays"):].splitlines()
    assert re.search(r"0\s+large-teacher\s+teacher\s+2\s+1\s+32\s+128\s+4320", "\n".join(lines))
    assert re.search(r"1\s+large-distill\s+mad\s+3\s+1\s+16\s+96\s+8640", "\n".join(lines))


@pytest.mark.parametrize("group,message", [
    ("{name: g, gpus: 2}", "missing required key 'when'"),
    ("{name: g, when: {datasets: [x]}}", "unknown key 'datasets'"),
    ("{name: g, when: {dataset: x}}", "when.dataset: expected a non-empty list"),
])
def test_bad_slurm_groups_are_refused_when_the_suite_is_read(tmp_path, group, message):
    text = open(load_plan("dfkd_large", "smoke").path).read()
    suite = tmp_path / "s.yaml"
    suite.write_text(text[:text.index("slurm:")] + f"slurm:\n  groups:\n    - {group}\n")
    with pytest.raises(UserError, match=re.escape(message)):
        load_plan(str(suite), "smoke")


@pytest.mark.slow
def test_dfkd_large_smoke_runs_teacher_abm_dfkd_mem_and_mad_without_data_on_its_generated_food101(dirs):
    out = run_cli("--suite", "dfkd_large", "--profile", "smoke", "--dataset", "food101",
                  "--results-dir", str(dirs["results"]), "--tables-dir", str(dirs["tables"]),
                  env={"BENCH_LOADER_WORKERS": "0"})
    assert out.returncode == 0, out.stderr[-3000:]
    table = pd.read_csv(dirs["tables"] / "mad_table2_large.csv")
    assert set(table["label"]) == {"Teacher", "ABM", "DFKD-Mem", "MAD"} and (table["n"] == 1).all()
    assert table["paper"].isna().all()  # smoke numbers are not put beside the paper's
    runs = pd.concat(pd.read_csv(p) for p in (dirs["results"] / "runs").glob("*/summary.csv"))
    students = runs[runs["method"] != "teacher"]
    assert len(students) == 3 and students["teacher_run_id"].nunique() == 1
    for run_id in students["run_id"]:
        curve = pd.read_csv(next((dirs["results"] / "runs" / run_id / "attempts").glob("*/curve.csv")))
        assert curve["epoch"].tolist() == [1, 2] and curve[["loss_g", "loss_s"]].notna().all().all()
    teacher = runs[runs["method"] == "teacher"]["run_id"].iloc[0]
    curve = pd.read_csv(next((dirs["results"] / "runs" / teacher / "attempts").glob("*/curve.csv")))
    assert curve["step"].iloc[-1] == 2  # 8 training images in batches of 4: two steps


def test_a_missing_teacher_weights_file_stops_the_sweep_up_front_with_exit_2(dirs):
    root = make_food101(dirs["tmp"] / "data")
    out = run_cli("--suite", "dfkd_large", "--profile", "smoke", "--dataset", "food101", "--data-root", str(root),
                  "--set", "teacher.weights=/nowhere/alexnet.pt", "--results-dir", str(dirs["results"]))
    assert out.returncode == 2 and "weights file /nowhere/alexnet.pt not found" in out.stderr
    assert "Traceback" not in out.stderr and not (dirs["results"] / "runs").exists()
