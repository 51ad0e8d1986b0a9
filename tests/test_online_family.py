"""The online family (AFD, DML, ONE, online KD, vanilla): its pure pieces against hand
values, AFD's two-optimizer step, DML's recompute, ONE's gate, and a learning test each
on the embedded digits."""
from __future__ import annotations

import math
import re

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import methods.afd as afd_module
from bench.context import RunContext
from bench.errors import UserError
from bench.plan.grid import load_plan
from bench.nets import build_classifier
from bench.families.online import Outputs, average_ensemble, batch_stats_frozen, cohort_accuracy, cyclic_peer
from bench.results.store import Store
from baselines.one import OneNet, rampup
from tests.conftest import make_spec, run, run_cli
from bench.data.examples import make_image_folder

PAIR = ["resnet8_half", "resnet8_half"]


def test_cyclic_peers_follow_one_to_k_and_back():
    assert [cyclic_peer(k, 2) for k in range(2)] == [1, 0]          # two nets learn from each other
    assert [cyclic_peer(k, 3) for k in range(3)] == [2, 0, 1]       # 1 -> 2 -> 3 -> 1


def test_one_rampup_matches_its_sigmoid_schedule():
    assert rampup(0, 80) == pytest.approx(math.exp(-5))
    assert rampup(40, 80) == pytest.approx(math.exp(-1.25))
    assert rampup(80, 80) == rampup(300, 80) == 1.0
    assert rampup(0, 0) == 1.0


class Fixed(nn.Module):
    """A cohort whose outputs are given logits (for the metrics)."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        z = [t[x.long().flatten()] for t in self.logits]
        return Outputs(z, [], average_ensemble(z))


def test_cohort_accuracy_per_net_average_and_softmax_ensemble():
    y = torch.tensor([0, 0, 1, 1])
    net1 = torch.tensor([[2.0, 0], [2, 0], [2, 0], [0, 2]])     # 3/4 right
    net2 = torch.tensor([[0, 9.0], [0, 1], [0, 1], [0, 1]])     # 2/4 right
    # mean softmax: sample 0 -> 1 (net2's 9 outweighs), 1 -> 0, 2 -> 0, 3 -> 1: two of four right
    x = torch.arange(4.0)[:, None]
    batches = [(x[:3], y[:3]), (x[3:], y[3:])]
    got = cohort_accuracy(Fixed([net1, net2]), batches)
    # net1 predicts 0, 0, 0, 1 and net2 1, 1, 1, 1: they agree on the last image only
    assert got == {"acc_net1": 0.75, "acc_net2": 0.5, "acc_avg": 0.625, "acc_ens": 0.5, "agreement": 0.25}
    assert cohort_accuracy(Fixed([net1, net2]), batches, members=(0,))["acc_avg"] == 0.75


def test_average_ensemble_is_the_log_of_the_mean_softmax():
    a, b = torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 3.0]])
    expected = ((F.softmax(a, 1) + F.softmax(b, 1)) / 2).log()
    assert torch.allclose(average_ensemble([a, b]), expected)


def test_frozen_batch_statistics_leave_running_stats_alone():
    net = build_classifier("resnet8_half", 10, 3, 0).train()
    bn = net.stem[1]
    before = bn.running_mean.clone()
    with torch.no_grad(), batch_stats_frozen(net):
        net(torch.randn(8, 3, 32, 32))
    assert torch.equal(bn.running_mean, before) and bn.momentum == 0.1
    net(torch.randn(8, 3, 32, 32))
    assert not torch.equal(bn.running_mean, before)


def test_one_gate_weighs_branches_on_a_shared_trunk():
    nets = [build_classifier("resnet8_half", 10, 3, s) for s in range(3)]
    one = OneNet(nets, (3, 32, 32)).train()
    x = torch.randn(6, 3, 32, 32)
    out = one(x)
    gate = one.gate(one.trunk(x))
    assert gate.shape == (6, 3) and torch.allclose(gate.sum(1), torch.ones(6))
    assert torch.allclose(out.ensemble, sum(gate[:, i:i + 1] * out.logits[i] for i in range(3)), atol=1e-6)
    shared = sum(p.numel() for p in one.trunk.parameters())
    assert sum(p.numel() for p in one.parameters()) < 3 * sum(p.numel() for p in nets[0].parameters()) - shared


def online_suite(tmp_path, nets: str, methods: str, tail: str = "") -> str:
    """A one-experiment suite file on digits with the pair ``nets``; its path."""
    suite = tmp_path / "s.yaml"
    suite.write_text(f"""
name: s
profiles:
  quick: {{datasets: [digits], seeds: [0], pairs: {{digits: {{nets: {nets}}}}}}}
experiments:
  - {{id: e, methods: {methods}}}
{tail}""")
    return str(suite)


def test_one_refuses_different_architectures_when_the_suite_is_read(tmp_path):
    with pytest.raises(UserError, match="ONE shares its lower layers"):
        load_plan(online_suite(tmp_path, "[resnet8_half, resnet8]", "[{method: one}]"), "quick")


def afd_update(tmp_path, monkeypatch, **params):
    """AFD's per-batch update and its players, captured from a digits run before training."""
    captured = {}
    monkeypatch.setattr(afd_module, "train_online",
                        lambda ctx, cfg, cohort, update, scheds, **kw: captured.update(
                            cohort=cohort, update=update, **kw) or {})
    spec = make_spec("afd", "resnet8_half", {"nets": ["resnet8_half", "resnet8"], **params})
    ctx = RunContext(spec, Store(tmp_path / "r"), tmp_path, torch.device("cpu"), show_progress=False)
    afd_module.afd(ctx, afd_module.AFDConfig(**{**spec.config, "nets": tuple(spec.config["nets"])}))
    return captured, ctx.data.x_train[:32], ctx.data.y_train[:32]


def snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def changed(module: nn.Module, before: dict[str, torch.Tensor]) -> set[str]:
    """Parameters that moved by more than float dust (a 1e-30 step moves a zero by 1e-30)."""
    return {k for k, v in module.named_parameters() if not torch.allclose(v, before[k], rtol=0, atol=1e-12)}


def test_afd_adversarial_step_moves_only_feature_extractors_transfer_and_discriminators(tmp_path, monkeypatch):
    """SGD at lr 1e-30: what moves is Adam's doing. The classifiers (fc) are outside L_G and stay."""
    got, x, y = afd_update(tmp_path, monkeypatch, lr=1e-30, weight_decay=0.0, adv_lr=1e-2)  # SGD too small to move a float
    cohort, discs, transfers = got["cohort"], got["discs"], got["transfers"]
    nets_before, d_before, t_before = snapshot(cohort), snapshot(discs), snapshot(transfers)
    losses = got["update"](x, y, 0.0)
    moved = changed(cohort, nets_before)
    assert moved and not any(".fc." in k for k in moved)
    assert any(k.startswith("nets.0.stages") for k in moved) and any(k.startswith("nets.1.stages") for k in moved)
    assert changed(discs, d_before) and changed(transfers, t_before)   # net 1 (32 ch) -> net 2 (64 ch)
    assert set(losses) == {"loss", "loss_g", "loss_d"} and all(math.isfinite(v) for v in losses.values())


def test_afd_logit_step_alone_moves_the_nets_not_the_discriminators(tmp_path, monkeypatch):
    got, x, y = afd_update(tmp_path, monkeypatch, adv_lr=1e-30, adv_weight_decay=0.0)
    cohort, discs = got["cohort"], got["discs"]
    nets_before, d_before = snapshot(cohort), snapshot(discs)
    got["update"](x, y, 0.0)
    assert any(".fc." in k for k in changed(cohort, nets_before))
    assert not changed(discs, d_before)


def test_afd_needs_feature_maps_of_one_size(tmp_path):
    spec = make_spec("afd", "resnet8_half", {"nets": ["resnet8_half", "lenet5"], "epochs": 1})
    ctx = RunContext(spec, Store(tmp_path / "r"), tmp_path, torch.device("cpu"), show_progress=False)
    with pytest.raises(UserError, match="one spatial size"):
        afd_module.afd(ctx, afd_module.AFDConfig(**{**spec.config, "nets": tuple(spec.config["nets"])}))


LEARN = {"epochs": 3, "batch_size": 32, "lr": 0.05, "lr_milestones": [2], "nets": PAIR}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return tmp_path_factory.mktemp("online")


@pytest.mark.slow
@pytest.mark.parametrize("method,params", [
    ("vanilla", {}), ("dml", {}), ("kd_online", {}), ("one", {"rampup_epochs": 1.0}),
    ("afd", {"adv_milestones": [2]}), ("afd", {"nets": ["resnet8_half"] * 3, "adv_milestones": [2]}),
])
def test_online_methods_learn_digits(results, method, params):
    summary = run(make_spec(method, "resnet8_half", {**LEARN, **params}), results)
    k = len(params.get("nets", PAIR))
    assert all(summary[f"acc_net{i + 1}"] > 0.6 for i in range(k)), summary   # chance is 0.1
    assert summary["acc_ens"] > 0.6 and summary["acc_avg"] == pytest.approx(
        sum(summary[f"acc_net{i + 1}"] for i in range(k)) / k)


@pytest.mark.slow
@pytest.mark.parametrize("method,params", [
    ("dml", {}), ("kd_online", {}), ("one", {"rampup_epochs": 1.0}), ("afd", {"adv_milestones": [2]}),
])
def test_peer_distillation_makes_the_nets_agree_more_than_nets_trained_alone(results, method, params):
    """Each online method's own term pulls the peers' predictions together: switched off, the
    nets train as vanilla's do, from the same weights on the same batches, and agree as much.
    The runs are the learning test's (cached in the module's results)."""
    alone = run(make_spec("vanilla", "resnet8_half", LEARN), results)
    together = run(make_spec(method, "resnet8_half", {**LEARN, **params}), results)
    # measured, seed 0 (seed 1): vanilla 0.78 (0.83); DML 0.84 (0.89), online KD 0.90 (0.88),
    # ONE 0.94 (0.92), AFD 0.85 (0.88)
    assert together["agreement"] > alone["agreement"] + 0.03, (together["agreement"], alone["agreement"])


@pytest.mark.slow
def test_offline_student_learns_from_a_frozen_teacher(results):
    teacher = make_spec("teacher", "resnet8_half", {"epochs": 3, "batch_size": 32, "lr": 0.05, "lr_milestones": [2]})
    run(teacher, results)
    spec = make_spec("afd_offline", "resnet8_half", LEARN, teacher)
    summary = run(spec, results)
    assert summary["acc_net2"] == pytest.approx(summary["teacher_acc"])   # the teacher did not move
    assert summary["acc_net1"] > 0.6
    assert math.isnan(float(summary.get("acc_avg", "nan")))   # a student and its teacher: no "2 Net Avg"


@pytest.mark.slow
def test_afd_cifar100_smoke_suite_writes_every_table_with_gains_and_averages(dirs):
    out = run_cli("--suite", "afd_cifar100", "--profile", "smoke", "--results-dir", str(dirs["results"]),
                  "--tables-dir", str(dirs["tables"]))
    assert out.returncode == 0, out.stderr[-3000:]
    for k in range(1, 6):
        assert (dirs["tables"] / f"afd_table{k}.md").exists()
    table3 = (dirs["tables"] / "afd_table3.md").read_text()
    assert re.search(r"\| AFD \| [0-9.]+ \([+-][0-9.]+\) \|", table3)   # the gain over Vanilla
    assert re.search(r"\| Vanilla \| [0-9.]+ \|", table3)                 # ... not on Vanilla itself
    table4 = pd.read_csv(dirs["tables"] / "afd_table4.csv")
    average = table4[table4["column"] == "Average Net1"].set_index("label")["mean"]
    single = table4[table4["column"] == "small+large Net1"].set_index("label")["mean"]
    assert average.equals(single)   # one pair: its average is itself
    table1 = pd.read_csv(dirs["tables"] / "afd_table1.csv").set_index(["label", "column"])
    assert table1.loc[("L1+KD-offline", "small-x2 2 Net Avg"), "n"] == 0   # no "2 Net Avg" offline
    assert "AFD >= DML - 0.005" in (dirs["tables"] / "report.md").read_text()


def test_afd_cifar100_paper_profile_lists_tables_1_to_5():
    out = run_cli("--suite", "afd_cifar100", "--profile", "paper", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "392 distinct runs: 2 teachers and pretrained players, 390 others" in out.stdout
    assert "resnet20+wrn28_10" in out.stdout and "wrn28_2-x3" in out.stdout


# ------------------------------------------------------------------ ImageNet (Table 6): streamed folders
def test_streamed_batches_do_not_depend_on_the_worker_count(tmp_path, monkeypatch):
    from bench.data.stream import imagenet_folders

    data = imagenet_folders(make_image_folder(tmp_path), 32)
    assert len(data.train) == 12 and data.y_test.tolist() == [0, 0, 1, 1]
    order = torch.randperm(12, generator=torch.Generator().manual_seed(1))
    batches = {}
    for workers in ("0", "2"):
        monkeypatch.setenv("BENCH_LOADER_WORKERS", workers)
        batches[workers] = list(data.train_epoch(order, 0, seed=3, epoch=1, batch_size=5))
    assert [b.shape for b in batches["0"]] == [(5, 3, 32, 32), (5, 3, 32, 32), (2, 3, 32, 32)]
    assert all(torch.equal(a, b) for a, b in zip(batches["0"], batches["2"]))
    resumed = list(data.train_epoch(order, 5, seed=3, epoch=1, batch_size=5))   # a resume at batch 2
    assert torch.equal(resumed[0], batches["0"][1])


def test_pretrained_weights_come_from_the_local_cache_or_a_clear_error(tmp_path, monkeypatch):
    from bench.nets.weights import pretrained_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(UserError, match="pretrained weights not found at .*resnet18-f37072fd.pth"):
        pretrained_file("resnet18_in64")
    with pytest.raises(UserError, match="'resnet32' has no published ImageNet weights"):
        pretrained_file("resnet32")
    source = build_classifier("resnet18_in64", 1000, 3, 1)
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(source.net.state_dict(), tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    net = build_classifier("resnet18_in64", 1000, 3, 0)
    net.load_pretrained(pretrained_file("resnet18_in64"))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), source.state_dict().values()))


def test_missing_pretrained_weights_stop_the_sweep_up_front_with_exit_2(dirs):
    root = make_image_folder(dirs["tmp"] / "data")
    out = run_cli("--suite", "afd_imagenet", "--profile", "smoke", "--data-root", str(root), "--set",
                  "vanilla.pretrained=true", "--results-dir", str(dirs["results"]),
                  env={"TORCH_HOME": str(dirs["tmp"] / "torch")})
    assert out.returncode == 2 and "pretrained weights not found at" in out.stderr
    assert "Traceback" not in out.stderr and not (dirs["results"] / "runs").exists()


@pytest.mark.slow
def test_afd_imagenet_smoke_streams_its_generated_folder_end_to_end_without_data(dirs):
    out = run_cli("--suite", "afd_imagenet", "--profile", "smoke",
                  "--results-dir", str(dirs["results"]), "--tables-dir", str(dirs["tables"]))
    assert out.returncode == 0, out.stderr[-3000:]
    table = pd.read_csv(dirs["tables"] / "afd_table6.csv")
    assert set(table["label"]) == {"DML", "AFD", "Vanilla"} and (table["n"] == 1).all()
    assert set(table["column"]) == {"resnet18+resnet34 Net1", "resnet18+resnet34 Net2", "resnet18+resnet34 Ens"}
    assert table.set_index("label").loc["Vanilla", "mean"].tolist() == [0.0] * 3   # 1,000-way heads, untrained
    assert list((dirs["tables"] / "figures").glob("afd_table6*.png"))


def test_afd_imagenet_paper_profile_is_table_6_at_224_from_pretrained_nets():
    plan = load_plan("afd_imagenet", "paper")
    assert {j.label for j in plan.runs} == {"DML", "AFD", "Vanilla"}
    for job in plan.runs:
        cfg = job.spec.config
        assert cfg["nets"] == ("resnet18_in224", "resnet34_in224") and cfg["pretrained"] and cfg["epochs"] == 30
    assert dict(next(j for j in plan.runs if j.label == "Vanilla").spec.config)["train"] is False


@pytest.mark.parametrize("edit,message", [
    ("gain: {over: Vanila}", "gain.over: 'Vanila' is not a row of the table"),
    ("average: [x]", "average: the name of the averaged column"),
])
def test_table_options_naming_nothing_are_refused(tmp_path, edit, message):
    tail = f"tables:\n  - {{id: t, experiment: e, cols: pair, metrics: {{acc_avg: 2 Net Avg}}, {edit}}}\n"
    suite = online_suite(tmp_path, "[resnet8_half, resnet8_half]", "[{method: vanilla}, {method: dml}]", tail)
    with pytest.raises(UserError, match=re.escape(message)):
        load_plan(suite, "quick")


def test_a_claim_about_a_header_the_table_lacks_is_refused(tmp_path):
    tail = ("tables:\n  - {id: t, experiment: e, cols: pair, metrics: {acc_avg: 2 Net Avg}}\n"
            "claims:\n  - {claim: \"DML > Vanilla\", table: t, metric: 3 Net Avg}\n")
    suite = online_suite(tmp_path, "[resnet8_half, resnet8_half]", "[{method: vanilla}, {method: dml}]", tail)
    with pytest.raises(UserError, match="'3 Net Avg' is not a metric header of table 't'"):
        load_plan(suite, "quick")


def test_channels_last_gives_one_step_the_same_loss_and_gradients_to_float_noise():
    """NHWC nets and batches (the online family's default, for oneDNN's speed) against NCHW:
    the same arithmetic in another summation order."""
    torch.manual_seed(0)
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        torch.manual_seed(1)  # the gate's initial weights
        model = OneNet([build_classifier("resnet8_half", 10, 3, k) for k in range(2)], (3, 32, 32))
        model.to(memory_format=layout).train()
        out = model(x.contiguous(memory_format=layout))
        loss = sum(F.cross_entropy(z, y) for z in out.logits) + F.cross_entropy(out.ensemble, y)
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_a.item() == pytest.approx(loss_b.item(), rel=1e-5)
    # each gradient within 1% of its norm, or 1e-5 absolute for the gate's bias, whose gradient
    # is zero but for noise (a batch norm follows it). Measured: at most 3e-5 of the norm on one
    # host, 1.5e-3 on another (oneDNN picks its kernels by CPU); a layout bug (features flattened
    # in NHWC order, a wrong permute) moves a gradient by the order of its norm.
    for ga, gb in zip(grads_a, grads_b):
        assert (ga - gb).norm() <= 1e-2 * ga.norm() + 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("method,params", [("one", {"rampup_epochs": 1.0})])  # the family's code: one method
def test_channels_last_is_a_config_value_that_makes_its_own_runs(tmp_path, method, params):
    """The layout is part of the spec (its own run id, its own cache entry); after an epoch
    training the float noise grows as a change of threads makes it grow, and both runs learn alike."""
    specs = [make_spec(method, "resnet8_half", {**LEARN, **params, "channels_last": flag}) for flag in (True, False)]
    assert specs[0].run_id != specs[1].run_id
    nhwc, nchw = (run(spec, tmp_path) for spec in specs)
    assert nhwc["acc_net1"] > 0.6 and nchw["acc_net1"] > 0.6   # chance is 0.1
    assert abs(nhwc["acc_avg"] - nchw["acc_avg"]) < 0.05, (nhwc["acc_avg"], nchw["acc_avg"])
